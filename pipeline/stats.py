"""DVC stage `stats`: the registered design-v2 tests, and every table, figure and number the
paper uses.

    python -m pipeline.stats [--profile P] [--runs-root runs] [--out results] [--design PATH]

Refuses an undecidable design first (evals.design.require_decidable), then reads exactly the
planned runs (runs/<P>/*/s*/{train,eval}.json, curve.tsv, eval/items.json; unplanned runs are
listed, never counted), the design stage's results/<P>/design/design.json (margins in metric
units, design MDEs) and each superseded version's stats.json. The analysis is evals.study;
the writing is reporting.study_results. Writes results/<P>/: stats.json, verdicts.json, summary.md, tex/
and figures/.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from evals import study
from reporting.numbers import fmt, fmt_ci, fmt_p
from reporting.study_results import write_results
from resonator.cli import run_main
from resonator.inputs import read_json
from resonator.layout import Layout


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--runs-root", default="runs")
    ap.add_argument("--out", default="results")
    ap.add_argument("--design", help="the design stage's design.json (default <out>/<P>/design/design.json)")
    ap.add_argument("--original", default="paper/original_results.yaml")
    args = ap.parse_args(argv)
    p = study.load_registered(args.params, args.profile)   # design before data
    lay = Layout(p.profile, runs_base=Path(args.runs_root), results_base=Path(args.out))
    runs, ignored = study.load_runs(lay, p.runs())
    design_path = Path(args.design) if args.design else lay.design / "design.json"
    design = read_json(design_path, "rerun the design stage: `python -m pipeline.design` or `dvc repro design`",
                       missing_fix="run the design stage first: `python -m pipeline.design` or `dvc repro design`")
    rows = study.check_design(design, p, design_path)
    original = yaml.safe_load(Path(args.original).read_text())
    if ignored:
        print(f"stats: ignored {len(ignored)} run(s) outside the plan: {', '.join(ignored)}")
    hyps = study.analyse(p, runs, rows, design["meta"]["bytes_per_token"])
    summ = study.variant_summaries(p, runs)
    meta = study.stats_meta(p, runs, summ, ignored, design, original)
    if meta["other_registration_runs"]:
        print("stats: warning: " + study.other_registration_text(meta["other_registration"], p.prereg_hash, names=False)
              + " (listed in stats.json and summary.md)", file=sys.stderr)
    write_results(lay.results, p, design, summ, hyps, study.superseded(p), meta, runs)
    print(f"stats: {meta['n_runs']} runs ({meta['n_diverged']} diverged) -> {lay.results}")
    for r in hyps:
        c = r["comparison"] or {}
        print(f"  {r['id']:4s} {r['a']} - {r['b']}: diff {fmt(c.get('mean_diff'))} "
              f"{fmt_ci(c.get('ci_low'), c.get('ci_high'))} p_holm {fmt_p(c.get('p_adjusted'))} -> {r['verdict']}"
              + (f"  [{r['registration']}]" if r["amendment"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
