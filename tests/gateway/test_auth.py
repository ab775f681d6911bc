"""Bearer tokens from a mounted file: rotation, comments, and refusing to run without them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.gateway.auth import TokenFileError, TokenStore
from tests.integration.helpers import rtw


def test_tokens_are_read_per_line_and_rotation_is_picked_up(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("# reviewers\nalpha\n\n  beta  \n")
    store = TokenStore(path)
    assert store.accepts("alpha")
    assert store.accepts("beta")
    assert not store.accepts("# reviewers")
    assert not store.accepts("")
    assert not store.accepts(None)
    assert not store.accepts("alph")

    path.write_text("gamma\n")
    os.utime(path, ns=(1, 2_000_000_000_000_000_000))  # a new mtime, as a Secret update gives
    assert store.accepts("gamma")
    assert not store.accepts("alpha"), "a removed token stops working"


def test_a_half_written_rotation_keeps_the_previous_tokens(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("alpha\n")
    store = TokenStore(path)
    path.write_text("")
    os.utime(path, ns=(1, 2_000_000_000_000_000_000))
    assert store.accepts("alpha")


@pytest.mark.parametrize("content", [None, "", "# only a comment\n"])
def test_no_usable_token_file_is_refused(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "tokens"
    if content is not None:
        path.write_text(content)
    with pytest.raises(TokenFileError, match="RTW_GATEWAY_TOKENS_FILE"):
        TokenStore(path)


async def test_gateway_refuses_to_start_without_tokens(tmp_path: Path) -> None:
    missing = await rtw("gateway", "--port", "0", env={"RTW_GATEWAY_TOKENS_FILE": ""})
    assert missing.code == 2
    assert "RTW_GATEWAY_TOKENS_FILE is required" in missing.stderr
    empty = tmp_path / "tokens"
    empty.write_text("\n")
    unusable = await rtw("gateway", "--port", "0", env={"RTW_GATEWAY_TOKENS_FILE": str(empty)})
    assert unusable.code == 2
    assert "holds no token" in unusable.stderr
