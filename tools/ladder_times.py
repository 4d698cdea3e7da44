"""The ladder's measured compute per rung, from the runs' stamps (issue 18).

    python -m tools.ladder_times [--json OUT]

Sums, per rung, the training seconds its tuning and final runs recorded and the seconds their
evaluations took (stamps.json beside each run's record: `wall_time_s` is training alone, without
validations, checkpoint writes, process start-up or DVC's own time per stage; `eval_seconds` is
lm-eval's scoring). Counts the runs that have a record, so a rung in progress shows how far it
got. Its wall clock is longer by each stage's fixed costs (README, Ladder budget).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from resonator.cli import run_main
from resonator.ladder import Ladder
from resonator.layout import LadderLayout
from resonator.params import load_params
from resonator.provenance import read_stamps


def rung_times(lad: Ladder, rung: str, lay: LadderLayout) -> dict:
    tune = [read_stamps(run.stamps).get("train") or {}
            for run in (lay.tune_run(r, v, lr, s) for r, v, lr, s in lad.tuning_runs() if r == rung)
            if run.train_json.exists()]
    train_s = eval_s = 0.0
    finals = 0
    for r, v, s in lad.final_runs():
        run = lay.final_run(r, v, s)
        if r != rung or not run.train_json.exists():
            continue
        finals += 1
        stamps = read_stamps(run.stamps)
        train_s += sum((x or {}).get("wall_time_s") or 0.0 for x in (stamps.get("train") or {}).values())
        eval_s += sum((x or {}).get("eval_seconds") or 0.0 for x in (stamps.get("eval") or {}).values())
    return {"tuning_runs": len(tune), "tuning_train_h": sum(t.get("wall_time_s") or 0.0 for t in tune) / 3600,
            "final_runs": finals, "final_train_h": train_s / 3600, "eval_h": eval_s / 3600}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--runs-root", default="runs")
    ap.add_argument("--json", help="also write the table as JSON here")
    args = ap.parse_args(argv)
    lad = Ladder(load_params(args.params))
    lay = LadderLayout(lad.profile, runs_base=Path(args.runs_root))
    rows = {r: rung_times(lad, r, lay) for r in lad.rungs}
    print("| rung | tuning runs | tuning training h | final runs | final training h | evaluation h |")
    print("|---|---|---|---|---|---|")
    for r, t in rows.items():
        print(f"| {r} | {t['tuning_runs']} | {t['tuning_train_h']:.2f} | {t['final_runs']} | {t['final_train_h']:.2f} "
              f"| {t['eval_h']:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
