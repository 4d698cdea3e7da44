"""DVC stage `analyze`: the instruments on the final checkpoint of every run, on a fixed probe
batch from the test split.

Writes results/<P>/analysis/{analysis.json, *.pdf} and results/<P>/analysis.tex (the paper's
instrumentation section). Diverged or missing runs are listed, not dropped silently. The
readings are resonator.instruments.readings; the report is reporting.analysis.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from reporting import analysis as report
from reporting.figures import setup_matplotlib
from resonator.atomic import atomic_dir, atomic_write_json, atomic_write_text
from resonator.cli import run_main
from resonator.inputs import read_json
from resonator.instruments import readings
from resonator.params import load_for_stage
from resonator.phases import run_phase_table


def analyse_runs(p, classes: np.ndarray) -> tuple[dict, list[dict], int]:
    """The readings of every finished run ({variant: {seed: readings}}), the runs skipped
    (missing or diverged, with the reason) and the probe batch's windows (0 if none was read)."""
    lay = p.layout
    per_run, skipped, probe = {}, [], None
    for variant, seed in p.runs():
        run = lay.run(variant, seed)
        if not run.train_json.exists():
            skipped.append({"variant": variant, "seed": seed, "reason": "missing run"})
            continue
        fix = f"rerun the training stage: `python -m pipeline.train --variant {variant} --seed {seed}` or `dvc repro`"
        if read_json(run.train_json, fix).get("diverged"):
            skipped.append({"variant": variant, "seed": seed, "reason": "diverged"})
            continue
        if probe is None:
            probe = readings.probe_batch(lay.tokens, p.active["model"]["max_seq_len"])
        init = run_phase_table(p.model_config(variant, int(classes.shape[0])), classes, seed, p.active["phases"])
        per_run.setdefault(variant, {})[seed] = readings.analyse_run(run.final, probe, classes, init)
    return per_run, skipped, 0 if probe is None else int(probe.shape[0])


def analyze(p, analysis_dir: Path) -> int:
    classes = np.load(p.layout.classes)
    per_run, skipped, n_probe = analyse_runs(p, classes)
    summary = readings.summarize(per_run)
    atomic_write_json(analysis_dir / "analysis.json", {"summary": summary, "runs": per_run, "skipped": skipped,
                                                       "probe_windows": readings.PROBE_WINDOWS})
    focus, baseline = report.focus_variants(p)
    figs = report.figures(setup_matplotlib(), per_run, analysis_dir, focus, baseline)
    atomic_write_text(p.layout.results / "analysis.tex",
                      report.analysis_tex(summary, per_run, n_probe, figs, skipped, focus))
    print(f"analyze: {sum(len(r) for r in per_run.values())} runs, {len(skipped)} skipped -> {p.layout.results}")
    return 0


def main(argv=None) -> int:
    p = load_for_stage()
    # analysis/ is built in a staging directory and replaces the old one only on success
    with atomic_dir(p.layout.analysis) as staged:
        return analyze(p, staged)


if __name__ == "__main__":
    sys.exit(run_main(main))
