"""Train and evaluate every planned run through DVC, N runs at a time.

    python -m tools.run_study -j 2 && dvc repro
    python -m tools.run_study --ladder -j 2 [--rungs d64]     # the ladder's rungs in ladder.run

`dvc repro` runs one stage at a time. On 2 cores two runs at once get through more tokens per
second than one alone (README, Speed, measures the ratio with start-up included and in the
training loops alone): each stage's mostly single-threaded start-up and evaluation overlap the
other run's training. The numerics do not change (2 processes of 1 thread either way). This tool runs each
(variant, seed) as one `dvc repro -s train_<group>@<variant>-<seed> eval_<group>@<variant>-<seed>`
(training, then its evaluation), N such jobs at once, seed by seed (so an interrupted study has
whole seeds);
DVC skips stages that are already up to date, so rerunning it resumes. It first runs the
code_deps stage (a `dvc repro -s` skips upstream stages). Afterwards
`dvc repro` runs what is left (stats, analyze, paper).

With --ladder, each rung in ladder.run goes in three phases, each N calls at once: every
tuning stage (a variant: every rate of the rung's grid, each on the tuning seeds in turn), every
learning-rate selection, then
every (seed, variant)'s final run and its evaluation, seed-major; then ladder_stats. A rung
finishes before the next starts, so an interrupted ladder resumes with whole rungs committed.

With --commit-every MINUTES, the finished runs' records (everything git tracks under the run
folders) and the lock files (dvc.lock, ladder/dvc.lock) are committed at most that often and at
the end of each phase, so a long study loses at most that much to an ended session. A lock is
staged from a snapshot that parses with at least the committed stages: DVC rewrites the file in
place whenever a stage finishes, and a plain `git add` can catch it empty.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from resonator.layout import LADDER_DVCFILE, ladder_stage
from resonator.params import load_params


def jobs(p) -> list[tuple[str, str, int]]:
    """(group, variant, seed), seed-major: every variant of seed 0, then of seed 1, ..."""
    seeds = sorted(set(p.seeds["core"]) | set(p.seeds["ablation"]))
    return [(g, v, s) for s in seeds for g in ("core", "ablation") for v in p.groups[g] if s in p.seeds[g]]


LOCK_BUSY = "Unable to acquire lock"  # DVC's message when another repro holds the repo lock a moment
LOCK_RETRIES = 20


def repro(names: str | tuple[str, ...], log_path: Path) -> int:
    """`dvc repro -s <names>`, retried while the repo lock is busy: two repros that start or finish
    at the same moment contend for DVC's lock for a second, which is not a failure of the run
    (a retry skips the stages that finished)."""
    names = (names,) if isinstance(names, str) else tuple(names)
    for attempt in range(LOCK_RETRIES):
        with open(log_path, "w") as log:
            rc = subprocess.run(["dvc", "repro", "-s", *names], stdout=log, stderr=subprocess.STDOUT).returncode
        if rc == 0 or LOCK_BUSY not in log_path.read_text():
            return rc
        time.sleep(2 + attempt)
    return rc


def lock_snapshot(lock: Path = Path("dvc.lock"), tries: int = 200) -> Path:
    """A copy of `lock` that parses as YAML with at least as many stages as the committed one
    (a repro only adds or updates entries), taken while DVC may be rewriting it."""
    import yaml
    head = subprocess.run(["git", "show", f"HEAD:{lock}"], capture_output=True, text=True).stdout
    floor = len((yaml.safe_load(head) or {}).get("stages", {}))
    snap = Path(tempfile.mkdtemp()) / lock.name
    for _ in range(tries):
        shutil.copy(lock, snap)
        try:
            doc = yaml.safe_load(snap.read_text())
        except yaml.YAMLError:
            doc = None
        if isinstance(doc, dict) and len(doc.get("stages") or {}) >= max(floor, 1):
            return snap
        time.sleep(0.25)
    raise RuntimeError(f"{lock}: no complete copy in {tries} tries (DVC kept rewriting it)")


# every lock file a stage of the study may rewrite: the root's and the ladder runs'
LOCKS = ("dvc.lock", str(Path(LADDER_DVCFILE).with_suffix(".lock")))


class Committer:
    """Commits the run records and the lock files at most every `minutes` (never, if None)."""

    def __init__(self, minutes: float | None, folders: list[str]):
        self.every, self.folders, self.last = (None if minutes is None else minutes * 60), folders, time.monotonic()

    def maybe(self, what: str, force: bool = False) -> None:
        if self.every is None or not (force or time.monotonic() - self.last >= self.every):
            return
        self.last = time.monotonic()
        try:
            self._commit(what)
        except (subprocess.CalledProcessError, RuntimeError) as e:   # e.g. git's index lock held by a user
            print(f"warning: not committed this time ({e}); the next commit takes it along", flush=True)

    def _commit(self, what: str) -> None:
        for lock in LOCKS:
            if not Path(lock).exists():
                continue
            snap = lock_snapshot(Path(lock))
            blob = subprocess.run(["git", "hash-object", "-w", str(snap)], capture_output=True, text=True,
                                  check=True).stdout.strip()
            subprocess.run(["git", "update-index", "--add", "--cacheinfo", f"100644,{blob},{lock}"], check=True)
        subprocess.run(["git", "add", "--", *[f for f in self.folders if Path(f).exists()]], check=True)
        if subprocess.run(["git", "diff", "--cached", "--quiet"]).returncode == 0:
            return
        subprocess.run(["git", "commit", "-q", "-m", f"{what} (tools.run_study --commit-every)"], check=True)
        print(f"committed: {what}", flush=True)


def run_chain(names: tuple[str, ...], logs: Path) -> int:
    """Stages that run in order (a training stage, then its evaluation; or one tuning stage),
    in one `dvc repro -s` call: DVC collects dvc.yaml once per call, which with the ladder's
    hundreds of stages takes seconds."""
    return repro(names, logs / f"{names[0].rpartition(':')[2]}.log")   # the stage name, not its file


def run_parallel(chains: list[tuple[str, ...]], n: int, logs: Path, label: str,
                 committer: Committer | None = None) -> list[tuple[str, ...]]:
    """Each chain in order, n chains at once; the failed chains."""
    failed = []
    committer = committer or Committer(None, [])
    with ThreadPoolExecutor(n) as pool:
        futures = {pool.submit(run_chain, c, logs): c for c in chains}
        for k, fut in enumerate(as_completed(futures), 1):
            chain, rc = futures[fut], fut.result()
            status = "done" if rc == 0 else f"FAILED (exit {rc}, see {logs})"
            print(f"[{label} {k}/{len(chains)}] {chain[0]}: {status}", flush=True)
            if rc:
                failed.append(chain)
            committer.maybe(f"{label}: {k - len(failed)} of {len(chains)} stage chains finished")
    committer.maybe(f"{label}: {len(chains) - len(failed)} of {len(chains)} stage chains finished", force=True)
    return failed


def ladder_chains(rung: str, variants: list[str], seeds: list[int]) -> list[list[tuple[str, ...]]]:
    """The rung's phases, each a list of chains that may run at once: every variant's tuning
    stage; every learning-rate selection; every (seed, variant)'s final run then its
    evaluation, seed-major."""
    tune = [(ladder_stage(f"tune@{rung}-{v}"),) for v in variants]
    select = [(ladder_stage(f"select_lr@{rung}-{v}"),) for v in variants]
    final = [(ladder_stage(f"train_rung@{rung}-{v}-{s}"), ladder_stage(f"eval_rung@{rung}-{v}-{s}"))
             for s in seeds for v in variants]
    return [tune, select, final]


PHASES = ("tune", "select", "final")


def run_ladder(n: int, logs: Path, only: list[str] | None, commit_every: float | None,
               phases: tuple[str, ...] = PHASES) -> int:
    from resonator.ladder import Ladder
    lad = Ladder(load_params())
    lay = lad.layout
    committer = Committer(commit_every, [str(lay.runs), str(lay.results)])
    rungs = [r for r in lad.raw.get("run", []) if not only or r in only]
    if not rungs:
        print("no rung to run: ladder.run is empty (a draft) or --rungs names none of it", file=sys.stderr)
        return 1
    for rung in rungs:
        for phase, label in zip(ladder_chains(rung, lad.variants, lad.seeds), PHASES, strict=True):
            if label not in phases:
                continue
            failed = run_parallel(phase, n, logs, f"ladder {rung} {label}", committer)
            if failed:
                print(f"{len(failed)} stage chain(s) of {rung} failed; rerun this command to retry them",
                      file=sys.stderr)
                return 1
    rc = repro("ladder_stats", logs / "ladder_stats.log")
    committer.maybe("ladder_stats", force=True)
    return 0 if rc == 0 else 1


def fingerprints_current(logs: Path) -> bool:
    """Brings fingerprints/ up to date first: every `dvc repro -s` below skips upstream stages, so
    a code change would otherwise go unseen by the runs it affects."""
    if repro("code_deps", logs / "code_deps.log"):
        print(f"dvc repro -s code_deps failed (see {logs / 'code_deps.log'})", file=sys.stderr)
        return False
    changed = subprocess.run(["git", "status", "--porcelain", "--", "fingerprints"], capture_output=True,
                             text=True).stdout.strip()
    if changed:
        print("warning: the code differs from the last commit (fingerprints/ changed); the runs record "
              "code that is not in git until you commit it", flush=True)
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-j", "--jobs", type=int, default=2, help="runs at once (default 2)")
    ap.add_argument("--logs", default="logs/run_study", help="one log per stage")
    ap.add_argument("--ladder", action="store_true",
                    help="run the ladder's rungs (ladder.run) instead of the main study")
    ap.add_argument("--rungs", nargs="+", help="with --ladder: only these rungs")
    ap.add_argument("--commit-every", type=float, metavar="MINUTES",
                    help="git-commit the finished runs' records and dvc.lock at most this often (default: never)")
    ap.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES),
                    help="with --ladder: only these phases of each rung (default all). Each finished chain "
                         "costs a `dvc repro` call to skip (seconds each), so a rung whose tuning is done "
                         "resumes faster with --phases final")
    args = ap.parse_args(argv)
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    if not fingerprints_current(logs):
        return 1
    if args.ladder:
        return run_ladder(args.jobs, logs, args.rungs, args.commit_every, tuple(args.phases))
    p = load_params()
    chains = [(f"train_{g}@{v}-{s}", f"eval_{g}@{v}-{s}") for g, v, s in jobs(p)]
    failed = run_parallel(chains, args.jobs, logs, "run", Committer(args.commit_every, [str(p.layout.runs)]))
    if failed:
        print(f"{len(failed)} run(s) failed; rerun this command to retry them", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
