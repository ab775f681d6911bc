"""The SSRF guard: private, loopback and link-local targets refused unless allowed, by name
(at connect time) and by literal."""

from __future__ import annotations

import pytest

from services.webhooks.targets import (
    GuardedResolver,
    TargetRefusedError,
    disallowed,
    refused_target,
)


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.0.0.5", "172.16.3.4", "192.168.1.1", "169.254.169.254", "::1",
     "fe80::1", "::ffff:127.0.0.1", "0.0.0.0", "224.0.0.1"],
)  # fmt: skip
def test_private_addresses_are_refused(address: str) -> None:
    assert disallowed(address)


def test_public_addresses_pass() -> None:
    assert not disallowed("93.184.216.34")
    assert not disallowed("2606:4700::1111")


def test_literal_targets_are_checked_before_any_connection() -> None:
    assert refused_target("http://169.254.169.254/latest", allow_private=False)
    assert refused_target("http://127.0.0.1:9/", allow_private=True) is None
    assert refused_target("file:///etc/passwd", allow_private=True)
    assert refused_target("https://shop.example/hook", allow_private=False) is None


async def test_a_name_that_resolves_to_loopback_is_refused_when_connecting() -> None:
    with pytest.raises(TargetRefusedError, match="private, loopback"):
        await GuardedResolver(allow_private=False).resolve("localhost", 80)
    allowed = await GuardedResolver(allow_private=True).resolve("localhost", 80)
    assert allowed
