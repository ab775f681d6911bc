"""Connect to Temporal from Settings: address, namespace, TLS/mTLS, API key, plugin."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from temporalio.client import Client
from temporalio.client import Interceptor as ClientInterceptor
from temporalio.converter import PayloadCodec
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig
from tenacity import (
    AsyncRetrying,
    before_sleep_log,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
)

from services.runtime.config import CodecSettings, TemporalSettings
from services.runtime.connect_errors import explain, is_refusal
from services.runtime.plugin import RtwPlugin

logger = logging.getLogger(__name__)

DEFAULT_LOCAL_ADDRESS = "localhost:7233"


class ConfigurationError(RuntimeError):
    """Settings that cannot work (a missing file, an unreadable key)."""


class TemporalAccessError(ConfigurationError):
    """The server (or a proxy before it) refused this client's certificate, name or key."""


def tls_config(settings: TemporalSettings) -> TLSConfig | bool:
    """Build the SDK TLS config from file paths (files are read, contents never logged)."""
    if not settings.tls_enabled:
        return False

    def read(path: Path | None, variable: str) -> bytes | None:
        if path is None:
            return None
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ConfigurationError(f"cannot read {variable} {path}: {exc.strerror}") from exc

    return TLSConfig(
        server_root_ca_cert=read(
            settings.tls_server_ca_cert_path, "TEMPORAL_TLS_SERVER_CA_CERT_PATH"
        ),
        client_cert=read(settings.tls_client_cert_path, "TEMPORAL_TLS_CLIENT_CERT_PATH"),
        client_private_key=read(settings.tls_client_key_path, "TEMPORAL_TLS_CLIENT_KEY_PATH"),
        domain=settings.tls_server_name,
    )


def payload_codec(settings: CodecSettings) -> PayloadCodec | None:
    """The encryption codec when a keys file is configured (its contents never logged)."""
    if settings.keys_file is None:
        return None
    # imported only when encryption is on (and never into a workflow sandbox)
    from services.runtime.codec import KEYS_FILE_VARIABLE, EncryptionCodec

    try:
        return EncryptionCodec.from_file(settings.keys_file)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read {KEYS_FILE_VARIABLE} {settings.keys_file}: {exc.strerror}"
        ) from exc
    except ValueError as exc:
        raise ConfigurationError(f"{KEYS_FILE_VARIABLE} {settings.keys_file}: {exc}") from exc


def _is_transient(exc: BaseException) -> bool:
    """Connection refused and the like: worth another try; bad settings and a refused
    certificate are not."""
    return (
        isinstance(exc, RuntimeError)
        and not isinstance(exc, ConfigurationError)
        and not is_refusal(exc)
    )


async def connect(
    settings: TemporalSettings,
    *,
    interceptors: Sequence[ClientInterceptor] = (),
    runtime: Runtime | None = None,
    retry_for_seconds: float = 0.0,
    tracing: bool = False,
    log_retries: bool = True,
) -> Client:
    """Connect a client that carries the rtw plugin.

    Args:
        settings: where and how to connect.
        interceptors: extra client interceptors (tracing), installed through the plugin.
        runtime: SDK runtime (metrics); the default runtime when None.
        retry_for_seconds: keep retrying a refused connection this long (workers starting
            before the server is up); 0 fails at once.
        tracing: install the OpenTelemetry interceptors (pass `Telemetry.enabled` from
            `services.runtime.telemetry.start_telemetry`, which installs the provider).
        log_retries: log a warning before each retry (the CLI turns this off: it prints
            one line of its own when the server stays unreachable).
    """
    address = settings.address or DEFAULT_LOCAL_ADDRESS
    try:
        api_key = settings.resolved_api_key()
    except OSError as exc:
        raise ConfigurationError(f"cannot read TEMPORAL_API_KEY_FILE: {exc.strerror}") from exc
    tls = tls_config(settings)
    plugin = RtwPlugin(
        interceptors=interceptors,
        tracing=tracing,
        codec=payload_codec(settings.codec),
        api_key_file=settings.api_key_file,
    )

    retrying = AsyncRetrying(
        stop=stop_after_delay(retry_for_seconds),
        wait=wait_exponential(multiplier=0.2, max=5),
        retry=retry_if_exception(_is_transient),
        before_sleep=before_sleep_log(logger, logging.WARNING if log_retries else logging.DEBUG),
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                return await Client.connect(
                    address,
                    namespace=settings.namespace,
                    api_key=api_key,
                    tls=tls,
                    plugins=[plugin],
                    runtime=runtime,
                )
    except RuntimeError as exc:
        if isinstance(exc, ConfigurationError) or (hint := explain(exc, settings)) is None:
            raise
        raise TemporalAccessError(f"cannot connect to {address}: {hint}") from exc
    raise AssertionError("unreachable")  # pragma: no cover
