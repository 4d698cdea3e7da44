"""DVC stage `phases`: rhyme classes of every token, and a look at the phase tables.

Reads profiles.<P>.phases and data/<P>/tokenizer; writes data/<P>/phases/{classes.npy,
classes.json} and metrics/<P>/phases.json. The tables themselves are drawn per run seed
by the training stage (resonator.phases.phase_table); here we record their spread at
seed 0 so a reader can check it.
"""
from __future__ import annotations

import json
import sys

import numpy as np

from resonator.atomic import atomic_dir, atomic_save_npy, atomic_write_json
from resonator.cli import run_main
from resonator.params import load_for_stage
from resonator.phases import KINDS, class_stats, phase_table, rhyme_classes
from resonator.tokenizer import load_tokenizer

# docs/original.md: the original found a class for ~35k of 50,257 GPT-2 tokens, in ~8k classes.
ORIGINAL = {"tokens_with_class": 35000, "classes": 8000, "vocab_size": 50257}


def table_spread(classes, cfg) -> dict:
    out = {}
    for kind in KINDS:
        t = phase_table(classes, kind, cfg["n_phases"], seed=0, sigma=cfg["sigma"], jitter=cfg["jitter"])
        out[kind] = {"std": float(t.std())}
        if kind == "phonetic":
            within = [float(t[classes == c].std(0).mean()) for c in np.unique(classes[classes >= 0])
                      if (classes == c).sum() >= 2]
            out[kind]["mean_within_class_std"] = float(np.mean(within)) if within else None
    return out


def run(cfg: dict, tokenizer_path, out_dir, metrics_path) -> dict:
    tok = load_tokenizer(tokenizer_path)
    classes, names = rhyme_classes(tok, cfg["min_letters"])
    sample = {tok.decode([i]): names[c] for i, c in enumerate(classes[:2000]) if c >= 0}
    with atomic_dir(out_dir) as staged:
        atomic_save_npy(staged / "classes.npy", classes)
        atomic_write_json(staged / "classes.json", {"names": names, "sample_token_to_rhyme": sample})
    metrics = {**class_stats(classes), "tables_seed0": table_spread(classes, cfg), "original_gpt2": ORIGINAL}
    atomic_write_json(metrics_path, metrics)
    return metrics


def main(argv=None) -> int:
    p = load_for_stage()
    m = run(p.active["phases"], p.layout.tokenizer, p.layout.phases, p.layout.stage_metrics("phases"))
    print(json.dumps({k: m[k] for k in ("vocab_size", "tokens_with_class", "classes")}))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
