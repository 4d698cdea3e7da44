"""DVC stage `verify`, the last of `dvc repro`: is the regenerated study the committed one?

    python -m pipeline.verify [--against HEAD] [--rtol 0] [--atol 0]

Compares every git-tracked file under runs/<P>/, runs/ladder/<P>/, metrics/<P>/ and
results/<P>/ with its version in the commit `--against`, leaving out the stamps that say when,
where and how fast (evals.reproduction). Prints "reproduced: ..." and exits 0, or prints each
difference and exits 1. Runs retrained under a changed config, runs the commit does not have,
and the aggregates of a changed plan (params.yaml differs from the commit's) are listed, not
failed. On the machine that made the commit the numbers are bitwise equal (the default,
--rtol 0 --atol 0); across CPU models they move slightly (README, Determinism), so pass a
tolerance there, e.g. --atol 0.02.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from evals.reproduction import Difference, Report, compare_file
from resonator.cli import run_main
from resonator.errors import ProjectError
from resonator.layout import LadderLayout, Layout
from resonator.params import load_params

SHOWN = 40   # differences printed before "... and N more"


def git(*args: str, text: bool = True) -> str | bytes:
    r = subprocess.run(["git", *args], capture_output=True, text=text)
    if r.returncode != 0:
        err = r.stderr if text else r.stderr.decode(errors="replace")
        raise ProjectError("git " + " ".join(args[:2]), err.strip().splitlines()[-1] if err.strip() else "failed",
                           "run verify inside the project's git clone, against a commit it has")
    return r.stdout


def study_folders(p) -> list[str]:
    lay, lad = Layout(p.profile), LadderLayout(p.profile)
    return [str(lay.runs), str(lad.runs), str(lay.metrics), str(lay.results)]


def verify(ref: str, folders: list[str], rtol: float, atol: float) -> tuple[Report, bool]:
    """The report, and whether the plan (params.yaml) is the committed one."""
    changed = [f for f in git("diff", "--name-only", "-z", ref, "--", *folders).split("\0") if f]
    tracked = [f for f in git("ls-files", "-z", "--", *folders).split("\0") if f]
    plan_same = not git("diff", "--name-only", ref, "--", "params.yaml").strip()
    rep = Report(new=[f for f in git("ls-files", "-z", "--others", "--exclude-standard", "--", *folders)
                      .split("\0") if f])
    changed_set = set(changed)
    rep.identical = [f for f in tracked if f not in changed_set]
    for f in changed:
        path = Path(f)
        if not path.exists():
            rep.differences.append(Difference(f, "", "a committed file", "missing"))
            continue
        kind, diffs = compare_file(f, git("show", f"{ref}:{f}", text=False), path.read_bytes(), rtol, atol)
        if kind == "different" and not f.startswith("runs/") and not plan_same:
            kind, diffs = "unchecked", []      # aggregates of another plan differ on purpose
        if kind == "different":
            rep.differences += diffs
        else:
            {"identical": rep.identical, "other_config": rep.other_config, "unchecked": rep.unchecked}[kind].append(f)
    return rep, plan_same


def runs_in(files: list[str]) -> int:
    return sum(1 for f in files if f.startswith("runs/") and f.endswith("/train.json"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--against", default="HEAD", help="the commit holding the results to reproduce")
    ap.add_argument("--rtol", type=float, default=0.0, help="relative tolerance for numbers (default: exact)")
    ap.add_argument("--atol", type=float, default=0.0, help="absolute tolerance for numbers (default: exact)")
    args = ap.parse_args(argv)
    p = load_params(args.params)
    sha = git("rev-parse", "--short", "--verify", f"{args.against}^{{commit}}").strip()
    rep, plan_same = verify(args.against, study_folders(p), args.rtol, args.atol)
    tol = "exactly" if args.rtol == args.atol == 0 else f"within atol {args.atol:g} + rtol {args.rtol:g}"
    notes = []
    if rep.new:
        notes.append(f"{len(rep.new)} files the commit does not have ({runs_in(rep.new)} new runs)")
    if rep.other_config:
        notes.append(f"{len(rep.other_config)} run records retrained under a changed config")
    if rep.unchecked:
        why = "the plan (params.yaml) changed" if not plan_same else "stamped binaries (PDF, PNG)"
        notes.append(f"{len(rep.unchecked)} files not compared ({why})")
    tail = f" [{'; '.join(notes)}]" if notes else ""
    if rep.reproduced:
        print(f"reproduced: {runs_in(rep.identical)} runs and {len(rep.identical)} files in all match "
              f"commit {sha} {tol}, stamps (times, provenance) left out{tail}")
        return 0
    files = sorted({d.path for d in rep.differences})
    print(f"NOT reproduced: {len(rep.differences)} differences in {len(files)} files against commit {sha} "
          f"({tol}); {len(rep.identical)} files match{tail}")
    for d in rep.differences[:SHOWN]:
        print("  " + d.line())
    if len(rep.differences) > SHOWN:
        print(f"  ... and {len(rep.differences) - SHOWN} more")
    return 1


if __name__ == "__main__":
    sys.exit(run_main(main))
