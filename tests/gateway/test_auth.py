"""Bearer tokens from a mounted file: principals and roles, the old token-only lines,
rotation, comments, and refusing to run without them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.gateway.auth import Principal, Role, TokenFileError, TokenStore
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


def test_each_entry_names_its_principal_and_role(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("# <token> <name> <role>\ns3cr3t-a  alice reviewer\ns3cr3t-s\tshop service\n")
    store = TokenStore(path)
    assert store.principal("s3cr3t-a") == Principal("alice", Role.REVIEWER)
    assert store.principal("s3cr3t-s") == Principal("shop", Role.SERVICE)
    assert not store.principal("s3cr3t-s").can_decide  # type: ignore[union-attr]
    assert store.principal("alice") is None
    assert store.principal("s3cr3t-a alice reviewer") is None


def test_a_token_alone_is_still_accepted_as_a_reviewer_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tokens"
    path.write_text("old-style-token\n")
    store = TokenStore(path)
    principal = store.principal("old-style-token")
    assert principal is not None
    assert principal.role is Role.REVIEWER
    assert principal.name.startswith("token-")
    assert len(principal.name) == len("token-") + 8
    assert "<token> <name> <role>" in caplog.text
    assert "old-style-token" not in caplog.text, "a token is never logged"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("t1 alice\n", "line 1: 2 fields; expected '<token> <name> <role>'"),
        ("# c\nt1 alice admin\n", "line 2: unknown role; expected '<token> <name> <role>'"),
        ("t1 al/ice reviewer\n", "line 1: the name must be"),
        ("t1 a reviewer\nt1 b service\n", "line 2: the same token is listed twice"),
        ("t1 a reviewer extra\n", "line 1: 4 fields"),
    ],
)
def test_a_line_in_no_known_format_is_refused_naming_the_format(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "tokens"
    path.write_text(content)
    with pytest.raises(TokenFileError, match="RTW_GATEWAY_TOKENS_FILE") as refused:
        TokenStore(path)
    assert message in str(refused.value)
    assert "t1" not in str(refused.value), "a token is never quoted"


async def test_gateway_refuses_to_start_without_tokens(tmp_path: Path) -> None:
    missing = await rtw("gateway", "--port", "0", env={"RTW_GATEWAY_TOKENS_FILE": ""})
    assert missing.code == 2
    assert "RTW_GATEWAY_TOKENS_FILE is required" in missing.stderr
    empty = tmp_path / "tokens"
    empty.write_text("\n")
    unusable = await rtw("gateway", "--port", "0", env={"RTW_GATEWAY_TOKENS_FILE": str(empty)})
    assert unusable.code == 2
    assert "holds no token" in unusable.stderr

    malformed = tmp_path / "malformed"
    malformed.write_text("t1 alice admin\n")
    refused = await rtw("gateway", "--port", "0", env={"RTW_GATEWAY_TOKENS_FILE": str(malformed)})
    assert refused.code == 2
    assert "line 1: unknown role; expected '<token> <name> <role>'" in refused.stderr
