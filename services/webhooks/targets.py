"""No server-side request forgery through a webhook endpoint: a target that is (or resolves
to) a private, loopback, link-local, multicast or reserved address is refused unless its
endpoint allows private networks.

The check happens where the connection is made: aiohttp resolves names through
`GuardedResolver`, which drops nothing silently but refuses the whole name when any of its
addresses is disallowed, so a name cannot pass the check and then connect elsewhere (DNS
rebinding). aiohttp connects to an IP literal without asking the resolver
(`TCPConnector._resolve_host`, aiohttp 3.14), so `refused_target` checks literals first.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL


class TargetRefusedError(OSError):
    """The endpoint's address is one webhooks may not reach."""


def disallowed(address: str) -> bool:
    """True for an address webhooks may not reach without `allow_private_network`."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def refused_target(url: str, *, allow_private: bool) -> str | None:
    """Why `url` may not be called (None: it may): a scheme other than http(s), or an IP
    literal webhooks may not reach."""
    parsed = URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return "only http and https URLs with a host"
    if allow_private:
        return None
    try:
        literal = disallowed(parsed.host)
    except ValueError:
        return None  # a name: checked when it is resolved
    return f"{parsed.host} is a private, loopback or link-local address" if literal else None


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing names that resolve to disallowed addresses."""

    def __init__(self, *, allow_private: bool) -> None:
        self._inner = DefaultResolver()
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if not self._allow_private:
            bad = [r["host"] for r in found if disallowed(r["host"])]
            if bad:
                raise TargetRefusedError(
                    f"{host} resolves to {bad[0]}, a private, loopback or link-local address"
                )
        return found

    async def close(self) -> None:
        await self._inner.close()


def resolver_kwargs(*, allow_private: bool) -> dict[str, Any]:
    """`TCPConnector` arguments for an endpoint."""
    return {"resolver": GuardedResolver(allow_private=allow_private), "use_dns_cache": False}
