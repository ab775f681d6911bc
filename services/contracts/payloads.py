"""What a workflow receives in place of an input it cannot decode."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UndecodablePayload:
    """An untyped workflow input (run argument, signal or update argument) that the data
    converter could not decode: a foreign encoding, invalid or too deeply nested JSON.

    The rtw converter hands this to the workflow instead of raising, because an argument
    that fails to decode would otherwise fail the workflow task on every retry; the workflow
    then refuses it with a typed error that names the problem.
    """

    encoding: str
    size: int
    reason: str

    def describe(self) -> str:
        """One line for error messages."""
        return (
            f"undecodable {self.encoding or 'unknown'} payload ({self.size} bytes): {self.reason}"
        )
