"""The arithmetic of `rtw bench run`: percentiles, medians with min-max over blocks, and
ratios of two variants paired block by block (same server, minutes apart)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Spread = dict[str, float]


def percentile(samples: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0-100) by nearest rank; 0.0 for no samples."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def spread(values: Iterable[float]) -> Spread:
    """Median, min and max of per-block values (rounded for reports)."""
    vals = [v for v in values if not math.isnan(v)]
    if not vals:
        return {"median": math.nan, "min": math.nan, "max": math.nan, "n": 0}
    return {
        "median": _round(statistics.median(vals)),
        "min": _round(min(vals)),
        "max": _round(max(vals)),
        "n": len(vals),
    }


def _round(value: float) -> float:
    return round(value, 3 if abs(value) < 10 else 1)


def flatten(figures: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Nested numeric figures as `a.b` keys (non-numbers are left out)."""
    flat: dict[str, float] = {}
    for key, value in figures.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def summarize_variant(blocks: Sequence[Mapping[str, Any]]) -> dict[str, Spread]:
    """Every figure of one variant as a spread over its blocks."""
    flats = [flatten(b) for b in blocks]
    keys = sorted({k for f in flats for k in f})
    return {k: spread(f[k] for f in flats if k in f) for k in keys}


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when the denominator is zero or missing."""
    if not denominator or math.isnan(denominator) or math.isnan(numerator):
        return math.nan
    return numerator / denominator


def paired_ratio(
    blocks: Sequence[Mapping[str, Mapping[str, Any]]], numerator: str, denominator: str, key: str
) -> Spread:
    """Spread over blocks of `key(numerator) / key(denominator)`, each ratio taken within
    one block (variant name → figures); blocks missing either variant are skipped."""
    values = []
    for block in blocks:
        if numerator in block and denominator in block:
            num, den = flatten(block[numerator]), flatten(block[denominator])
            values.append(ratio(num.get(key, math.nan), den.get(key, math.nan)))
    return spread(values)
