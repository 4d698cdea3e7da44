"""Train and evaluate every planned run through DVC, N runs at a time.

    python -m tools.run_study -j 2 && dvc repro

`dvc repro` runs one stage at a time. On 2 cores two runs at once train 1.15-1.2x the
tokens per second of one alone (README, Speed) and overlap each stage's start-up, and
the numerics do not change (2 processes of 1 thread either way). This tool runs each
(variant, seed) as `dvc repro -s train_<group>@<variant>-<seed>` then the matching eval
stage, N such jobs at once, seed by seed (so an interrupted study has whole seeds);
DVC skips stages that are already up to date, so rerunning it resumes. Afterwards
`dvc repro` runs what is left (stats, analyze, paper).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from resonator.params import load_params


def jobs(p) -> list[tuple[str, str, int]]:
    """(group, variant, seed), seed-major: every variant of seed 0, then of seed 1, ..."""
    seeds = sorted(set(p.seeds["core"]) | set(p.seeds["ablation"]))
    return [(g, v, s) for s in seeds for g in ("core", "ablation") for v in p.groups[g] if s in p.seeds[g]]


LOCK_BUSY = "Unable to acquire lock"  # DVC's message when another repro holds the repo lock a moment
LOCK_RETRIES = 20


def repro(name: str, log_path: Path) -> int:
    """`dvc repro -s name`, retried while the repo lock is busy: two repros that start or finish
    at the same moment contend for DVC's lock for a second, which is not a failure of the run."""
    for attempt in range(LOCK_RETRIES):
        with open(log_path, "w") as log:
            rc = subprocess.run(["dvc", "repro", "-s", name], stdout=log, stderr=subprocess.STDOUT).returncode
        if rc == 0 or LOCK_BUSY not in log_path.read_text():
            return rc
        time.sleep(2 + attempt)
    return rc


def run_one(job: tuple[str, str, int], logs: Path) -> tuple[tuple[str, str, int], int]:
    group, variant, seed = job
    for stage in ("train", "eval"):
        name = f"{stage}_{group}@{variant}-{seed}"
        rc = repro(name, logs / f"{name}.log")
        if rc:
            return job, rc
    return job, 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-j", "--jobs", type=int, default=2, help="runs at once (default 2)")
    ap.add_argument("--logs", default="logs/run_study", help="one log per stage")
    args = ap.parse_args(argv)
    p = load_params()
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    todo = jobs(p)
    failed = []
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run_one, j, logs) for j in todo]
        for k, fut in enumerate(as_completed(futures), 1):
            job, rc = fut.result()
            print(f"[{k}/{len(todo)}] {job[1]} s{job[2]}: "
                  + ("done" if rc == 0 else f"FAILED (exit {rc}, see {logs})"), flush=True)
            if rc:
                failed.append(job)
    if failed:
        print(f"{len(failed)} run(s) failed; rerun this command to retry them", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
