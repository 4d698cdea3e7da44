"""Fabricated ladder outputs (tuning records, select_lr's choices, final-run records with
per-length curves and test-document scores) for testing ladder_stats and the paper without
training. Clearly synthetic: never used for results."""
import json
import math
from pathlib import Path

import numpy as np

from resonator.layout import LadderLayout

# bits per byte relative to `standard`; "slope" adds slope x (log10 params - 6) to resonator_phonetic
EFFECT = {"standard": 0.0, "standard_param_matched": -0.001, "standard_embedding_matched": 0.0,
          "resonator_random": 0.0, "resonator_phonetic": 0.0}
TOKENS_META = {"vocab_size": 2048, "splits": {"train": {"tokens": 1_608_761, "documents": 425, "bytes": 5_062_762},
                                               "test": {"tokens": 200_133, "documents": 52, "bytes": 624_302}}}


def write_tokens_meta(path: Path, meta: dict = TOKENS_META) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(meta))
    return path


def fabricate_tuning(lad, layout: LadderLayout, best_index: int = 2):
    """Tuning records whose loss is a parabola in log lr with its minimum at grid[best_index]; select_lr's files."""
    from evals.tuning import select
    for r in lad.rungs:
        for v in lad.variants:
            losses = {}
            for i, lr in enumerate(lad.rung_grid(r)):
                for s in lad.tune_seeds:
                    loss = 5.0 + 0.05 * (i - best_index) ** 2 + 0.001 * (s % 7)
                    run = layout.tune_run(r, v, lr, s)
                    run.dir.mkdir(parents=True, exist_ok=True)
                    run.train_json.write_text(json.dumps({"diverged": False, "metrics": {"val_loss": loss},
                                                          "selection": {"val_loss": loss}}))
                    run.stamps.write_text(json.dumps({"train": {"wall_time_s": 36.0}}))
                    losses.setdefault(lr, {})[s] = loss
            choice = select(lad.rung_grid(r), lad.tune_seeds, losses)
            for f, doc in ((layout.tuning_table(r, v), {"rung": r, "variant": v, **choice}),
                           (layout.lr_file(r, v), {"rung": r, "variant": v, "lr": choice["lr"]})):
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_text(json.dumps(doc))


def fabricate_finals(lad, layout: LadderLayout, vocab: int = 2048, slope: float = 0.0, noise: float = 0.004,
                     missing_rungs=()):
    """Final-run records for every (rung, variant, seed) and length, outside `missing_rungs`."""
    rng = np.random.default_rng(0)
    base = {s: 1.9 + rng.normal(0, 0.02) for s in lad.seeds}
    for r in lad.rungs:
        if r in missing_rungs:
            continue
        logn = math.log10(lad.scale_params(r, vocab))
        for v in lad.variants:
            for s in lad.seeds:
                fr = layout.final_run(r, v, s)
                trains, evals = {}, {}
                for k, x in enumerate(lad.lengths(r)):
                    run = fr.length(x)
                    bpb = (base[s] - 0.05 * k - 0.1 * (logn - 6) + EFFECT.get(v, 0.0)
                           + (slope * (logn - 6) if v == "resonator_phonetic" else 0.0) + rng.normal(0, noise))
                    trains[f"{x:g}"] = {"diverged": False, "length": x,
                                        "metrics": {"val_loss": bpb * 1.6, "val_ppl": float(np.exp(bpb * 1.6)),
                                                    "n_params": 300_000,
                                                    "tokens_seen": int(800_000 * x / 0.5)}}
                    evals[f"{x:g}"] = {"diverged": False, "length": x,
                                       "metrics": {"lm_test/bits_per_byte": bpb,
                                                   "lm_test/word_perplexity": float(np.exp(bpb * 4)),
                                                   "rhyme/acc": 0.25, "cloze/acc": 0.1, "agreement/acc": 0.5}}
                    run.dir.mkdir(parents=True, exist_ok=True)
                    run.eval_dir.mkdir(parents=True, exist_ok=True)
                    items = [{"doc_id": i,
                              "bits_per_byte": [-bpb * 1000 * np.log(2) * (1 + 0.01 * i), 1000 * (1 + 0.01 * i)]}
                             for i in range(5)]
                    run.items.write_text(json.dumps({"lm_test": items}))
                    rows = ["step\ttokens\ttrain_loss\tval_loss\tval_ppl"]
                    for j, tok in enumerate((0, 400_000, 800_000)):
                        vl = 7.0 - j * (7.0 - bpb * 1.6) / 2
                        rows.append(f"{j}\t{tok}\t{vl + 0.05:.4f}\t{vl:.4f}\t{np.exp(vl):.2f}")
                    run.curve.write_text("\n".join(rows) + "\n")
                fr.train_json.write_text(json.dumps({"lengths": trains}))
                fr.stamps.write_text(json.dumps({"train": {k: {"wall_time_s": 360.0} for k in trains},
                                                 "eval": {k: {"eval_seconds": 36.0} for k in evals}}))
                fr.eval_json.write_text(json.dumps({"lengths": evals}))
