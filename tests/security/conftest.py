"""Fixtures of the security suite: certificates and a real TLS proxy before the dev server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.runtime.devserver import DevServer
from tests.security.pki import SERVER_NAME, CertificateAuthority, Issued
from tests.security.proxy import Nginx, nginx, nginx_missing


@dataclass(frozen=True)
class Pki:
    """The CA the proxy trusts, a second one it does not, and their certificates."""

    directory: Path
    ca: CertificateAuthority
    other_ca: CertificateAuthority
    server: Issued
    client: Issued
    foreign_client: Issued


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority(directory, "rtw-test-ca")
    other = CertificateAuthority(directory, "other-ca")
    return Pki(
        directory=directory,
        ca=ca,
        other_ca=other,
        server=ca.issue("server", common_name=SERVER_NAME, server=True),
        client=ca.issue("client", common_name="rtw-worker"),
        foreign_client=other.issue("foreign", common_name="rtw-worker"),
    )


@pytest.fixture(scope="session")
def proxy(
    dev_server: DevServer, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Nginx]:
    """nginx: an mTLS front (stream, client certificates of `pki.ca`) and an API-key front
    (gRPC, `Bearer key-1`), both before the session's dev server."""
    if (missing := nginx_missing()) is not None:
        pytest.skip(missing)
    with nginx(
        tmp_path_factory.mktemp("nginx"),
        dev_server.address,
        server=pki.server,
        client_cas=[pki.ca.ca],
        api_keys=["key-1"],
    ) as running:
        yield running


def tls_env(ca: Path, client: Issued | None = None, *, name: str = SERVER_NAME) -> dict[str, str]:
    """The documented TEMPORAL_TLS_* settings."""
    env = {"TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(ca), "TEMPORAL_TLS_SERVER_NAME": name}
    if client is not None:
        env["TEMPORAL_TLS_CLIENT_CERT_PATH"] = str(client.cert)
        env["TEMPORAL_TLS_CLIENT_KEY_PATH"] = str(client.key)
    return env
