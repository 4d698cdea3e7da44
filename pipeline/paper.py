"""DVC stage `paper`: build paper/paper.pdf from the generated results with latexmk.

    python -m pipeline.paper [--profile P] [--results results] [--out paper/paper.pdf]

The LaTeX sources (paper/main.tex, paper/sections/) contain no result; every number comes
from results/<P>/tex (macros, tables, sentences) and results/<P>/figures, copied into
paper/build/gen/ next to the files reporting/paper_text.py generates from params.yaml and
the data stages' metrics (setup, scale notice, limitations, provenance aliases). The "Does it
scale?" section takes the ladder's results from results/<ladder profile>/ladder when
ladder_stats has made them, else states the registered plan and that there is no result yet
(reporting/ladder_paper.py). The bibliography is paper/references.bib (BibTeX). Two builds
from the same inputs give byte-identical PDFs.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from reporting.ladder_paper import write_ladder
from reporting.paper_text import write_generated
from resonator.atomic import atomic_write_bytes, atomic_write_text
from resonator.cli import run_main
from resonator.errors import InputError, ProjectError
from resonator.layout import Layout
from resonator.params import load_params

PAPER = Path(__file__).resolve().parents[1] / "paper"


def generate(p, results: Path, build: Path) -> None:
    src = Layout(p.profile, results_base=results).results
    for name in ("numbers.tex", "stamps.tex"):
        if not (src / "tex" / name).exists():
            raise InputError(src / "tex" / name, "does not exist", "run `dvc repro stats` first")
    gen = build / "gen"
    if gen.exists():
        shutil.rmtree(gen)
    shutil.copytree(src / "tex", gen)
    shutil.copytree(src / "figures", gen / "figures")
    write_generated(p, results, gen, (gen / "numbers.tex").read_text() + (gen / "stamps.tex").read_text())
    analysis = src / "analysis.tex"
    if analysis.exists():
        shutil.copy(analysis, gen / "analysis.tex")
        if (src / "analysis").exists():
            shutil.copytree(src / "analysis", gen / "analysis", dirs_exist_ok=True)
    else:
        atomic_write_text(gen / "analysis.tex", "Instrumentation results are not yet produced by this pipeline "
                                                "(the \\texttt{analyze} stage).\n")
    write_ladder(p, results, gen)                 # the "Does it scale?" section: results, or the plan
    for f in ["main.tex", "references.bib"]:
        shutil.copy(PAPER / f, build / f)
    if (build / "sections").exists():
        shutil.rmtree(build / "sections")
    shutil.copytree(PAPER / "sections", build / "sections")


def build_pdf(build: Path) -> Path:
    if shutil.which("latexmk") is None:
        raise ProjectError("latexmk", "is not installed", "./setup.sh installs the Debian TeX packages "
                           "(texlive-latex-recommended texlive-fonts-recommended texlive-science lmodern latexmk)")
    env = dict(os.environ, SOURCE_DATE_EPOCH="0", FORCE_SOURCE_DATE="1")
    for f in build.glob("main.*"):
        if f.suffix not in (".tex",):       # .aux, .bbl, .blg, .log, ...: every build starts clean
            f.unlink()
    r = subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "main.tex"],
                       cwd=build, env=env, capture_output=True, text=True, timeout=600)
    log = (build / "main.log").read_text(errors="replace") if (build / "main.log").exists() else ""
    if r.returncode != 0:
        err = [line for line in log.splitlines() if line.startswith("!")][:5]
        what = " | ".join(err) or " ".join(r.stdout[-300:].split())
        raise ProjectError(build / "main.log", f"latexmk failed: {what}", "fix the LaTeX error it names and rerun")
    problems = [line for line in log.splitlines() if "undefined" in line.lower() and "Warning" in line]
    if problems:
        raise ProjectError(build / "main.log", f"undefined references or macros: {problems[:5]}",
                           "define them, or rerun `dvc repro stats` if they are generated numbers")
    boxes = [line for line in log.splitlines() if line.startswith(("Overfull", "Underfull"))]
    if boxes:
        print(f"warning: {build / 'main.log'}: {len(boxes)} over- or underfull boxes, e.g. {boxes[0]}",
              file=sys.stderr)
    return build / "main.pdf"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--results", default="results")
    ap.add_argument("--build", default="paper/build")
    ap.add_argument("--out", default="paper/paper.pdf")
    args = ap.parse_args(argv)
    p = load_params(args.params, overrides={"profile": args.profile} if args.profile else None)
    build = Path(args.build)
    build.mkdir(parents=True, exist_ok=True)
    generate(p, Path(args.results), build)
    pdf = build_pdf(build)
    atomic_write_bytes(args.out, pdf.read_bytes())
    print(f"paper: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
