"""Run the codec server under uvicorn until SIGTERM/SIGINT (uvicorn drains open requests)."""

from __future__ import annotations

import logging
import signal
from types import FrameType

import jwt
import uvicorn

from services.codec_server.app import build_app
from services.codec_server.auth import Authenticator, JwtPolicy, parse_tokens
from services.codec_server.settings import CodecServerSettings
from services.runtime.codec import EncryptionCodec
from services.runtime.connection import ConfigurationError, payload_codec
from services.runtime.watched_file import WatchedFile

logger = logging.getLogger(__name__)

#: Seconds open requests get to finish after SIGTERM.
GRACEFUL_SECONDS = 10


def serve(settings: CodecServerSettings) -> None:
    """Serve until stopped; ConfigurationError (exit 2 in the CLI) when keys or tokens are
    missing or unreadable."""
    codec = payload_codec(settings.codec)
    if not isinstance(codec, EncryptionCodec):
        raise ConfigurationError("RTW_CODEC_KEYS_FILE must be set: the codec server needs keys")
    if settings.token_file is None and settings.jwks_url is None:
        raise ConfigurationError(
            "set RTW_CODEC_SERVER_TOKEN_FILE and/or RTW_CODEC_SERVER_JWKS_URL: the codec server "
            "never runs without auth"
        )
    tokens = None
    if settings.token_file is not None:
        try:
            tokens = WatchedFile(settings.token_file, parse_tokens)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read RTW_CODEC_SERVER_TOKEN_FILE {settings.token_file}: {exc.strerror}"
            ) from exc
        except ValueError as exc:
            raise ConfigurationError(f"RTW_CODEC_SERVER_TOKEN_FILE: {exc}") from exc
    policy = None
    if settings.jwks_url is not None and settings.jwt_audience is not None:
        policy = JwtPolicy(
            jwks=jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=300, timeout=5),
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
        )
    app = build_app(
        codec,
        Authenticator(tokens=tokens, jwt_policy=policy),
        cors_origins=settings.cors_origins,
        max_body_bytes=settings.max_body_bytes,
    )
    logger.info(
        "codec server on %s:%s (origins: %s)",
        settings.host,
        settings.port,
        ", ".join(settings.cors_origins),
    )
    # uvicorn drains, then re-raises the signal it caught to the handler found at start:
    # make that an exit 0, as for the workers.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        access_log=False,  # paths only would be safe, but keep request lines out of logs
        log_config=None,  # the process's logging (JSON or console) applies
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        server_header=False,
    )


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
