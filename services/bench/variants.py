"""What `rtw bench run` compares: bare-SDK baselines and the platform's OrderSaga."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

ROLES = ("orchestration", "payments", "notifications")


@dataclass(frozen=True)
class Variant:
    """One thing to measure.

    Args:
        name: key in the results.
        platform: rtw's OrderSaga through `rtw worker` processes; else a bare workflow.
        workflow: the bare workflow type (bare variants).
        roles: the worker processes it needs.
        child_prefix: workflow-id prefix of its child (history events are counted for both).
        payment_method: the platform saga's card (a declined one takes the compensation path).
        env: extra environment of the platform's workers.
        tracing: export spans to the bench's OTLP receiver.
        encrypted: encrypt payloads with a fresh key per block (`RTW_CODEC_KEYS_FILE` of
            the platform's workers, and the codec on the driver's client).
        phases: which concurrency levels it runs (c1, c16, c64).
        floor: a reference floor (noop, one and four activities), whose c64 phase only the
            full profile runs.
    """

    name: str
    platform: bool = False
    workflow: str = ""
    roles: tuple[str, ...] = ROLES
    child_prefix: str | None = None
    payment_method: str = "pm_card_visa"
    env: Mapping[str, str] = field(default_factory=dict)
    tracing: bool = False
    encrypted: bool = False
    phases: tuple[int, ...] = (1, 16, 64)
    floor: bool = False


BARE_NOOP = Variant("bare_noop", workflow="BareNoop", roles=("orchestration",), floor=True)
BARE_ONE = Variant(
    "bare_1_activity", workflow="BareOneActivity", roles=("orchestration",), floor=True
)
BARE_FOUR = Variant(
    "bare_4_activities", workflow="BareFourActivities", roles=("orchestration",), floor=True
)
BARE_NAIVE = Variant(
    "bare_naive_shape", workflow="BareNaiveSaga", child_prefix="bare-naive-shipment-"
)
BARE_SAME = Variant(
    "bare_same_shape", workflow="BareSameShapeSaga", child_prefix="bare-same-shipment-"
)
PLATFORM = Variant("platform", platform=True, child_prefix="shipment-")
PLATFORM_UNVERSIONED = Variant(
    "platform_unversioned",
    platform=True,
    child_prefix="shipment-",
    env={"RTW_WORKER_VERSIONING": "false"},
)
PLATFORM_COMPENSATION = Variant(
    "platform_compensation",
    platform=True,
    payment_method="pm_card_chargeDeclined",
    phases=(1, 16),
)
PLATFORM_TRACING = Variant(
    "platform_tracing", platform=True, child_prefix="shipment-", tracing=True, phases=(1, 16)
)
PLATFORM_SANDBOX_OFF = Variant(
    "platform_sandbox_off",
    platform=True,
    child_prefix="shipment-",
    env={"RTW_WORKFLOW_SANDBOX": "off"},
    phases=(1, 16),
)
PLATFORM_ENCRYPTED = Variant(
    "platform_encrypted", platform=True, child_prefix="shipment-", encrypted=True, phases=(1, 16)
)


def all_variants(*, sandbox_off: bool, encrypted: bool) -> list[Variant]:
    """Every variant of a run, in their first block's order."""
    found = [
        BARE_NOOP,
        BARE_ONE,
        BARE_FOUR,
        BARE_NAIVE,
        BARE_SAME,
        PLATFORM,
        PLATFORM_UNVERSIONED,
        PLATFORM_COMPENSATION,
        PLATFORM_TRACING,
    ]
    if sandbox_off:
        found.append(PLATFORM_SANDBOX_OFF)
    if encrypted:
        found.append(PLATFORM_ENCRYPTED)
    return found
