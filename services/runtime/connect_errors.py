"""Turn the SDK's transport errors into one line that names the setting to check."""

from __future__ import annotations

import re

from services.runtime.config import TemporalSettings

#: Certificate problems the SDK reports: retrying cannot help.
_REFUSAL = re.compile(r"InvalidCertificate|CertificateRequired|UnknownCA|BadCertificate")


def is_refusal(exc: BaseException) -> bool:
    """A certificate or name mismatch: retrying cannot help."""
    return bool(
        re.search(r"InvalidCertificate|CertificateRequired|UnknownCA|BadCertificate", str(exc))
    )


def explain(exc: BaseException, settings: TemporalSettings) -> str | None:
    """What to check for a failed connection, or None when it looks like a plain outage."""
    text = str(exc)
    name = settings.tls_server_name or "the host of TEMPORAL_ADDRESS"
    if "NotValidForName" in text:
        return (
            f"the server's TLS certificate is not valid for {name}: check "
            "TEMPORAL_TLS_SERVER_NAME (the name the certificate was issued for)"
        )
    if re.search(r"UnknownIssuer|BadSignature", text):
        return (
            "the server's TLS certificate is not signed by a CA this client trusts: check "
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH"
        )
    if re.search(r"(?i)401 Unauthorized|Unauthenticated|invalid api key|api key", text):
        return "the server refused the API key: check TEMPORAL_API_KEY_FILE (or TEMPORAL_API_KEY)"
    if settings.tls_enabled and re.search(
        r"(?i)broken pipe|connection reset|connection closed|error after connection|"
        r"CertificateRequired|UnknownCA|BadCertificate|handshake|unexpected eof|tls",
        text,
    ):
        if settings.tls_client_cert_path is None:
            return (
                "the server closed the TLS connection: it may require a client certificate; "
                "set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH"
            )
        return (
            "the server closed the TLS connection: it may not accept this client certificate; "
            "check that TEMPORAL_TLS_CLIENT_CERT_PATH (and its key) is issued by a CA it trusts"
        )
    return None
