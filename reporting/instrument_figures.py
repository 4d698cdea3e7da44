"""Figures of one instrumented forward pass, for interactive use (examples/basic_analysis.py):

    output, analysis = InstrumentedTransformer(model)(input_ids)
    figs = instrument_figures.figures(analysis)       # {"frequency/spectra": Figure, ...}

Drawn from what each instrument's `summarise` returned, so the library (resonator.instruments)
computes numbers only and every figure is drawn here, in the reporting package; the paper's
study-level figures over seeds are reporting.analysis.
"""
from __future__ import annotations

import numpy as np


def spectra(plt, layers: list[dict]):
    fig, ax = plt.subplots(figsize=(4, 3))
    for row in layers:
        p = np.asarray(row["power"])
        ax.semilogy(np.arange(1, len(p)), p[1:], label=f"layer {row['layer']}")
    ax.set_xlabel("frequency (cycles per sequence)")
    ax.set_ylabel("power")
    ax.legend(fontsize=6)
    return fig


def rank(plt, layers: list[dict]):
    fig, ax = plt.subplots(figsize=(4, 3))
    x = [r["layer"] for r in layers]
    ax.plot(x, [r["effective_rank"] for r in layers], "o-", label="effective rank")
    ax.plot(x, [r["participation_ratio"] for r in layers], "s-", label="participation ratio")
    ax.set_xlabel("layer")
    ax.legend(fontsize=6)
    return fig


def resonance(plt, summary: dict) -> dict:
    figs = {}
    lam = [row for row in summary.get("lambda", []) if row is not None]
    if lam:
        fig, ax = plt.subplots(figsize=(3.5, 2.5))
        im = ax.imshow(np.array(lam), cmap="coolwarm", aspect="auto")
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        fig.colorbar(im, ax=ax, label="$\\lambda$")
        figs["lambda"] = fig
    if "blend" in summary:
        fig, ax = plt.subplots(figsize=(3.5, 2.5))
        ax.hist(summary["blend"]["values"], bins=20)
        ax.set_xlabel("$\\sigma(b)$ per dimension")
        ax.set_ylabel("dimensions")
        figs["blend"] = fig
    return figs


def figures(analysis: dict) -> dict:
    """Every figure the pass's summaries allow, named "<instrument>/<figure>"."""
    import matplotlib.pyplot as plt
    out = {}
    if analysis.get("frequency", {}).get("layers"):
        out["frequency/spectra"] = spectra(plt, analysis["frequency"]["layers"])
    if analysis.get("complexity", {}).get("layers"):
        out["complexity/rank"] = rank(plt, analysis["complexity"]["layers"])
    if analysis.get("resonance", {}).get("applicable"):
        out |= {f"resonance/{k}": v for k, v in resonance(plt, analysis["resonance"]).items()}
    return out
