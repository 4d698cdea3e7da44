"""DVC stage `stats`: the registered design-v2 tests, and every table, figure and number the
paper uses.

    python -m pipeline.stats [--profile P] [--runs-root runs] [--out results] [--design PATH]

Refuses an undecidable design first (evals.design.require_decidable), then reads exactly the
planned runs (runs/<P>/*/s*/{train,eval}.json, curve.tsv, eval/items.json; unplanned runs are
listed, never counted), the design stage's results/<P>/design/design.json (margins in metric
units, design MDEs) and each superseded version's stats.json. The analysis is evals.study;
the writing is reporting. Writes results/<P>/: stats.json, verdicts.json, summary.md, tex/
and figures/.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from evals import study
from evals.curves import variant_curves
from evals.design import DESIGN_RULE
from evals.stats import INCOMPLETE_PAIR_RULE, VERDICT_RULE_V2
from reporting import figures, prose, tables
from reporting.macros import original_macros, rules_tex, stamp_macros, stats_macros
from reporting.numbers import fmt, fmt_ci, fmt_p
from reporting.summary import summary_md
from resonator.atomic import atomic_dir, atomic_write_json, atomic_write_text
from resonator.cli import run_main
from resonator.inputs import read_json
from resonator.layout import STAMPS_NAME, Layout
from resonator.provenance import provenance, write_stamps


def run_meta(p, runs: dict, summ: dict, ignored: list[str], design: dict, original: dict) -> dict:
    """What stats.json says about how its numbers were made."""
    done = [r["train"] for v in runs.values() for r in v.values() if r["train"]]
    h = p.hypotheses
    return {"profile": p.profile, "design_version": h["version"], "registered": h["registered"],
            "primary_metric": h["primary_metric"],
            "prereg_hash": p.prereg_hash, "params_hash": p.hash, "amendments_hash": p.amendments_hash,
            "design_meta": design["meta"],
            "n_runs": len(done), "n_diverged": sum(bool(t.get("diverged")) for t in done), "ignored_runs": ignored,
            "other_registration_runs": study.other_registration(runs, p.prereg_hash),
            "other_registration": study.other_registration_groups(runs, p),
            "tokens_seen": next((e["tokens_seen"] for e in summ.values() if e.get("tokens_seen")), None),
            "families": study.families(study.all_tests(h)), "registered_families": study.families(h["tests"]),
            "amendments": study.amendments_summary(h), "verdict_rule": VERDICT_RULE_V2,
            "incomplete_pair_rule": INCOMPLETE_PAIR_RULE, "design_rule": DESIGN_RULE, "seeds": p.seeds,
            "groups": p.groups, "original": original}


def run_stamps(runs: dict) -> dict:
    """How the numbers were made, kept apart from them (results/<P>/stamps.json, tex/stamps.tex)."""
    return {"provenance": provenance(), "train_hardware": study.train_hardware(runs),
            "tokens_per_s": study.tokens_per_s(runs)}


def flat_verdicts(hyps: list[dict]) -> dict:
    """verdicts.json, for `dvc metrics show`: the decision and its numbers per hypothesis."""
    out = {}
    for r in hyps:
        c = r["comparison"] or {}
        out[r["id"]] = {"verdict": r["verdict"], "registration": r["registration"], "n": c.get("n", 0),
                        "diff": c.get("mean_diff"),
                        "ci_low": c.get("ci_low"), "ci_high": c.get("ci_high"), "p_adj": c.get("p_adjusted"),
                        "p_equivalence_adj": c.get("p_equivalence_adjusted"), "margin": r["margin"]["value"]}
    return study.strict_json(out)


def write(out: Path, p, design: dict, summ: dict, hyps: list[dict], sups: list[dict], meta: dict, runs: dict) -> None:
    """tex/ and figures/ are built in staging directories and swapped in at the end of the
    block; the single files are written last: a failure anywhere leaves the old results."""
    rows = {d["id"]: d for d in design["rows"]}
    latex = prose.Style(True, p.profile, prose.values_of(design, hyps))
    primary = p.hypotheses["primary_metric"]
    per_seed = {v: e["metrics"][primary]["per_seed"] for v, e in summ.items()}
    with atomic_dir(out / "tex") as tex, atomic_dir(out / "figures") as figs:
        stamps = run_stamps(runs)
        for name, text in (("numbers.tex", stats_macros(p, design, summ, hyps, meta)),
                           ("stamps.tex", stamp_macros(p.profile, stamps)),
                           ("original.tex", original_macros(meta["original"])), ("rules.tex", rules_tex()),
                           ("table_variants.tex", tables.variants_latex(summ)),
                           ("table_hypotheses.tex", tables.hypotheses_latex(hyps)),
                           ("table_secondary.tex", tables.secondary_latex(hyps, rows)),
                           ("table_design.tex", tables.design_latex(design, "pipeline/stats.py from design.json")),
                           ("table_prereg.tex", tables.prereg_latex(p)),
                           ("superseded.tex", tables.superseded_latex(sups)),
                           ("amendments.tex", "% generated by pipeline/stats.py from hypotheses.amendments\n"
                            + prose.amendments_paragraph(meta, latex) + "\n"),
                           ("claims.tex", prose.claims(design, hyps, latex)),
                           ("abstract.tex", prose.abstract_result(hyps, latex)),
                           ("conclusion.tex", prose.conclusion(design, hyps, latex))):
            atomic_write_text(tex / name, text)
        plt = figures.setup_matplotlib()
        figures.fig_forest(plt, hyps, figs / "forest.pdf")
        figures.fig_curve_diff(plt, hyps, figs / "curve_diff.pdf")
        figures.fig_slopes(plt, hyps, per_seed, figs / "slopes.pdf")
        figures.fig_curves(plt, {v: variant_curves(runs, v) for v in summ}, figs / "curves.pdf")
        figures.fig_strip(plt, per_seed, figs / "strip.pdf")
        atomic_write_json(out / "stats.json", study.strict_json({"meta": meta, "variants": summ, "hypotheses": hyps,
                                                                 "superseded": sups}))
        atomic_write_json(out / "verdicts.json", flat_verdicts(hyps))
        atomic_write_text(out / "summary.md", summary_md(p, design, summ, hyps, sups, meta))
        write_stamps(out / STAMPS_NAME, "stats", stamps)


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
    meta = run_meta(p, runs, summ, ignored, design, original)
    if meta["other_registration_runs"]:
        print("stats: warning: " + study.other_registration_text(meta["other_registration"], p.prereg_hash, names=False)
              + " (listed in stats.json and summary.md)", file=sys.stderr)
    write(lay.results, p, design, summ, hyps, study.superseded(p), meta, runs)
    print(f"stats: {meta['n_runs']} runs ({meta['n_diverged']} diverged) -> {lay.results}")
    for r in hyps:
        c = r["comparison"] or {}
        print(f"  {r['id']:4s} {r['a']} - {r['b']}: diff {fmt(c.get('mean_diff'))} "
              f"{fmt_ci(c.get('ci_low'), c.get('ci_high'))} p_holm {fmt_p(c.get('p_adjusted'))} -> {r['verdict']}"
              + (f"  [{r['registration']}]" if r["amendment"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
