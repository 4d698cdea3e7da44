"""Fabricated run outputs (train.json, eval.json, items.json, curve.tsv) for testing the
statistics and paper stages without training. Clearly synthetic: never used for results."""
import json
from pathlib import Path

import numpy as np

# synthetic effects in bits per byte, relative to `standard`
EFFECT = {"standard_notebook": 0.40, "standard": 0.0, "standard_param_matched": -0.002, "resonator_random": -0.001,
          "resonator_phonetic": -0.001, "resonator_small": 0.05, "resonator_shuffled": 0.0,
          "resonator_no_resonance": 0.0, "resonator_no_blend": 0.002}
NOISE = 0.005   # sd of each run's own noise in bits per byte (the seed effect is shared by all variants)
# the fabricated test split: bytes per token as in the small profile's Brown split
TOKENS_META = {"splits": {"test": {"tokens": 200_000, "documents": 5, "bytes": 624_000}}}


def fabricate(root: Path, profile: str, groups: dict, seeds: dict, diverged=(), missing=(), effects=None,
              noise=None):
    """Runs of every planned (variant, seed), except `missing`; `diverged` runs are marked so.
    effects: {variant: bits per byte} replacing EFFECT's; noise: {variant: sd} replacing NOISE."""
    effect = EFFECT | (effects or {})
    rng = np.random.default_rng(0)
    base = {s: 2.0 + rng.normal(0, 0.02) for s in range(20)}   # seed effect shared across variants
    for group in ("core", "ablation"):
        for v in groups[group]:
            for s in seeds[group]:
                if (v, s) in missing:
                    continue
                d = Path(root) / profile / v / f"s{s}"
                (d / "eval").mkdir(parents=True, exist_ok=True)
                bpb = base[s] + effect.get(v, 0.0) + rng.normal(0, (noise or {}).get(v, NOISE))
                div = (v, s) in diverged
                train = {"variant": v, "seed": s, "diverged": div}
                if not div:
                    train["metrics"] = {"val_loss": bpb * 1.6, "val_ppl": float(np.exp(bpb * 1.6)),
                                        "n_params": 300_000, "tokens_seen": 800_000}
                (d / "train.json").write_text(json.dumps(train))
                (d / "stamps.json").write_text(json.dumps({"train": {"tokens_per_s": 14000.0}}))
                if div:
                    (d / "eval.json").write_text(json.dumps({"diverged": True, "metrics": {}}))
                    continue
                metrics = {"lm_test/bits_per_byte": bpb, "lm_test/word_perplexity": float(np.exp(bpb * 4)),
                           "rhyme/acc": 0.25 + rng.normal(0, 0.02), "cloze/acc": 0.1 + rng.normal(0, 0.01),
                           "agreement/acc": 0.5 + rng.normal(0, 0.02)}
                (d / "eval.json").write_text(json.dumps({"diverged": False, "metrics": metrics}))
                items = [{"doc_id": i,
                          "bits_per_byte": [-bpb * 1000 * np.log(2) * (1 + 0.01 * i), 1000 * (1 + 0.01 * i)]}
                         for i in range(5)]
                (d / "eval" / "items.json").write_text(json.dumps({"lm_test": items}))
                rows = ["step\ttokens\ttrain_loss\tval_loss\tval_ppl"]
                for k, tok in enumerate((0, 400_000, 800_000)):
                    vl = 7.0 - k * (7.0 - bpb * 1.6) / 2
                    rows.append(f"{k}\t{tok}\t{vl + 0.05:.4f}\t{vl:.4f}\t{np.exp(vl):.2f}")
                (d / "curve.tsv").write_text("\n".join(rows) + "\n")


def fabricate_tokens_meta(path: Path) -> Path:
    """A tokenize stage's meta.json with the test split's bytes and tokens (what the design stage reads)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(TOKENS_META))
    return path


def fabricated_results(tmp: Path, params: Path) -> Path:
    """`tmp`/results of a fabricated study: every planned run of `params` fabricated, then the
    real design and stats stages run over them (what the paper stage reads)."""
    import subprocess
    import sys

    from resonator.params import load_params
    p = load_params(params)
    fabricate(tmp / "runs", p.profile, p.groups, p.seeds)
    fabricate_tokens_meta(tmp / "meta.json")
    for stage in (["pipeline.design", "--meta", str(tmp / "meta.json")],
                  ["pipeline.stats", "--runs-root", str(tmp / "runs")]):
        r = subprocess.run([sys.executable, "-m", *stage, "--params", str(params), "--out", str(tmp / "results")],
                           cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    return tmp / "results"


def build_paper(params: Path, results: Path, out: Path) -> Path:
    """The paper stage on `results`, into `out` (LaTeX build folder beside it: <out stem>-build)."""
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "pipeline.paper", "--results", str(results), "--params", str(params),
                        "--build", str(out.parent / (out.stem + "-build")), "--out", str(out)],
                       cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return out
