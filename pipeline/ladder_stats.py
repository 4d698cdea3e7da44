"""DVC stage `ladder_stats`: the ladder's verdicts per (rung, length), the trend over the
ladder, and its tables, figures and sentences (issue 18).

    python -m pipeline.ladder_stats [--runs-root runs] [--out results] [--meta PATH]

Reads the final runs' records (runs/ladder/<P>/final/*/*/s*/{train,eval}.json; per length the
curve and the test documents' scores), the tuning records and select_lr's choices, the test
split's bytes per token (data/<P>/tokens/meta.json) and the main registration's pilot (design
MDEs). The analysis is evals.ladder (each cell by evals.study, the trend by evals.trend); the
writing is reporting.ladder_results. Writes results/<P>/ladder/{ladder.json, verdicts.json,
summary.md, tex/, figures/}. Runs on whatever finished: a cell without runs says so.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evals import ladder as el
from reporting.ladder_results import write_ladder_results
from resonator.cli import run_main
from resonator.inputs import read_json, read_tokens_meta
from resonator.ladder import Ladder
from resonator.layout import LadderLayout
from resonator.params import load_params


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--runs-root", default="runs")
    ap.add_argument("--out", default="results")
    ap.add_argument("--meta", help="the tokenize stage's meta.json (default data/<P>/tokens/meta.json)")
    args = ap.parse_args(argv)
    p = load_params(args.params)
    lad = Ladder(p)
    layout = LadderLayout(lad.profile, runs_base=Path(args.runs_root), results_base=Path(args.out))
    tokens_meta, meta_path = read_tokens_meta(lad.profile, args.meta)
    pilot = read_json(p.hypotheses["pilot"], "restore it from git: the pilot sizes the design MDEs")
    doc = el.analyse_ladder(p, lad, layout, tokens_meta, meta_path, pilot)
    write_ladder_results(layout.results, doc)
    done = sum(c["n_runs"] for c in doc["cells"])
    print(f"ladder_stats: {done} run-lengths in {doc['meta']['n_done_cells']} of {len(doc['cells'])} cells "
          f"-> {layout.results}")
    for hid, s in doc["stability"].items():
        print(f"  {hid}: {s['pattern']}: " + ", ".join(f"{k} {v}" for k, v in s["verdicts"].items()))
    lacking = {c["label"]: c["n_runs_lacking_outputs"] for c in doc["cells"] if c["n_runs_lacking_outputs"]}
    if lacking:
        print("ladder_stats: warning: trained run-lengths without their per-document scores or curve in this "
              f"checkout ({', '.join(f'{k}: {n}' for k, n in lacking.items())}); the multi-bootstrap and curve "
              "comparisons of those cells are partial: `dvc pull` or `dvc checkout`, then rerun", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
