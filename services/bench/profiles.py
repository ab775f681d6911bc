"""How much `rtw bench run` does: the `quick` and `full` profiles."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """Sizes of one run.

    Args:
        blocks: blocks, each on a fresh dev server running every variant (order rotated).
        warmup: sagas per variant before anything is measured.
        c1: sagas run one at a time (latency at concurrency 1).
        c16: sagas at 16 in flight (throughput, latency, CPU per saga).
        c64: sagas at 64 in flight (throughput; CPU per saga together with c16).
        approvals: `approve` round trips per block (platform, idle).
        scaling: payments process counts of the scaling test (empty: skipped).
        scaling_sagas: sagas started at once in each scaling configuration.
        sandbox_off: also run the platform with `RTW_WORKFLOW_SANDBOX=off`.
        encryption: also run the platform with payload encryption (`platform_encrypted`).
        floors_c64: also run the reference floors (noop, one and four activities) at 64 in
            flight; the quick profile leaves them out to stay within 3 minutes.
    """

    name: str
    blocks: int
    warmup: int
    c1: int
    c16: int
    c64: int
    approvals: int
    scaling: tuple[int, ...] = (1, 2, 4)
    scaling_sagas: int = 24
    sandbox_off: bool = False
    encryption: bool = False
    floors_c64: bool = True


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        "quick",
        blocks=3,
        warmup=4,
        c1=5,
        c16=16,
        c64=64,
        approvals=8,
        scaling_sagas=16,
        floors_c64=False,
    ),
    "full": Profile(
        "full",
        blocks=5,
        warmup=16,
        c1=25,
        c16=80,
        c64=160,
        approvals=30,
        scaling_sagas=48,
        sandbox_off=True,
        encryption=True,
    ),
}
