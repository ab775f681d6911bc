"""The rtw plugin: cross-cutting client and worker setup in one place."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.client import Interceptor as ClientInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.plugin import SimplePlugin

PLUGIN_NAME = "rtw.RtwPlugin"


class RtwPlugin(SimplePlugin):
    """Pydantic data converter plus the interceptors every rtw client and worker shares.

    Used by the client; workers built from that client inherit it, so both sides always
    agree on the payload format and on tracing.
    """

    def __init__(self, *, interceptors: Sequence[ClientInterceptor] = ()) -> None:
        super().__init__(
            PLUGIN_NAME,
            data_converter=pydantic_data_converter,
            interceptors=list(interceptors) or None,
        )
