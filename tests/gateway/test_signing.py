"""Webhook signatures (Stripe's scheme): what is accepted and what is refused."""

from __future__ import annotations

import contextlib
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
        ("t=\u00b2,v1=abc", "malformed"),  # '²' passes str.isdigit, not int()
        ("t=\u0661\u0662,v1=abc", "malformed"),  # Arabic-Indic digits: no
        (f"t={NOW},v1=\u00e9", "malformed"),  # hmac.compare_digest refuses non-ASCII text
        (f"t={NOW},v1={'ab' * 31}", "malformed"),  # not a SHA-256 digest
        (f"t={'9' * 5000},v1={'ab' * 32}", "malformed"),  # past int()'s digit limit
        (f"t={NOW},t={NOW},v1={'ab' * 32}", "malformed"),
        (f"t={NOW},v1={'ab' * 32}," + "v1=" * 400, "malformed"),  # oversized header
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


#: What a header may hold: printable text, the latin-1 range uvicorn decodes bytes into,
#: and the digits and separators the parser looks for.
HEADER_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec="latin-1"),
        st.characters(categories=["Nd", "No"]),  # every Unicode digit, '²' included
        st.sampled_from("t=v1,0123456789abcdef"),
    ),
    max_size=300,
)


@settings(max_examples=3000, deadline=None)
@given(header=HEADER_TEXT)
def test_any_header_verifies_or_is_a_signature_error(header: str) -> None:
    """Whatever arrives, the answer is a timestamp or `SignatureError` (a 401), never
    another exception (a 500)."""
    try:
        timestamp = verify(SECRET, BODY, header, tolerance=300, now=NOW)
    except SignatureError:
        return
    assert timestamp == NOW  # only a real signature passes


@settings(max_examples=2000, deadline=None)
@given(
    timestamp=st.one_of(HEADER_TEXT, st.integers(min_value=-(10**20), max_value=10**20).map(str)),
    digests=st.lists(st.one_of(HEADER_TEXT, st.just(sign(SECRET, BODY, timestamp=NOW)[-64:]))),
)
def test_headers_shaped_like_signatures_never_raise_anything_else(
    timestamp: str, digests: list[str]
) -> None:
    header = ",".join([f"t={timestamp}", *(f"v1={d}" for d in digests)])
    with contextlib.suppress(SignatureError):
        verify(SECRET, BODY, header, tolerance=300, now=NOW)


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=2048), timestamp=st.integers(min_value=0, max_value=10**11))
def test_every_signed_body_verifies(body: bytes, timestamp: int) -> None:
    header = sign(SECRET, body, timestamp=timestamp)
    assert verify(SECRET, body, header, tolerance=0, now=timestamp) == timestamp
