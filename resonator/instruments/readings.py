"""The instruments' readings of a trained run (the analyze stage's library): a fixed probe batch
from the test split, every reading of one final checkpoint, and their spread over seeds."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from resonator.checkpoint import load_model
from resonator.instruments.analyzers import ComplexityAnalyzer, FrequencyAnalyzer, ResonanceAnalyzer, resonance_spread
from resonator.instruments.base import InstrumentedTransformer
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


SCALARS = ["blend_mean", "lambda_abs_mean", "lambda_r_share", "attention_rhyme", "attention_other",
           "dloss_lambda_zero", "dloss_blend_zero", "dloss_phases_shuffled", "r_mean_init", "r_sd_keys_init",
           "r_mean_final", "r_sd_keys_final", "spectral_entropy", "effective_rank", "attention_entropy"]


def spread(values):
    v = [x for x in values if x is not None]
    return {"n": len(v), "mean": float(np.mean(v)) if v else None,
            "sd": float(np.std(v, ddof=1)) if len(v) > 1 else None, "per_seed": values}


def summarize(per_run: dict) -> dict:
    """{variant: {reading: spread over its seeds}} of {variant: {seed: readings}}."""
    return {v: {c: spread([r.get(c) for r in runs.values()]) for c in SCALARS} for v, runs in per_run.items()}
