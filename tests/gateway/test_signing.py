"""Webhook signatures (Stripe's scheme): what is accepted and what is refused."""

from __future__ import annotations

import subprocess

import pytest

from services.gateway import SignatureError, sign, verify

SECRET = b"whsec-test"
BODY = b'{"order_id":"o-1","event_id":"e-1","event":"delivered"}'
NOW = 1_800_000_000


def test_a_fresh_signature_verifies() -> None:
    header = sign(SECRET, BODY, timestamp=NOW)
    assert verify(SECRET, BODY, header, tolerance=300, now=NOW + 10) == NOW


def test_any_of_several_v1_digests_verifies_for_secret_rotation() -> None:
    old = sign(b"old-secret", BODY, timestamp=NOW).split(",")[1]
    header = f"{sign(SECRET, BODY, timestamp=NOW)},{old}"
    assert verify(b"old-secret", BODY, header, tolerance=300, now=NOW) == NOW


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing Rtw-Signature"),
        ("", "missing Rtw-Signature"),
        ("v1=abc", "malformed"),
        (f"t={NOW}", "malformed"),
        ("t=soon,v1=abc", "malformed"),
        (sign(b"other", BODY, timestamp=NOW), "does not match"),
        (sign(SECRET, BODY + b" ", timestamp=NOW), "does not match"),
        (sign(SECRET, BODY, timestamp=NOW - 301), "outside the 300s window"),
        (sign(SECRET, BODY, timestamp=NOW + 301), "outside the 300s window"),
    ],
)
def test_refused(header: str | None, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        verify(SECRET, BODY, header, tolerance=300, now=NOW)


def test_the_timestamp_is_signed_too() -> None:
    digest = sign(SECRET, BODY, timestamp=NOW).split(",")[1]
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, BODY, f"t={NOW + 5},{digest}", tolerance=300, now=NOW)


def test_the_readme_openssl_recipe_signs_like_the_gateway_checks() -> None:
    """The README's shell recipe (printf | openssl dgst -hmac) gives an accepted header."""
    body = BODY.decode()
    digest = subprocess.run(
        ["openssl", "dgst", "-sha256", "-hmac", SECRET.decode(), "-r"],
        input=f"{NOW}.{body}",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    assert verify(SECRET, BODY, f"t={NOW},v1={digest}", tolerance=300, now=NOW) == NOW
