"""Fixtures of the container tests: the image from `make image`, built once per session."""

from __future__ import annotations

import pytest

from tests.container.podman import build_image


@pytest.fixture(scope="session")
def image() -> str:
    """deploy/tools/build-image.sh (idempotent; a few seconds when nothing changed), so the
    image always holds the code of this tree."""
    return build_image()
