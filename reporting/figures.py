"""Figures: deterministic PDF output (the same data give the same bytes)."""
from __future__ import annotations

import os
from pathlib import Path

from resonator.atomic import atomic_write_bytes


def setup_matplotlib():
    os.environ.setdefault("SOURCE_DATE_EPOCH", "0")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"pdf.compression": 6, "svg.hashsalt": "resonator", "font.size": 8,
                         "figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.3})
    return plt


def savefig(fig, path: Path):
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format="pdf", bbox_inches="tight", metadata={"CreationDate": None, "ModDate": None})
    atomic_write_bytes(path, buf.getvalue())


# ---------------------------------------------------------------------------
# The study's figures (data in, PDF out; every input comes from evals.study/evals.curves)
# ---------------------------------------------------------------------------

VERDICT_COLOURS = {"better": "C2", "worse": "C3", "equivalent": "C0", "trivially different": "C4",
                   "inconclusive": "0.45"}


def _grid(plt, n: int, ncols: int = 4, size=(1.9, 1.5)):
    """n small panels on a grid, the unused ones hidden."""
    import math
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _finite(*xs) -> bool:
    import math
    return all(x is not None and math.isfinite(x) for x in xs)


def _symlog_axis(ax, linthresh: float, xs: list[float]):
    """Symmetric log x axis with a few plain-number ticks: 0, +-linthresh and decades beyond."""
    import math
    top = max([abs(x) for x in xs] + [linthresh]) * 1.3
    ax.set_xscale("symlog", linthresh=linthresh, linscale=2)
    ax.set_xlim(-top, top)
    ticks = [linthresh] + [10.0 ** k for k in range(math.floor(math.log10(linthresh)) + 1, math.ceil(math.log10(top)))
                           if 10.0 ** k > 3 * linthresh]
    ax.set_xticks(sorted([-t for t in ticks] + [0.0] + ticks))
    ax.set_xticklabels([f"{t:.2g}" for t in sorted([-t for t in ticks] + [0.0] + ticks)], fontsize=6)
    ax.minorticks_off()


def fig_forest(plt, hyps: list[dict], path: Path):
    """Per hypothesis: mean paired difference, its Holm-level sign-flip interval (thick), the
    unadjusted 95% interval (thin) and the equivalence margin (grey band), coloured by verdict."""
    rows = [r for r in hyps if r["comparison"]][::-1]
    fig, ax = plt.subplots(figsize=(5.8, 0.32 * len(rows) + 1.1))
    for i, r in enumerate(rows):
        c, m = r["comparison"], r["margin"]["value"]
        ax.fill_betweenx([i - 0.38, i + 0.38], -m, m, color="0.88", lw=0)
        colour = VERDICT_COLOURS[r["verdict"]]
        if _finite(c["ci95_low"], c["ci95_high"]):
            ax.plot([c["ci95_low"], c["ci95_high"]], [i, i], color=colour, lw=0.8)
        if _finite(c["ci_low"], c["ci_high"]):
            ax.plot([c["ci_low"], c["ci_high"]], [i, i], color=colour, lw=2.6, alpha=0.6)
        ax.plot([c["mean_diff"]], [i], "o", color=colour, ms=3.5)
    ax.axvline(0, color="k", lw=0.8)
    if rows:   # linear within +-2 margins, logarithmic beyond: large and margin-sized effects both readable
        _symlog_axis(ax, 2 * max(r["margin"]["value"] for r in rows),
                     [x for r in rows for x in (r["comparison"]["mean_diff"], r["comparison"]["ci95_low"],
                                                r["comparison"]["ci95_high"]) if _finite(x)])
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{r['id']} ({r['family']}): {r['verdict']}" for r in rows], fontsize=7)
    ax.set_xlabel("A $-$ B in test bits per byte (linear within twice the largest margin, log beyond);\n"
                  "thick: Holm-level interval, thin: unadjusted 95%, grey: margin", fontsize=7)
    savefig(fig, path)
    plt.close(fig)


