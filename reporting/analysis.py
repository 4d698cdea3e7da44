"""The analyze stage's report: tables, figures and the generated paragraph of the paper's
instrumentation section, from resonator.instruments.readings' summary."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from reporting.figures import savefig
from reporting.latex import tex_escape

LABELS = {"blend_mean": r"mean $\sigma(b)$", "lambda_abs_mean": r"mean $|\lambda|$",
          "lambda_r_share": r"$\lambda R$ share", "attention_rhyme": "attn. rhyme pairs",
          "attention_other": "attn. other pairs",
          "dloss_lambda_zero": r"$\Delta$loss $\lambda{=}0$", "dloss_blend_zero": r"$\Delta$loss blend${=}0$",
          "dloss_phases_shuffled": r"$\Delta$loss shuffled $\phi$", "r_mean_init": r"mean $R$, init",
          "r_sd_keys_init": r"sd$_j R_{ij}$, init", "r_mean_final": r"mean $R$, trained",
          "r_sd_keys_final": r"sd$_j R_{ij}$, trained", "spectral_entropy": "spectral entropy",
          "effective_rank": "effective rank", "attention_entropy": "attn. entropy"}


PHASE_COLS = ["blend_mean", "lambda_abs_mean", "lambda_r_share", "attention_rhyme", "attention_other",
              "dloss_lambda_zero", "dloss_blend_zero", "dloss_phases_shuffled", "r_mean_init", "r_sd_keys_init",
              "r_mean_final", "r_sd_keys_final"]
SHARED_COLS = ["spectral_entropy", "effective_rank", "attention_entropy"]


def num(x: float) -> str:
    """Three decimals, or two significant digits where three decimals would print a misleading 0.000."""
    return f"{x:.1e}" if x != 0 and abs(x) < 5e-4 else f"{x:.3f}"


FIT = "\\resizebox{\\ifdim\\width>\\linewidth\\linewidth\\else\\width\\fi}{!}{"  # shrink only if too wide


def cell(s: dict) -> str:
    m, sd = s["mean"], s["sd"]
    return "--" if m is None else num(m) + (f" $\\pm$ {num(sd)}" if sd is not None else "")


def table(summary: dict, cols: list[str], caption: str, transpose: bool = False) -> str:
    """Variants without any reading in these columns (standard models for the phase columns) are
    left out. Transposed (a row per reading, a column per variant) where the readings are many."""
    cols = [c for c in cols if any(summary[v][c]["n"] for v in summary)]
    shown = [v for v in summary if any(summary[v][c]["n"] for c in cols)]
    if not cols or not shown:
        return ""
    if transpose:
        short = [tex_escape(v.removeprefix("resonator_").replace("_", " ")) for v in shown]
        head = " & ".join(["reading"] + short) + r" \\"
        rows = [" & ".join([LABELS[c]] + [cell(summary[v][c]) for v in shown]) + r" \\" for c in cols]
        spec = "l" + "r" * len(shown)
    else:
        head = " & ".join(["variant"] + [LABELS[c] for c in cols]) + r" \\"
        rows = [" & ".join([tex_escape(v)] + [cell(summary[v][c]) for c in cols]) + r" \\" for v in shown]
        spec = "l" + "r" * len(cols)
    return ("\\begin{table}[tbp]\\centering\\small" + FIT + "\\begin{tabular}{" + spec + "}\\toprule\n" + head
            + "\n\\midrule\n" + "\n".join(rows) + "\n\\bottomrule\\end{tabular}}\n"
            f"\\caption{{{caption}}}\\end{{table}}\n")


PHASE_CAPTION = ("Phase-channel readings of the resonator variants (columns; prefix resonator\\_ omitted) on a "
                 "fixed test-split probe batch, final checkpoints, mean "
                 "$\\pm$ sd over seeds. $\\Delta$loss: loss change when $\\lambda$ is zeroed, the blend is zeroed, or "
                 "phase rows are shuffled (computed on substituted parameters; the trained model is unchanged). "
                 "Attention columns: mean attention weight on rhyming and on other token pairs. "
                 "$R$ columns: the resonance $R_{ij}$ of the probe's token pairs from the run's initial phase table "
                 "and from its trained phases; sd$_j R_{ij}$ is the spread across the keys $j \\le i$ of a query, "
                 "averaged over queries (a spread near 0 makes $\\lambda R$ a constant shift of a query's logits, "
                 "which softmax ignores). Variants without the resonance term in attention carry phase rows too; "
                 "their $R$ is what the term would see.")
SHARED_CAPTION = ("Readings every model has, same probe batch: spectral entropy of activations along the sequence, "
                  "effective rank of hidden states, attention entropy (nats), mean over layers, heads and seeds.")


def figures(plt, per_run: dict, analysis_dir: Path, focus: str, baseline: str) -> list[tuple[str, str]]:
    """Writes the figures into analysis_dir; returns (file name, caption) of each written. `focus`:
    the resonator whose lambda and blend are drawn; its spectrum is drawn against `baseline`'s."""
    figs = []
    # lambda by layer and head (mean over seeds) for the phonetic resonator
    lam_runs = [r["lambda"] for r in per_run.get(focus, {}).values() if r.get("lambda")]
    if lam_runs:
        lam = np.mean(lam_runs, axis=0)
        fig, ax = plt.subplots(figsize=(2.1, 1.75))
        lim = float(np.abs(lam).max()) or 1.0
        im = ax.imshow(lam, cmap="coolwarm", vmin=-lim, vmax=lim, aspect="auto")
        ax.set_xticks(range(lam.shape[1]))
        ax.set_yticks(range(lam.shape[0]))
        for (i, j), x in np.ndenumerate(lam):
            ax.text(j, i, f"{x:.3f}", ha="center", va="center")
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        fig.colorbar(im, ax=ax, label="$\\lambda$, mean over seeds")
        savefig(fig, analysis_dir / "lambda.pdf")
        figs.append(("lambda.pdf", f"learned $\\lambda$ by layer and head (\\texttt{{{tex_escape(focus)}}}, "
                                   "mean over seeds)"))
    blends = [x for r in per_run.get(focus, {}).values() if r.get("blend_values")
              for x in r["blend_values"]]
    if blends:
        fig, ax = plt.subplots(figsize=(2.1, 1.75))
        ax.hist(blends, bins=30)
        ax.set_ylabel("dimensions")
        ax.set_xlabel("$\\sigma(b)$ per dimension, all seeds")
        savefig(fig, analysis_dir / "blend.pdf")
        figs.append(("blend.pdf", f"distribution of the learned blend $\\sigma(b)$ (\\texttt{{{tex_escape(focus)}}})"))
    fig, ax = plt.subplots(figsize=(2.1, 1.75))
    for i, v in enumerate([baseline, focus]):
        specs = [r["spectrum_last_layer"] for r in per_run.get(v, {}).values()]
        if specs:
            m = np.mean(specs, axis=0)
            ax.semilogy(np.arange(1, len(m)), m[1:], label=v, color=f"C{i}")
    ax.set_xlabel("frequency along the sequence")
    ax.set_ylabel("power, last layer")
    ax.legend()
    savefig(fig, analysis_dir / "spectra.pdf")
    figs.append(("spectra.pdf", "power spectra of the last layer's residual stream"))
    return figs


