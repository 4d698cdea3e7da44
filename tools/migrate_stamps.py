"""One-off migration (issue 21): move the stamps out of records written before they were kept apart.

    python -m tools.migrate_stamps [--root .] [--dry-run]

Until 2026-11-28 a run's train.json and eval.json held its wall time, speed and provenance, the
lm-eval results.json its date and environment, and ckpt/last.pt the training seconds, so a
reproduction that computed the same numbers still rewrote the records and dvc.lock. The code now
writes those stamps to a stamps.json beside each record (resonator.provenance; DVC ignores it).
This rewrites the records made before into what the code writes now, moving every stamp into
stamps.json unchanged; no number of a result changes. Checkpoints lose their wall time and are
saved as the current code saves them (the current training code's hashes, optimizer keys
interned). Idempotent. Afterwards `dvc commit -f` records the new hashes, and the stats stages
rerun (`dvc repro`). The archived design-v1 records (results/<P>/v1/) are left as they were.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from evals.run import split_run_info
from resonator.atomic import atomic_torch_save, atomic_write_json, atomic_write_text
from resonator.checkpoint import interned_keys
from resonator.cli import run_main
from resonator.provenance import STAMPS_NAME, read_stamps, split_stamps, write_stamps

# ckpt/last.pt's keys in the order resonator.train.save_state writes them
STATE_KEYS = ("format", "fingerprint", "config_json", "code", "model", "optimizer", "step", "tokens_seen",
              "curve_json", "interval_losses_json", "rng_cpu", "num_threads", "rng_cpu_ranks", "rng_cuda")


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def merge_stamps(path: Path, section: str, stamps: dict) -> None:
    """Add `stamps` to stamps.json's section, keeping what it has (a rerun of this tool adds nothing)."""
    old = read_stamps(path).get(section) or {}
    write_stamps(path, section, {**stamps, **old})


def record(path: Path, section: str, dry: bool, keep_stamps: bool = True) -> bool:
    """A run record (train.json / eval.json, flat or per length): stamps out, into stamps.json
    (dropped with keep_stamps=False: a ladder length's eval.json, whose stamps the run's own
    eval.json holds too)."""
    if not path.is_file():
        return False
    doc = read(path)
    if isinstance(doc.get("lengths"), dict):       # a ladder final run: one record per length
        out, stamps = dict(doc), {}
        out["lengths"] = {}
        for x, rec in doc["lengths"].items():
            out["lengths"][x], stamps[x] = split_stamps(rec) if rec else (rec, {})
        stamps = {x: s for x, s in stamps.items() if s}
    else:
        out, stamps = split_stamps(doc)
    if out == doc:
        return False
    if not dry:
        if keep_stamps:
            merge_stamps(path.with_name(STAMPS_NAME), section, stamps)
        atomic_write_json(path, out)
    return True


def lm_eval_results(path: Path, stamps_path: Path, root: Path, dry: bool, length: str | None = None) -> bool:
    """lm-eval's results.json without its date and environment (kept in stamps.json's eval), its
    task config paths relative to the repository `root`."""
    if not path.is_file():
        return False
    res = read(path)
    clean, info = split_run_info(res, root)
    if clean == res:
        return False
    if not dry:
        if info and length is None:
            merge_stamps(stamps_path, "eval", {"lm_eval_run": info})
        elif info:     # a ladder length's: beside the length's other eval stamps, as pipeline.eval_rung writes them
            section = read_stamps(stamps_path).get("eval") or {}
            write_stamps(stamps_path, "eval", {**section, length: {"lm_eval_run": info, **(section.get(length) or {})}})
        atomic_write_text(path, json.dumps(clean, indent=1, default=str))   # as pipeline.evaluate writes it
    return True


def checkpoint(path: Path, code: dict, dry: bool) -> bool:
    """ckpt/last.pt as the current code writes it: no training seconds, current code hashes."""
    import torch
    if not path.is_file():
        return False
    saved = torch.load(path, map_location="cpu", weights_only=False)
    if "elapsed" not in saved and saved.get("code") == code:
        return False
    new = {k: saved[k] for k in STATE_KEYS if k in saved}
    new["code"] = code
    new["optimizer"] = interned_keys(new["optimizer"])
    if not dry:
        atomic_torch_save(path, new)
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=".", help="the repository (default: here)")
    ap.add_argument("--dry-run", action="store_true", help="count what would change, change nothing")
    args = ap.parse_args(argv)
    from resonator.train import code_hashes
    code, dry, root = code_hashes(), args.dry_run, Path(args.root)
    counts: dict[str, int] = {}

    def count(kind: str, changed: bool) -> None:
        counts[kind] = counts.get(kind, 0) + int(changed)

    runs = root / "runs"
    for f in sorted(runs.rglob("train.json")):
        count("train.json", record(f, "train", dry))
    for f in sorted(runs.rglob("eval.json")):
        count("eval.json", record(f, "eval", dry, keep_stamps=f.parent.parent.name != "eval"))
    for f in sorted(runs.rglob("results.json")):
        # main study: <run>/eval/results.json; ladder: <run>/eval/<length tag>/results.json
        if f.parent.parent.name == "eval":
            count("results.json", lm_eval_results(f, f.parent.parent.parent / STAMPS_NAME, root, dry,
                                                  length=f.parent.name.removeprefix("e")))
        else:
            count("results.json", lm_eval_results(f, f.parent.parent / STAMPS_NAME, root, dry))
    for f in sorted(runs.rglob("last.pt")):
        count("last.pt", checkpoint(f, code, dry))
    verb = "would change" if dry else "changed"
    print(f"migrate_stamps: {verb} " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