def fig_curve_diff(plt, hyps: list[dict], path: Path):
    """One panel per hypothesis: validation-loss difference a - b at matched token counts, mean
    over seeds with the min-max band over seeds; dashed: the margin as nats per token."""
    import math
    fig, axes = _grid(plt, len(hyps))
    for ax, r in zip(axes, hyps):
        cd = r["curve_diff"]
        s = cd.get("series")
        ax.axhline(0, color="k", lw=0.6)
        m = math.log1p(r["margin"]["ppl_pct"] / 100)
        for y in (-m, m):
            ax.axhline(y, color="0.5", lw=0.6, ls="--")
        if s:
            x = [t / 1e6 for t in s["tokens"]]
            ax.fill_between(x, s["min"], s["max"], color="C0", alpha=0.25, lw=0)
            ax.plot(x, s["mean"], color="C0", lw=1)
        else:
            ax.text(0.5, 0.5, "no curves", transform=ax.transAxes, ha="center", fontsize=7)
        ax.set_title(f"{r['id']} (n={len(cd['seeds'])})", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.supxlabel("training tokens (M)", fontsize=7)
    fig.supylabel("val NLL/token, A $-$ B", fontsize=7)
    fig.tight_layout()
    savefig(fig, path)
    plt.close(fig)


def fig_slopes(plt, hyps: list[dict], per_seed: dict, path: Path):
    """One panel per hypothesis: each used seed's value of B and A joined by a line (pairing)."""
    fig, axes = _grid(plt, len(hyps))
    for ax, r in zip(axes, hyps):
        a, b = per_seed.get(r["a"], {}), per_seed.get(r["b"], {})
        for s in r["seeds"]:
            ax.plot([0, 1], [b[s], a[s]], "-o", color="0.4", ms=2, lw=0.6)
        ax.set_xticks([0, 1])
        ax.set_xticklabels(["B", "A"], fontsize=6)
        ax.set_xlim(-0.3, 1.3)
        ax.set_title(f"{r['id']}: {r['verdict']}", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.supylabel("test bits per byte (one line per seed)", fontsize=7)
    fig.tight_layout()
    savefig(fig, path)
    plt.close(fig)


def fig_curves(plt, curves: dict, path: Path):
    """Validation loss against training tokens per variant, mean +- sd over seeds."""
    fig, ax = plt.subplots(figsize=(5.5, 3.0))
    for i, (v, c) in enumerate(curves.items()):
        if c is None:
            continue
        x = [t / 1e6 for t in c["tokens"]]
        lo = [m - s for m, s in zip(c["mean"], c["sd"])]
        hi = [m + s for m, s in zip(c["mean"], c["sd"])]
        ax.plot(x, c["mean"], label=v, color=f"C{i % 10}", lw=1, ls="-" if i < 10 else "--")
        ax.fill_between(x, lo, hi, color=f"C{i % 10}", alpha=0.2, lw=0)
    ax.set_xlabel("training tokens (M)")
    ax.set_ylabel("val NLL per token (mean $\\pm$ sd over seeds)")
    ax.legend(fontsize=6, ncol=2)
    savefig(fig, path)
    plt.close(fig)


def fig_strip(plt, per_seed: dict, path: Path):
    """Every run's primary metric, one dot per seed, the mean as a bar."""
    import math

    import numpy as np
    variants = list(per_seed)
    fig, ax = plt.subplots(figsize=(5.5, 2.8))
    for i, v in enumerate(variants):
        vals = [x for x in per_seed[v].values() if x is not None and math.isfinite(x)]
        jitter = np.linspace(-0.15, 0.15, len(vals)) if len(vals) > 1 else [0.0]
        ax.scatter(np.full(len(vals), i) + jitter, vals, s=8, color=f"C{i % 10}")
        if vals:
            ax.hlines(np.mean(vals), i - 0.25, i + 0.25, color="k", lw=1)
    ax.set_xticks(range(len(variants)))
    ax.set_xticklabels(variants, rotation=30, ha="right")
    ax.set_ylabel("test bits per byte (one dot per seed)")
    savefig(fig, path)
    plt.close(fig)
