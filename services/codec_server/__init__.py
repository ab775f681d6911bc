"""`rtw codec-server`: decrypts payloads for the Web UI and the temporal CLI."""

from services.codec_server.app import build_app
from services.codec_server.serve import serve
from services.codec_server.settings import CodecServerSettings

__all__ = ["CodecServerSettings", "build_app", "serve"]
