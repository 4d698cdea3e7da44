"""Thin lm-eval CLI that knows the `resonator` model (lm-eval's stock CLI cannot discover it).

    python -m evals \
        --model_args checkpoint=runs/small/standard/s0/ckpt/final.pt,tokenizer=data/small/tokenizer/tokenizer.json \
        --tasks lm_test,rhyme --data_dir data/small/evalsets --output_path out/ --log_samples --batch_size 16
"""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from resonator.cli import run_main  # noqa: E402


def parse_model_args(s: str) -> dict:
    out = {}
    for part in filter(None, s.split(",")):
        k, _, v = part.partition("=")
        out[k.strip()] = v.strip()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resonator", choices=["resonator"])
    ap.add_argument("--model_args", required=True, help="checkpoint=PATH,tokenizer=PATH[,device=cpu]")
    ap.add_argument("--tasks", required=True, help="comma-separated task names")
    ap.add_argument("--data_dir", default=None, help="folder of the local tasks' JSONL files")
    ap.add_argument("--batch_size", default="16")
    ap.add_argument("--device", default=None)
    ap.add_argument("--limit", type=float, default=None)
    ap.add_argument("--output_path", default=None)
    ap.add_argument("--log_samples", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--allow_hub", action="store_true", help="permit lm-eval built-in tasks (needs network)")
    args = ap.parse_args(argv)

    from evals.run import evaluate_checkpoint, flat_metrics
    from resonator.atomic import atomic_write_text

    margs = parse_model_args(args.model_args)
    if "checkpoint" not in margs or "tokenizer" not in margs:
        ap.error("--model_args needs checkpoint=PATH and tokenizer=PATH")
    data_dir = args.data_dir or str(Path(margs["tokenizer"]).parent.parent / "evalsets")
    limit = int(args.limit) if args.limit and args.limit >= 1 else args.limit
    # expected failures (a missing or corrupt checkpoint, tokenizer or task file) are
    # ProjectErrors: run_main prints them as one line
    res = evaluate_checkpoint(margs["checkpoint"], margs["tokenizer"], args.tasks.split(","), data_dir,
                              batch_size=args.batch_size, device=args.device or margs.get("device", "cpu"),
                              limit=limit, seed=args.seed, allow_hub=args.allow_hub,
                              log_samples=args.log_samples, tasks_key="--tasks", allow_hub_hint="add --allow_hub",
                              batch_key="--batch_size", batch_fix="pass a positive integer, e.g. --batch_size 16")
    metrics = flat_metrics(res)
    if args.output_path:
        out = Path(args.output_path)
        out.mkdir(parents=True, exist_ok=True)
        samples = res.pop("samples", None)
        atomic_write_text(out / "results.json", json.dumps(res, indent=1, default=str))
        if samples:
            for task, rows in samples.items():
                atomic_write_text(out / f"samples_{task}.jsonl",
                                  "".join(json.dumps(r, default=str) + "\n" for r in rows))
    print(json.dumps(metrics, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
