"""The ladder's figures (issue 18), deterministic like every figure (reporting.figures):
the headline figure (effect against parameters, one panel per hypothesis, one line per
training length) and the tuning figure (validation loss against learning rate)."""
from __future__ import annotations

import math
from pathlib import Path

from reporting.figures import VERDICT_COLOURS, _grid, savefig


def _finite(x) -> bool:
    return x is not None and math.isfinite(x)


def _log_ticks(ax, values: list[float], label):
    """A log x axis with a tick (and a plain label) at each given value, no minor ticks."""
    ax.set_xscale("log")
    if values:
        ax.set_xlim(min(values) / 1.4, max(values) * 1.4)
        ax.set_xticks(values)
        ax.set_xticklabels([label(v) for v in values], fontsize=5)
    ax.minorticks_off()


def fig_ladder(plt, doc: dict, path: Path):
    """Per hypothesis: mean paired difference (primary metric) with its unadjusted 95% sign-flip
    interval against the rung's parameter count (log x), one line per training length; grey
    band: the equivalence margin; marker colour: the cell's verdict."""
    ids = doc["meta"]["hypotheses"]
    lengths = sorted({c["length"] for c in doc["cells"]})
    fig, axes = _grid(plt, len(ids), ncols=min(3, max(1, len(ids))), size=(2.3, 1.8))
    for ax, hid in zip(axes, ids, strict=True):
        margin = None
        for k, x in enumerate(lengths):
            pts = []
            for c in doc["cells"]:
                r = next(r for r in c["analysis"]["hypotheses"] if r["id"] == hid)
                margin = r["margin"]["value"]
                cmp_ = r["comparison"]
                if c["length"] == x and cmp_ is not None and _finite(cmp_["mean_diff"]):
                    pts.append((c["scale_params"], cmp_, r["verdict"]))
            pts.sort(key=lambda t: t[0])
            if not pts:
                continue
            shift = 1.0 + 0.04 * (k - (len(lengths) - 1) / 2)      # side by side at the same size
            xs = [n * shift for n, _, _ in pts]
            ax.plot(xs, [c["mean_diff"] for _, c, _ in pts], "-", color=f"C{k}", lw=0.9, label=f"{x:g} epochs")
            for xv, c, v in zip(xs, (c for _, c, _ in pts), (v for _, _, v in pts), strict=True):
                if _finite(c["ci95_low"]) and _finite(c["ci95_high"]):
                    ax.plot([xv, xv], [c["ci95_low"], c["ci95_high"]], color=f"C{k}", lw=0.8)
                ax.plot([xv], [c["mean_diff"]], "o", ms=3.5, color=VERDICT_COLOURS[v], mec=f"C{k}", mew=0.6)
        if margin is not None and _finite(margin):
            ax.axhspan(-margin, margin, color="0.9", lw=0)
        ax.axhline(0, color="k", lw=0.6)
        _log_ticks(ax, sorted({c["scale_params"] for c in doc["cells"]}), lambda n: f"{n / 1e6:.2g}M")
        ax.set_title(hid, fontsize=7)
        ax.tick_params(labelsize=6)
        if not ax.lines[1:]:
            ax.text(0.5, 0.5, "no results yet", transform=ax.transAxes, ha="center", fontsize=7)
    if axes and any(ax.get_legend_handles_labels()[0] for ax in axes):
        handles, labels = next(ax.get_legend_handles_labels() for ax in axes if ax.get_legend_handles_labels()[0])
        fig.legend(handles, labels, fontsize=6, loc="lower center", ncol=len(labels), bbox_to_anchor=(0.5, -0.02))
    fig.supxlabel("parameters (the rung's standard model, log scale)", fontsize=7, y=0.06)
    fig.supylabel("A $-$ B, test bits per byte (95% CI)", fontsize=7)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    savefig(fig, path)
    plt.close(fig)


def fig_tuning(plt, doc: dict, path: Path):
    """Per rung: each variant's mean validation loss over the tuning seeds against the learning
    rate (log x), band from the best to the worst seed, the chosen learning rate starred."""
    import numpy as np
    rungs = list(doc["tuning_curves"])
    fig, axes = _grid(plt, len(rungs), ncols=min(3, max(1, len(rungs))), size=(2.4, 1.9))
    for ax, r in zip(axes, rungs, strict=True):
        for k, (v, grid) in enumerate(doc["tuning_curves"][r].items()):
            xs, mean, lo, hi = [], [], [], []
            for lr, vals in grid.items():
                got = [x for x in vals.values() if x is not None]
                if len(got) < len(vals) or not got or not all(math.isfinite(x) for x in got):
                    continue                      # missing or diverged runs: no point at this rate
                xs.append(float(lr))
                mean.append(float(np.mean(got)))
                lo.append(min(got))
                hi.append(max(got))
            if not xs:
                continue
            ax.plot(xs, mean, "-o", ms=2, lw=0.8, color=f"C{k}", label=v)
            ax.fill_between(xs, lo, hi, color=f"C{k}", alpha=0.2, lw=0)
            chosen = (doc["tuning"].get(r) or {}).get(v)
            if chosen and float(chosen["lr"]) in xs:
                i = xs.index(float(chosen["lr"]))
                ax.plot([xs[i]], [mean[i]], "*", ms=7, color=f"C{k}", mec="k", mew=0.4)
        _log_ticks(ax, [float(lr) for lr in doc["meta"]["lr_grid"]], lambda x: f"{x:g}")
        ax.set_title(r, fontsize=7)
        ax.tick_params(labelsize=6)
        if not ax.lines:
            ax.text(0.5, 0.5, "no tuning runs yet", transform=ax.transAxes, ha="center", fontsize=7)
    labelled = [ax for ax in axes if ax.get_legend_handles_labels()[0]]
    if labelled:
        labelled[0].legend(fontsize=5)
    fig.supxlabel("learning rate (log scale); star: chosen", fontsize=7)
    fig.supylabel("val NLL/token (mean, min-max over tuning seeds)", fontsize=7)
    fig.tight_layout()
    savefig(fig, path)
    plt.close(fig)
