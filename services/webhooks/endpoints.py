"""Where outbound webhooks go: `RTW_WEBHOOK_ENDPOINTS_FILE` (a mounted Secret), re-read when
it changes.

```json
{"endpoints": [
  {"id": "shop", "url": "https://shop.example/rtw/events",
   "events": ["order.*", "payment.captured"], "secret": "whsec_…"}
]}
```

`events` are type patterns (`*` matches any part: `order.*`, `*`). `secret` signs each
delivery (`Rtw-Signature`, the scheme of the inbound carrier webhooks). A target on a
private, loopback or link-local address is refused unless the endpoint says
`"allow_private_network": true`.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, field_validator

from services.runtime.watched_file import WatchedFile


class EndpointsFileError(RuntimeError):
    """The endpoints file cannot be read or is not valid (the message names the field)."""


class Endpoint(BaseModel):
    """One receiver of order events."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="names its deliveries")
    url: HttpUrl
    events: list[str] = Field(min_length=1, description="event type patterns, e.g. order.*")
    secret: str = Field(min_length=16, max_length=1024, repr=False)
    allow_private_network: bool = Field(
        default=False,
        description="deliver to private, loopback or link-local addresses (off: refused)",
    )

    @field_validator("events")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if not pattern or any(not (c.isalnum() or c in "._*") for c in pattern):
                raise ValueError("each event pattern is letters, digits, '.', '_' and '*'")
        return value

    def wants(self, event_type: str) -> bool:
        """True when one of the endpoint's patterns matches `event_type`."""
        return any(fnmatch.fnmatchcase(event_type, pattern) for pattern in self.events)


class EndpointsFile(BaseModel):
    """The file's shape."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    endpoints: list[Endpoint] = Field(default_factory=list)

    @field_validator("endpoints")
    @classmethod
    def _unique_ids(cls, value: list[Endpoint]) -> list[Endpoint]:
        ids = [e.id for e in value]
        if len(ids) != len(set(ids)):
            raise ValueError("endpoint ids must be unique")
        return value


def parse_endpoints(raw: bytes) -> list[Endpoint]:
    """The endpoints of a file's bytes, or `EndpointsFileError` naming what is wrong (never
    a secret)."""
    try:
        return EndpointsFile.model_validate(json.loads(raw)).endpoints
    except (ValueError, ValidationError) as exc:
        if isinstance(exc, ValidationError):
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                for e in exc.errors(include_input=False, include_url=False)
            )
        else:
            problems = "not JSON"
        raise EndpointsFileError(f"RTW_WEBHOOK_ENDPOINTS_FILE: {problems}") from None


class Endpoints:
    """The configured endpoints, re-read when the file changes (last good set kept)."""

    def __init__(self, path: Path) -> None:
        try:
            self._file: WatchedFile[list[Endpoint]] = WatchedFile(path, parse_endpoints)
        except OSError as exc:
            raise EndpointsFileError(
                f"cannot read RTW_WEBHOOK_ENDPOINTS_FILE: {exc.strerror}"
            ) from exc

    def current(self) -> list[Endpoint]:
        """The endpoints now."""
        return self._file.current()

    def get(self, endpoint_id: str) -> Endpoint | None:
        """One endpoint by id."""
        return next((e for e in self.current() if e.id == endpoint_id), None)
