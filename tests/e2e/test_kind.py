"""End to end on kind: deploy/kind/e2e.sh installs the chart and runs `helm test` (one saga)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
NO_CLUSTER = "no Kubernetes cluster (kind) on this machine"


def _kind_available() -> bool:
    """kind is installed and can reach its container engine (so it can run a cluster)."""
    if shutil.which("kind") is None or shutil.which("kubectl") is None:
        return False
    probe = subprocess.run(
        ["kind", "get", "clusters"], capture_output=True, text=True, check=False, timeout=30
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _kind_available(), reason=NO_CLUSTER)
@pytest.mark.timeout(1800)
def test_chart_on_kind() -> None:
    result = subprocess.run(
        ["bash", str(REPO / "deploy" / "kind" / "e2e.sh")], check=False, timeout=1500
    )
    assert result.returncode == 0, "deploy/kind/e2e.sh failed (see its output above)"
