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
    import seaborn as sns
    # print size: every text at 8 pt or more (figures are placed at or near their natural width)
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.0,
                  rc={"font.size": 8, "axes.labelsize": 8, "axes.titlesize": 8, "xtick.labelsize": 8,
                      "ytick.labelsize": 8, "legend.fontsize": 8, "grid.alpha": 0.4})
    plt.rcParams.update({"pdf.compression": 6, "svg.hashsalt": "resonator", "figure.dpi": 100})
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


def _grid(plt, n: int, ncols: int = 4, size=(1.6, 1.45)):
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
    ax.set_xticklabels([f"{t:.2g}" for t in sorted([-t for t in ticks] + [0.0] + ticks)])
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
    ax.set_yticklabels([f"{r['id']} ({r['family']}): {r['verdict']}" for r in rows])
    ax.set_xlabel("A $-$ B in test bits per byte (linear within twice the largest margin, log beyond);\n"
                  "thick: Holm-level interval, thin: unadjusted 95%, grey: margin")
    savefig(fig, path)
    plt.close(fig)


def fig_curve_diff(plt, hyps: list[dict], path: Path):
    """One panel per hypothesis: validation-loss difference a - b at matched token counts, mean
    over seeds with the min-max band over seeds; dashed: the margin as nats per token."""
    import math
    fig, axes = _grid(plt, len(hyps))
    for ax, r in zip(axes, hyps, strict=True):
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
            ax.text(0.5, 0.5, "no curves", transform=ax.transAxes, ha="center")
        ax.set_title(f"{r['id']} (n={len(cd['seeds'])})")
    fig.supxlabel("training tokens (M)")
    fig.supylabel("val NLL/token, A $-$ B")
    fig.tight_layout()
    savefig(fig, path)
    plt.close(fig)


def fig_slopes(plt, hyps: list[dict], per_seed: dict, path: Path):
    """One panel per hypothesis: each used seed's value of B and A joined by a line (the pairing),
    seaborn's lineplot with the seed as the unit."""
    import pandas as pd
    import seaborn as sns
    fig, axes = _grid(plt, len(hyps))
    for ax, r in zip(axes, hyps, strict=True):
        a, b = per_seed.get(r["a"], {}), per_seed.get(r["b"], {})
        df = pd.DataFrame([{"side": x, "seed": s, "value": v[s]} for s in r["seeds"] for x, v in ((0, b), (1, a))])
        if not df.empty:
            sns.lineplot(data=df, x="side", y="value", units="seed", estimator=None, ax=ax, color="0.4", lw=0.6,
                         marker="o", markersize=3)
        ax.set_xticks([0, 1], ["B", "A"])
        ax.set_xlim(-0.3, 1.3)
        ax.set(xlabel=None, ylabel=None)
        ax.set_title(f"{r['id']}: {r['verdict']}")
    fig.supylabel("test bits per byte (one line per seed)")
    fig.tight_layout()
    savefig(fig, path)
    plt.close(fig)


def fig_curves(plt, curves: dict[str, list[dict]], path: Path):
    """Validation loss against training tokens per variant: the mean over seeds with a band of
    one sd over seeds (seaborn's lineplot over per-seed rows). Variants, in params.yaml's order,
    are told apart by colour and, past ten, dashes."""
    import pandas as pd
    import seaborn as sns
    rows = [row | {"variant": v, "Mtokens": row["tokens"] / 1e6} for v, rs in curves.items() for row in rs]
    fig, ax = plt.subplots(figsize=(6.0, 3.4))
    if rows:
        order = [v for v in curves if curves[v]]
        palette = dict(zip(order, sns.color_palette("tab10", 10) * (len(order) // 10 + 1), strict=False))
        dashes = {v: "" if i < 10 else (4, 2) for i, v in enumerate(order)}
        sns.lineplot(data=pd.DataFrame(rows), x="Mtokens", y="val_loss", hue="variant", style="variant",
                     hue_order=order, style_order=order, palette=palette, dashes=dashes, errorbar="sd",
                     lw=1, ax=ax)
        sns.move_legend(ax, "upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False, title=None)
        # the first quarter of training falls steeply for every variant; the y range shows the rest
        top = max(r["val_loss"] for r in rows if r["tokens"] >= 0.25 * max(q["tokens"] for q in rows))
        ax.set_ylim(min(r["val_loss"] for r in rows) - 0.02, top + 0.02)
    ax.set_xlabel("training tokens (M)")
    ax.set_ylabel("validation NLL per token\n(mean, band: $\\pm$1 sd over seeds)")
    savefig(fig, path)
    plt.close(fig)


def fig_strip(plt, per_seed: dict, path: Path):
    """Every run's primary metric, one dot per seed (a swarm: no random jitter, so the same data
    give the same figure), the mean over seeds as a bar; variants in params.yaml's order."""
    import math

    import pandas as pd
    import seaborn as sns
    rows = [{"variant": v, "seed": s, "value": x} for v, vals in per_seed.items() for s, x in vals.items()
            if x is not None and math.isfinite(x)]
    order = list(per_seed)
    fig, ax = plt.subplots(figsize=(6.0, 0.28 * len(order) + 0.9))
    if rows:
        df = pd.DataFrame(rows)
        sns.swarmplot(data=df, x="value", y="variant", order=order, hue="variant", hue_order=order,
                      palette="tab10", size=3, legend=False, ax=ax)
        sns.pointplot(data=df, x="value", y="variant", order=order, estimator="mean", errorbar=None,
                      linestyle="none", marker="|", markersize=12, color="k", ax=ax)
    ax.set_xlabel("test bits per byte (one dot per seed; bar: mean)")
    ax.set_ylabel(None)
    savefig(fig, path)
    plt.close(fig)