def focus_variants(p) -> tuple[str, str]:
    """The resonator the registered hypotheses test most often, and the baseline it is compared
    with that differs from the default model the least (fewest variant keys): read from params,
    so that renaming a variant never empties a figure."""
    tests = p.hypotheses["tests"]
    counts: dict[str, int] = {}
    for t in tests:
        counts[t["a"]] = counts.get(t["a"], 0) + 1
    focus = max(counts, key=lambda v: (counts[v], -list(counts).index(v)))
    baselines = [t["b"] for t in tests if t["a"] == focus]
    baseline = min(baselines, key=lambda v: (len(p.raw["variants"][v]), baselines.index(v)))
    return focus, baseline


def analysis_tex(summary: dict, per_run: dict, n_probe: int, figs: list[tuple[str, str]], skipped: list,
                 focus: str) -> str:
    """results/<P>/analysis.tex: the instrumentation section's body."""
    if summary:
        body = (f"We ran the three instruments of the framework on the final checkpoint of each of the "
                f"{sum(len(r) for r in per_run.values())} finished runs, on the same {n_probe} windows of "
                "the test split (Tables~\\ref{tab:phase-readings} and~\\ref{tab:shared-readings}, "
                "Figure~\\ref{fig:instruments}).\n\n")
        ph = summary.get(focus, {})
        dl, db, ds = (ph.get(k, {}).get("mean")
                      for k in ("dloss_lambda_zero", "dloss_blend_zero", "dloss_phases_shuffled"))
        if None not in (dl, db, ds):
            # Generated, like every result sentence: which path the trained network actually uses.
            where = ("it uses the phase channel through the embedding blend, hardly through the attention bias"
                     if abs(dl) < 0.01 * abs(db) else
                     "both the attention bias and the embedding blend carry part of the phase channel")
            body += (f"In \\texttt{{{tex_escape(focus)}}}, zeroing every $\\lambda$ changes the probe loss by "
                     f"{num(dl)} nats on average, zeroing the blend by {num(db)}, and shuffling the rows of the "
                     f"phase table by {num(ds)}: {where}.\n\n")
        body += table(summary, PHASE_COLS, PHASE_CAPTION + "\\label{tab:phase-readings}", transpose=True)
        body += table(summary, SHARED_COLS, SHARED_CAPTION + "\\label{tab:shared-readings}")
    else:
        body = "No finished runs to analyse.\n"
    if figs:
        w = f"{0.96 / len(figs):.2f}\\linewidth"
        panels = "\\hfill\n".join(f"\\begin{{minipage}}[t]{{{w}}}\\centering\\includegraphics[width=\\linewidth]"
                                  f"{{gen/analysis/{f}}}\\\\ \\small ({chr(97 + i)}) {c}\\end{{minipage}}"
                                  for i, (f, c) in enumerate(figs))
        body += ("\\begin{figure}[tbp]\\centering\n" + panels + "\n\\caption{Inside the networks.}"
                 "\\label{fig:instruments}\\end{figure}\n")
    if skipped:
        body += f"Runs not analysed (missing or diverged): {len(skipped)}.\n"
    return "% generated by pipeline/analyze.py\n" + body
