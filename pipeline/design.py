"""DVC stage `design`: what the registered design can decide, before any run.

    python -m pipeline.design [--profile P] [--params params.yaml] [--out results] [--meta PATH]

Reads hypotheses/groups/seeds from params.yaml, the pilot's stats.json (hypotheses.pilot)
and the test split's bytes and tokens (data/<P>/tokens/meta.json, or --meta); writes
results/<P>/design/: design.json, table_design.tex, macros.tex and design.md. An
undecidable design is refused first (evals.design.require_decidable), as in every stage
that trains or analyses. Needs no run.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evals import study
from reporting import tables
from reporting.macros import design_macros
from resonator.atomic import atomic_dir, atomic_write_json, atomic_write_text
from resonator.cli import run_main
from resonator.inputs import read_json, read_tokens_meta
from resonator.layout import Layout


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default="results")
    ap.add_argument("--meta", help="the tokenize stage's meta.json (default data/<P>/tokens/meta.json)")
    args = ap.parse_args(argv)
    p = study.load_registered(args.params, args.profile)   # design before data
    lay = Layout(p.profile, results_base=Path(args.out))
    tokens_meta, meta_path = read_tokens_meta(p.profile, args.meta)
    pilot = read_json(p.hypotheses["pilot"], "restore it from git (hypotheses.pilot names it)")
    doc = study.design_document(p, tokens_meta, meta_path, pilot)
    with atomic_dir(lay.design) as out:
        atomic_write_json(out / "design.json", study.strict_json(doc))
        atomic_write_text(out / "table_design.tex", tables.design_latex(doc, "pipeline/design.py"))
        atomic_write_text(out / "macros.tex", design_macros(p.profile, doc, "pipeline/design.py"))
        atomic_write_text(out / "design.md", f"# Design version {doc['meta']['version']} ({p.profile} profile)\n\n"
                          + tables.design_md(doc) + f"\n{doc['meta']['design_rule']}\n")
    print(f"design: {len(doc['rows'])} hypotheses in {len(doc['meta']['families'])} families -> {lay.design}")
    for r in doc["rows"]:
        print(f"  {r['id']:4s} {r['family']:9s} m={r['m']} n={r['n']} margin {r['margin']:.4f} "
              f"MDE {r['mde']:.4f} ({'below' if r['mde_below_margin'] else 'above'} the margin)"
              + (f"  [{r['registration']}]" if r["amendment"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
