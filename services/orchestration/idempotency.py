"""`IdempotencyKey`: the marker binding an HTTP Idempotency-Key to one order id.

The gateway starts it before the order's saga, under `idempotency-<sha256 of the key>`
with *reject duplicate*; the server's uniqueness of workflow ids makes the binding atomic.
It has nothing to do but exist, so it returns at once; its closed run keeps the binding
for the namespace's retention period.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import VersioningBehavior

with workflow.unsafe.imports_passed_through():
    from services.contracts import IDEMPOTENCY_KEY_WORKFLOW, IdempotencyKeyClaim


# AUTO_UPGRADE: a run is one task with nothing to replay later; any build may finish it.
@workflow.defn(name=IDEMPOTENCY_KEY_WORKFLOW, versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class IdempotencyKey:
    """Returns its claim at once: the binding is the workflow id and its memo."""

    @workflow.run
    async def run(self, claim: IdempotencyKeyClaim) -> IdempotencyKeyClaim:
        """The order id the key is bound to."""
        return claim


@workflow.defn(name=IDEMPOTENCY_KEY_WORKFLOW)
class UnversionedIdempotencyKey(IdempotencyKey):
    """`IdempotencyKey` for workers with Worker Versioning off (no versioning behavior)."""

    @workflow.run
    async def run(self, claim: IdempotencyKeyClaim) -> IdempotencyKeyClaim:
        """See `IdempotencyKey.run`."""
        return await super().run(claim)
