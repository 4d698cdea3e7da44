"""DVC stage `eval_*`: evaluate the FINAL checkpoint of one run through lm-eval (never best-val).

    python -m pipeline.evaluate --variant standard --seed 0

Reads profiles.<P>.eval; writes runs/<P>/<variant>/s<seed>/eval/{results.json, samples_<task>.jsonl,
items.json} and the flat metrics runs/<P>/<variant>/s<seed>/eval.json.
"""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")   # before datasets / lm_eval are imported
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

from resonator.atomic import atomic_dir, atomic_write_json  # noqa: E402
from resonator.cli import run_main  # noqa: E402
from resonator.inputs import read_json  # noqa: E402
from resonator.params import load_for_stage  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--profile", help="profile to evaluate (tools without DVC; default: the one params.yaml selects)")
    args = ap.parse_args(argv)
    p = load_for_stage(profile=args.profile)
    from evals.design import require_decidable
    require_decidable(p)
    p.variant(args.variant)
    cfg = p.active["eval"]
    lay, run = p.layout, p.layout.run(args.variant, args.seed)
    out_dir = run.eval_dir
    train_cmd = f"`python -m pipeline.train --variant {args.variant} --seed {args.seed}` or `dvc repro`"
    train_rec = read_json(run.train_json, f"rerun the training stage: {train_cmd}",
                          missing_fix=f"train the run first: {train_cmd}")
    record = {"profile": p.profile, "variant": args.variant, "seed": args.seed,
              "params_hash": p.hash, "prereg_hash": p.prereg_hash}
    if train_rec.get("diverged"):
        # pre-registered rule: a diverged run has no scores; statistics lists it as excluded
        record.update({"diverged": True, "metrics": {}})
        with atomic_dir(out_dir):  # an empty eval/ (the declared output), no stale scores
            pass
        atomic_write_json(run.eval_json, record)
        return 0

    # every input checked before lm-eval is even imported
    from evals.tasks import check_tasks
    from resonator.checkpoint import CheckpointError
    from resonator.tokenizer import verify_tokens
    tokenizer = lay.tokenizer
    verify_tokens(lay.tokens, splits=(), tokenizer=tokenizer)  # the tokenizer the tokens were made with
    ckpt = run.final
    if not ckpt.is_file():
        raise CheckpointError(ckpt, "checkpoint does not exist", f"train the run first: {train_cmd}")
    hub = {"tasks_key": f"profiles.{p.profile}.eval.tasks",
           "allow_hub_hint": f"set profiles.{p.profile}.eval.allow_hub: true"}
    check_tasks(cfg["tasks"], lay.evalsets, cfg.get("allow_hub", False), **hub)

    from evals.run import flat_metrics, score, write_scores
    from resonator.npm import sha256_of
    from resonator.provenance import write_stamps
    planned = p.runs()
    index = planned.index((args.variant, args.seed)) + 1 if (args.variant, args.seed) in planned else "?"
    print(f"[{index}/{len(planned)}] {args.variant} s{args.seed}: evaluating {', '.join(cfg['tasks'])}", flush=True)
    res, samples, stamps = score(ckpt, tokenizer, cfg["tasks"], lay.evalsets, batch_size=cfg["batch_size"],
                                 device="cuda" if p.active["train"]["device"] == "cuda" else "cpu",
                                 seed=args.seed, allow_hub=cfg.get("allow_hub", False),
                                 batch_key=f"profiles.{p.profile}.eval.batch_size", **hub)
    with atomic_dir(out_dir) as staged:
        write_scores(staged, res, samples)
    record.update({"diverged": False, "metrics": flat_metrics(res), "checkpoint_sha256": sha256_of(ckpt)})
    write_stamps(run.stamps, "eval", stamps)
    atomic_write_json(run.eval_json, record)
    print(json.dumps(record["metrics"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
