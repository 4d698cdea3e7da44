"""Learning-rate selection for the ladder (issue 18): on validation loss only.

A variant compared at a learning rate tuned for another is handicapped by the tuning, not by
its architecture (Melis, Dyer & Blunsom 2018), so at every rung each variant gets its own
learning rate, chosen by the rule below from tuning runs on seeds disjoint from the final
seeds. The test split is never read: a tuning run's record holds its selection loss on the
validation split (resonator.ladder_train.selection_loss), and that is all this module sees.
"""
from __future__ import annotations

import math

import numpy as np

TUNING_RULE = (
    "Per (rung, variant), the learning rate of the rung's grid (ladder.rungs.<rung>.lr_grid) "
    "with the lowest mean, over the tuning seeds, of the final validation loss (nats per token over every "
    "validation window) after the rung's tune_length; a diverged tuning run counts as +inf; a tie goes to the "
    "smaller learning rate. A best at either edge of the rung's grid is not chosen: that grid is extended by one "
    "ratio step on that side and the new value tuned, until every variant's best at the rung is interior (with "
    "ladder.checks: warn it is chosen, with a warning).")


def selection_value(record: dict | None) -> float | None:
    """A tuning run's selection loss: +inf if it diverged, None if the run is missing."""
    if record is None:
        return None
    if record.get("diverged") or (record.get("selection") or {}).get("diverged"):
        return math.inf
    value = (record.get("selection") or {}).get("val_loss")
    return None if value is None else float(value)


def grid_ratio(grid: list[float]) -> float:
    return grid[1] / grid[0]


def extension(grid: list[float], edge: str) -> float:
    """The value one ratio step beyond the edge (6 significant digits, as it would be written)."""
    r = grid_ratio(grid)
    value = grid[0] / r if edge == "smallest" else grid[-1] * r
    return float(f"{value:.6g}")


def select(grid: list[float], seeds: list[int], losses: dict[float, dict[int, float]]) -> dict:
    """The tuning table of one (rung, variant) and the choice by TUNING_RULE.

    losses: {lr: {seed: selection loss}}, every grid value at every tuning seed (KeyError
    names the first missing one). Returns lr (the lowest mean; edge or not), index, edge
    (None, "smallest" or "largest"), extend_with (the value to add when at an edge), and per
    learning rate the mean, sd, min and max over seeds and the number diverged."""
    rows = []
    for lr in grid:
        vals = []
        for s in seeds:
            if s not in losses.get(lr, {}):
                raise KeyError((lr, s))
            vals.append(losses[lr][s])
        v = np.array(vals, dtype=float)
        finite = v[np.isfinite(v)]
        rows.append({"lr": lr, "mean": float(v.mean()),
                     "sd": float(v.std(ddof=1)) if len(v) > 1 and np.isfinite(v).all() else None,
                     "min": float(finite.min()) if len(finite) else None,
                     "max": float(finite.max()) if len(finite) else None, "n_diverged": int((~np.isfinite(v)).sum()),
                     "per_seed": {str(s): x for s, x in zip(seeds, vals, strict=True)}})
    best = min(range(len(grid)), key=lambda i: (rows[i]["mean"], grid[i]))
    edge = "smallest" if best == 0 else "largest" if best == len(grid) - 1 else None
    return {"lr": grid[best], "index": best, "edge": edge, "extend_with": extension(grid, edge) if edge else None,
            "grid": list(grid), "seeds": list(seeds), "rows": rows, "rule": TUNING_RULE}
