"""DVC stage `eval_rung`: evaluate the FINAL weights of every length of one ladder run
(issue 18) through lm-eval, as pipeline.evaluate does for the main study.

    python -m pipeline.eval_rung --rung d128 --variant standard --seed 3

Reads the ladder profile's eval section; writes, per length,
runs/ladder/<P>/final/<rung>/<variant>/s<seed>/eval/<length>/{results.json, samples_<task>.jsonl,
items.json, eval.json}, and every length's scores in .../s<seed>/eval.json. A length whose
scores were made from the same checkpoint (sha256) and eval settings is kept.
"""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")   # before datasets / lm_eval are imported
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import argparse  # noqa: E402
import sys  # noqa: E402

from resonator.atomic import atomic_dir, atomic_write_json  # noqa: E402
from resonator.cli import run_main  # noqa: E402
from resonator.errors import ProjectError  # noqa: E402
from resonator.inputs import read_json  # noqa: E402
from resonator.ladder import Ladder  # noqa: E402
from resonator.layout import Layout, length_tag  # noqa: E402
from resonator.params import load_params  # noqa: E402
from resonator.provenance import read_stamps, write_stamps  # noqa: E402


def evaluate_length(run, cfg: dict, data: Layout, seed: int, cuda: bool, head: dict) -> tuple[dict, dict | None]:
    """Score one length's final weights: (its record, its stamps; None: scored before, keep the old
    stamps). A diverged length gets an empty eval folder and no scores."""
    from evals.run import flat_metrics, score, write_scores
    from resonator.checkpoint import CheckpointError
    from resonator.npm import sha256_of
    train_rec = read_json(run.train_json, "rerun the ladder's training stage (`dvc repro train_rung`)")
    record = {**head, "length": run.length, "eval_config": cfg}
    if train_rec.get("diverged"):
        with atomic_dir(run.eval_dir) as staged:
            atomic_write_json(staged / "eval.json", record | {"diverged": True, "metrics": {}})
        return record | {"diverged": True, "metrics": {}}, {}
    if not run.final.is_file():
        raise CheckpointError(run.final, "checkpoint does not exist", "train the run first: `dvc repro train_rung`")
    sha = sha256_of(run.final)
    if run.eval_json.exists():
        old = read_json(run.eval_json, "delete it; the stage scores that length again")
        if old.get("checkpoint_sha256") == sha and old.get("eval_config") == cfg:
            print(f"{run.name}: already scored from this checkpoint, kept", flush=True)
            return old, None
    hub = {"tasks_key": f"profiles.{head['profile']}.eval.tasks",
           "allow_hub_hint": f"set profiles.{head['profile']}.eval.allow_hub: true",
           "batch_key": f"profiles.{head['profile']}.eval.batch_size"}
    res, samples, stamps = score(run.final, data.tokenizer, cfg["tasks"], data.evalsets, batch_size=cfg["batch_size"],
                                 device="cuda" if cuda else "cpu", seed=seed, allow_hub=cfg.get("allow_hub", False),
                                 **hub)
    record.update({"diverged": False, "metrics": flat_metrics(res), "checkpoint_sha256": sha})
    with atomic_dir(run.eval_dir) as staged:
        write_scores(staged, res, samples)
        atomic_write_json(staged / "eval.json", record)
    return record, stamps


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rung", required=True)
    ap.add_argument("--variant", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args(argv)
    p = load_params(args.params)
    lad = Ladder(p)
    lad.rung(args.rung)
    if args.variant not in lad.variants or args.seed not in lad.seeds:
        raise ProjectError(f"{p.path}: key 'ladder'", f"plans no final run {args.rung}/{args.variant}/s{args.seed}",
                           "pick a variant of ladder.variants and a seed of ladder.seeds")
    lad.require_registered()
    data = Layout(lad.profile)
    cfg = p.raw["profiles"][lad.profile]["eval"]
    from evals.tasks import check_tasks
    from resonator.tokenizer import verify_tokens
    verify_tokens(data.tokens, splits=(), tokenizer=data.tokenizer)
    check_tasks(cfg["tasks"], data.evalsets, cfg.get("allow_hub", False),
                tasks_key=f"profiles.{lad.profile}.eval.tasks",
                allow_hub_hint=f"set profiles.{lad.profile}.eval.allow_hub: true")
    final = lad.layout.final_run(args.rung, args.variant, args.seed)
    head = {"ladder": True, "profile": lad.profile, "rung": args.rung, "variant": args.variant, "seed": args.seed,
            "ladder_hash": p.ladder_hash, "prereg_hash": p.prereg_hash}
    cuda = p.raw["profiles"][lad.profile]["train"]["device"] == "cuda"
    records, stamps = {}, read_stamps(final.stamps).get("eval", {})
    for x in lad.lengths(args.rung):
        print(f"{lad.progress_tag(args.rung, args.variant, args.seed)} {args.rung} {args.variant} s{args.seed} "
              f"{length_tag(x)}: evaluating "
              f"{', '.join(cfg['tasks'])}", flush=True)
        records[f"{x:g}"], new = evaluate_length(final.length(x), cfg, data, args.seed, cuda, head)
        if new is not None:
            stamps[f"{x:g}"] = new
    write_stamps(final.stamps, "eval", {k: v for k, v in stamps.items() if k in records})
    atomic_write_json(final.eval_json, {**head, "lengths": records})
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
