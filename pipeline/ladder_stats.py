"""DVC stage `ladder_stats`: the ladder's verdicts per (rung, length), the trend over the
ladder, and its tables, figures and sentences (issue 18).

    python -m pipeline.ladder_stats [--runs-root runs] [--out results] [--meta PATH]

Reads the final runs' records (runs/ladder/<P>/final/*/*/s*/{train,eval}.json; per length the
curve and the test documents' scores), the tuning records and select_lr's choices, the test
split's bytes per token (data/<P>/tokens/meta.json) and the main registration's pilot (design
MDEs). The analysis is evals.ladder (each cell by evals.study, the trend by evals.trend); the
writing is reporting.ladder_*. Writes results/<P>/ladder/{ladder.json, verdicts.json,
summary.md, tex/, figures/}. Runs on whatever finished: a cell without runs says so.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evals import ladder as el
from evals.study import strict_json
from reporting import ladder_figures, ladder_prose, ladder_tables
from reporting.figures import setup_matplotlib
from resonator.atomic import atomic_dir, atomic_write_json, atomic_write_text
from resonator.cli import run_main
from resonator.inputs import read_json, read_tokens_meta
from resonator.ladder import Ladder
from resonator.layout import LadderLayout
from resonator.params import load_params

NOT_RUN = "not run"   # verdicts.json's word for a registered cell with no runs yet


def flat_verdicts(doc: dict) -> dict:
    """verdicts.json, for `dvc metrics show`: per cell and hypothesis the verdict and difference;
    per hypothesis and term the trend's verdict and slope."""
    out = {}
    for c in doc["cells"]:
        for r in c["analysis"]["hypotheses"]:
            cmp_ = r["comparison"] or {}
            # a registered cell without runs yet: the procedure's "inconclusive" would read as a finding
            verdict = r["verdict"] if c["n_runs"] else NOT_RUN
            out.setdefault(c["label"], {})[r["id"]] = {"verdict": verdict, "n": cmp_.get("n", 0),
                                                       "diff": cmp_.get("mean_diff")}
    for t in doc["trends"]:
        for term, s in (t.get("slopes") or {}).items():
            out.setdefault("trend", {})[f"{t['id']}/{term}"] = {"verdict": s["verdict"], "slope": s["slope"]}
    return strict_json(out)


def summary_md(doc: dict) -> str:
    meta = doc["meta"]
    return "\n".join([
        f"# The ladder ({meta['profile']} profile, {meta['status']})", "",
        ladder_prose.registration(meta, doc["rungs"], latex=False), "## Rungs", "", ladder_tables.rungs_md(doc),
        "## Learning rates chosen (validation only)", "", ladder_tables.lr_md(doc),
        "## Verdicts per rung and length", "", ladder_tables.verdicts_md(doc), ladder_prose.stability(doc, latex=False),
        "## Every cell", "", ladder_tables.detail_md(doc), "## Trend over the ladder", "", ladder_tables.trend_md(doc),
        f"Rule: {meta['trend_rule']}", "", f"Tuning rule: {meta['tuning_rule']}", ""])


def write(out: Path, doc: dict) -> None:
    """tex/ and figures/ are swapped in whole; the single files are written last."""
    meta = doc["meta"]
    with atomic_dir(out / "tex") as tex, atomic_dir(out / "figures") as figs:
        for name, text in (("registration.tex", ladder_prose.registration(meta, doc["rungs"], latex=True)),
                           ("stability.tex", ladder_prose.stability(doc, latex=True)),
                           ("abstract.tex", ladder_prose.abstract(doc, latex=True)),
                           ("table_rungs.tex", ladder_tables.rungs_latex(doc)),
                           ("table_lr.tex", ladder_tables.lr_latex(doc)),
                           ("table_verdicts.tex", ladder_tables.verdicts_latex(doc)),
                           ("table_detail.tex", ladder_tables.detail_latex(doc)),
                           ("table_trend.tex", ladder_tables.trend_latex(doc))):
            atomic_write_text(tex / name, text)
        plt = setup_matplotlib()
        ladder_figures.fig_ladder(plt, doc, figs / "ladder.pdf")
        ladder_figures.fig_tuning(plt, doc, figs / "tuning.pdf")
        atomic_write_json(out / "ladder.json", strict_json(doc))
        atomic_write_json(out / "verdicts.json", flat_verdicts(doc))
        atomic_write_text(out / "summary.md", summary_md(doc))


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
    write(layout.results, doc)
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
