"""Numbers as text, one convention for every table, macro and summary: None and NaN are
"n/a", an infinite interval end or MDE is "inf" (not reachable with these seeds)."""
from __future__ import annotations

import math


def missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt(x, digits: int = 4, sign: bool = False) -> str:
    """A number with fixed decimals; n/a for None/NaN, inf/-inf for infinities."""
    if missing(x):
        return "n/a"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:{'+' if sign else ''}.{digits}f}"


def fmt_g(x, digits: int = 2) -> str:
    """Small probabilities and levels (2/2^n, alpha/m) to `digits` significant digits."""
    return "n/a" if missing(x) else f"{x:.{digits}g}"


def fmt_p(p) -> str:
    """A p-value: three decimals, or <0.001."""
    if missing(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def fmt_level(confidence) -> str:
    """A confidence level in percent with as many decimals as it needs (95, 99.29)."""
    return "n/a" if missing(confidence) else f"{100 * confidence:.2f}".rstrip("0").rstrip(".")


def fmt_ci(low, high, digits: int = 4) -> str:
    """[low, high], or 'unbounded' when the test cannot reach the level with these seeds."""
    if missing(low) or missing(high) or math.isinf(low) or math.isinf(high):
        return "unbounded"
    return f"[{low:+.{digits}f}, {high:+.{digits}f}]"


def fmt_count(n: int) -> str:
    """10000 -> 10,000."""
    return f"{n:,}"
