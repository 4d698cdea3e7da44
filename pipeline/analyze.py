"""DVC stage `analyze`: the instruments on the final checkpoint of every run, on a fixed probe
batch from the test split.

Writes results/<P>/analysis/{analysis.json, *.pdf} and results/<P>/analysis.tex (the paper's
instrumentation section). Diverged or missing runs are listed, not dropped silently.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch

from reporting.figures import savefig, setup_matplotlib
from reporting.latex import tex_escape
from resonator.atomic import atomic_dir, atomic_write_json, atomic_write_text
from resonator.checkpoint import load_model
from resonator.cli import run_main
from resonator.inputs import read_json
from resonator.instruments import (
    ComplexityAnalyzer,
    FrequencyAnalyzer,
    InstrumentedTransformer,
    ResonanceAnalyzer,
    resonance_spread,
)
from resonator.params import load_for_stage
from resonator.tokenizer import load_tokens

PROBE_WINDOWS = 8


def probe_batch(tokens_dir: Path, seq_len: int) -> torch.Tensor:
    test = load_tokens(tokens_dir, "test")
    n = min(PROBE_WINDOWS, (len(test) - 1) // (seq_len + 1))
    rows = np.stack([test[i * (seq_len + 1):(i + 1) * (seq_len + 1)] for i in range(n)]).astype(np.int64)
    return torch.from_numpy(rows)


def analyse_run(ckpt: Path, probe: torch.Tensor, classes: np.ndarray, init_phase: torch.Tensor | None = None) -> dict:
    model = load_model(ckpt).eval()
    w = InstrumentedTransformer(model)
    w.register_instrument(FrequencyAnalyzer())
    w.register_instrument(ComplexityAnalyzer())
    w.register_instrument(ResonanceAnalyzer(classes))
    _, a = w(probe[:, :-1], probe[:, 1:])
    w.detach_all()
    freq, comp, res = a["frequency"]["layers"], a["complexity"]["layers"], a["resonance"]
    out = {
        "spectral_entropy": float(np.mean([r["spectral_entropy"] for r in freq])),
        "spectrum_last_layer": freq[-1]["power"],
        "effective_rank": float(np.mean([r["effective_rank"] for r in comp])),
        "participation_ratio": float(np.mean([r["participation_ratio"] for r in comp])),
        "attention_entropy": float(np.mean([np.mean(r["attention_entropy"]) for r in comp])),
        "compression_ratio": float(np.mean([r["compression_ratio"] for r in comp])),
    }
    if res.get("applicable"):
        out["blend_mean"] = res["blend"]["mean"] if "blend" in res else None
        out["blend_values"] = res["blend"]["values"] if "blend" in res else None
        lam = [row for row in res["lambda"] if row is not None]
        out["lambda"] = lam or None
        out["lambda_abs_mean"] = float(np.mean(np.abs(lam))) if lam else None
        out["lambda_r_share"] = float(np.mean(res["lambda_r_share"])) if res["lambda_r_share"] else None
        rh = [x for x in res.get("attention_rhyme_pairs", []) if not math.isnan(x)]
        out["attention_rhyme"] = float(np.mean(rh)) if rh else None
        out["attention_other"] = float(np.mean(res["attention_other_pairs"]))
        out.update({f"dloss_{k}": v for k, v in res["delta_loss"].items() if k != "base_loss"})
    if getattr(model, "phase", None) is not None and init_phase is not None:
        # how much the resonance varies across keys, at init (the run's own phase table) and after training
        for when, table in (("init", init_phase), ("final", model.phase)):
            for k, v in resonance_spread(table, probe[:, :-1]).items():
                out[f"{k}_{when}"] = v
    return out


def initial_phases(p, variant: str, seed: int, classes: np.ndarray) -> torch.Tensor | None:
    """The phase table the run started from, by the function the training stage uses."""
    from resonator.phases import run_phase_table
    return run_phase_table(p.model_config(variant, int(classes.shape[0])), classes, seed, p.active["phases"])


SCALARS = ["blend_mean", "lambda_abs_mean", "lambda_r_share", "attention_rhyme", "attention_other",
           "dloss_lambda_zero", "dloss_blend_zero", "dloss_phases_shuffled", "r_mean_init", "r_sd_keys_init",
           "r_mean_final", "r_sd_keys_final", "spectral_entropy", "effective_rank", "attention_entropy"]
LABELS = {"blend_mean": r"mean $\sigma(b)$", "lambda_abs_mean": r"mean $|\lambda|$",
          "lambda_r_share": r"$\lambda R$ share", "attention_rhyme": "attn. rhyme pairs",
          "attention_other": "attn. other pairs",
          "dloss_lambda_zero": r"$\Delta$loss $\lambda{=}0$", "dloss_blend_zero": r"$\Delta$loss blend${=}0$",
          "dloss_phases_shuffled": r"$\Delta$loss shuffled $\phi$", "r_mean_init": r"mean $R$, init",
          "r_sd_keys_init": r"sd$_j R_{ij}$, init", "r_mean_final": r"mean $R$, trained",
          "r_sd_keys_final": r"sd$_j R_{ij}$, trained", "spectral_entropy": "spectral entropy",
          "effective_rank": "effective rank", "attention_entropy": "attn. entropy"}


def spread(values):
    v = [x for x in values if x is not None]
    return {"n": len(v), "mean": float(np.mean(v)) if v else None,
            "sd": float(np.std(v, ddof=1)) if len(v) > 1 else None, "per_seed": values}


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


def main(argv=None) -> int:
    p = load_for_stage()
    # analysis/ is built in a staging directory and replaces the old one only on success
    with atomic_dir(p.layout.analysis) as staged:
        return analyze(p, staged)


def _analyse_runs(p, classes: np.ndarray) -> tuple[dict, list[dict], torch.Tensor | None]:
    """The instruments' readings of every finished run ({variant: {seed: readings}}), the runs
    skipped (missing or diverged, with the reason) and the probe batch (None if none was read)."""
    lay = p.layout
    per_run, skipped = {}, []
    probe = None
    for variant, seed in p.runs():
        run = lay.run(variant, seed)
        tj = run.train_json
        if not tj.exists():
            skipped.append({"variant": variant, "seed": seed, "reason": "missing run"})
            continue
        if read_json(tj, f"rerun the training stage: `python -m pipeline.train --variant {variant} --seed {seed}`"
                         " or `dvc repro`").get("diverged"):
            skipped.append({"variant": variant, "seed": seed, "reason": "diverged"})
            continue
        if probe is None:
            probe = probe_batch(lay.tokens, p.active["model"]["max_seq_len"])
        per_run.setdefault(variant, {})[seed] = analyse_run(run.final, probe, classes,
                                                            initial_phases(p, variant, seed, classes))
    return per_run, skipped, probe


def _figures(plt, per_run: dict, analysis_dir: Path) -> list[tuple[str, str]]:
    """Writes the figures into analysis_dir; returns (file name, caption) of each written."""
    figs = []
    # lambda by layer and head (mean over seeds) for the phonetic resonator
    lam_runs = [r["lambda"] for r in per_run.get("resonator_phonetic", {}).values() if r.get("lambda")]
    if lam_runs:
        lam = np.mean(lam_runs, axis=0)
        fig, ax = plt.subplots(figsize=(2.6, 2.1))
        lim = float(np.abs(lam).max()) or 1.0
        im = ax.imshow(lam, cmap="coolwarm", vmin=-lim, vmax=lim, aspect="auto")
        ax.set_xticks(range(lam.shape[1]))
        ax.set_yticks(range(lam.shape[0]))
        for (i, j), x in np.ndenumerate(lam):
            ax.text(j, i, f"{x:.3f}", ha="center", va="center", fontsize=7)
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        fig.colorbar(im, ax=ax, label="$\\lambda$, mean over seeds")
        savefig(fig, analysis_dir / "lambda.pdf")
        figs.append(("lambda.pdf", "learned $\\lambda$ by layer and head (phonetic resonator, mean over seeds; "
                     "initialised at 0.1)"))
    blends = [x for r in per_run.get("resonator_phonetic", {}).values() if r.get("blend_values")
              for x in r["blend_values"]]
    if blends:
        fig, ax = plt.subplots(figsize=(2.6, 2.1))
        ax.hist(blends, bins=30)
        ax.set_ylabel("dimensions")
        ax.set_xlabel("$\\sigma(b)$ per dimension, all seeds")
        savefig(fig, analysis_dir / "blend.pdf")
        figs.append(("blend.pdf", "distribution of the learned blend $\\sigma(b)$"))
    fig, ax = plt.subplots(figsize=(2.6, 2.1))
    for i, v in enumerate(["standard", "resonator_phonetic"]):
        specs = [r["spectrum_last_layer"] for r in per_run.get(v, {}).values()]
        if specs:
            m = np.mean(specs, axis=0)
            ax.semilogy(np.arange(1, len(m)), m[1:], label=v, color=f"C{i}")
    ax.set_xlabel("frequency along the sequence")
    ax.set_ylabel("power, last layer")
    ax.legend(fontsize=6)
    savefig(fig, analysis_dir / "spectra.pdf")
    figs.append(("spectra.pdf", "power spectra of the last layer's residual stream"))
    return figs


def analyze(p, analysis_dir: Path) -> int:
    lay = p.layout
    classes = np.load(lay.classes)
    out = lay.results
    per_run, skipped, probe = _analyse_runs(p, classes)
    summary = {v: {c: spread([r.get(c) for r in runs.values()]) for c in SCALARS} for v, runs in per_run.items()}
    atomic_write_json(analysis_dir / "analysis.json", {"summary": summary, "runs": per_run, "skipped": skipped,
                                                       "probe_windows": PROBE_WINDOWS})
    plt = setup_matplotlib()
    figs = _figures(plt, per_run, analysis_dir)
    if summary:
        body = (f"We ran the three instruments of the framework on the final checkpoint of each of the "
                f"{sum(len(r) for r in per_run.values())} finished runs, on the same {probe.shape[0]} windows of "
                "the test split (Tables~\\ref{tab:phase-readings} and~\\ref{tab:shared-readings}, "
                "Figure~\\ref{fig:instruments}).\n\n")
        ph = summary.get("resonator_phonetic", {})
        dl, db, ds = (ph.get(k, {}).get("mean")
                      for k in ("dloss_lambda_zero", "dloss_blend_zero", "dloss_phases_shuffled"))
        if None not in (dl, db, ds):
            # Generated, like every result sentence: which path the trained network actually uses.
            where = ("it uses the phase channel through the embedding blend, hardly through the attention bias"
                     if abs(dl) < 0.01 * abs(db) else
                     "both the attention bias and the embedding blend carry part of the phase channel")
            body += (f"In the phonetic resonator, zeroing every $\\lambda$ changes the probe loss by {num(dl)} nats on "
                     f"average, zeroing the blend by {num(db)}, and shuffling the rows of the phase table by "
                     f"{num(ds)}: {where}.\n\n")
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
    atomic_write_text(out / "analysis.tex", "% generated by pipeline/analyze.py\n" + body)
    print(f"analyze: {sum(len(r) for r in per_run.values())} runs, {len(skipped)} skipped -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
