"""The ladder's result files, written by the `ladder_stats` stage: ladder.json, verdicts.json,
summary.md, and the tex/ and figures/ the paper's "Does it scale?" section includes."""
from __future__ import annotations

from pathlib import Path

from evals.study import strict_json
from reporting import ladder_figures, ladder_prose, ladder_tables
from reporting.figures import setup_matplotlib
from resonator.atomic import atomic_dir, atomic_write_json, atomic_write_text

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
        "## Training lengths", "", ladder_prose.lengths(doc, latex=False),
        "## Every cell", "", ladder_tables.detail_md(doc), "## Trend over the ladder", "", ladder_tables.trend_md(doc),
        *(["### Over the cells of earlier versions", "", ladder_tables.earlier_trend_md(doc)]
          if doc.get("earlier_trends") else []),
        f"Rule: {meta['trend_rule']}", "", f"Tuning rule: {meta['tuning_rule']}", ""])


def write_ladder_results(out: Path, doc: dict) -> None:
    """tex/ and figures/ are swapped in whole; the single files are written last."""
    meta = doc["meta"]
    with atomic_dir(out / "tex") as tex, atomic_dir(out / "figures") as figs:
        for name, text in (("registration.tex", ladder_prose.registration(meta, doc["rungs"], latex=True)),
                           ("stability.tex", ladder_prose.stability(doc, latex=True)),
                           ("lengths.tex", ladder_prose.lengths(doc, latex=True)),
                           ("abstract.tex", ladder_prose.abstract(doc, latex=True)),
                           ("table_rungs.tex", ladder_tables.rungs_latex(doc)),
                           ("table_lr.tex", ladder_tables.lr_latex(doc)),
                           ("table_verdicts.tex", ladder_tables.verdicts_latex(doc)),
                           ("table_detail.tex", ladder_tables.detail_latex(doc)),
                           ("table_trend.tex", ladder_tables.trend_latex(doc)),
                           ("table_trend_earlier.tex", ladder_tables.earlier_trend_latex(doc))):
            atomic_write_text(tex / name, text)
        plt = setup_matplotlib()
        ladder_figures.fig_ladder(plt, doc, figs / "ladder.pdf")
        ladder_figures.fig_tuning(plt, doc, figs / "tuning.pdf")
        atomic_write_json(out / "ladder.json", strict_json(doc))
        atomic_write_json(out / "verdicts.json", flat_verdicts(doc))
        atomic_write_text(out / "summary.md", summary_md(doc))
