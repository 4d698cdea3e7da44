"""The reviewer's view: per-seed table of the primary metric and every verdict, in the terminal.

    python -m tools.review [--profile small] [--results results]

Per variant (full names) the primary metric of every seed, its mean and sd. Per hypothesis: id,
its Holm family and the family's size, verdict, mean difference with its Holm-level interval,
the Holm-adjusted p within the family, the margin (in the metric's units and % perplexity), the
design MDE (pilot sd) and observed MDE (these seeds), n; a hypothesis added by an amendment of
the registration ends with its label, e.g. [amendment 1 (2026-12-05)], and the amendments are
listed under the table. A closed pipe (`| head`) ends quietly.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evals.study import other_registration_text
from reporting.numbers import fmt, fmt_ci, fmt_level, fmt_p
from resonator.cli import run_main
from resonator.errors import InputError
from resonator.inputs import read_json
from resonator.layout import STAMPS_NAME, Layout
from resonator.params import load_params
from resonator.provenance import read_stamps


def per_seed_table(s: dict, metric: str) -> list[str]:
    """Variants as rows (full names, however many are added), seeds as columns."""
    variants = list(s["variants"])
    seeds = sorted({int(k) for v in s["variants"].values() for k in v["metrics"][metric]["per_seed"]})
    w = max(len("variant"), *(len(v) for v in variants))
    cell = lambda x: f"{x:8.4f}" if x is not None else f"{'-':>8s}"  # noqa: E731
    out = [f"\n{metric} per variant (rows) and seed (columns)",
           f"{'variant':{w}s} " + " ".join(f"{'s' + str(sd):>8s}" for sd in seeds) + f" {'mean':>8s} {'sd':>8s}"]
    for v in variants:
        m = s["variants"][v]["metrics"][metric]
        out.append(f"{v:{w}s} " + " ".join(cell(m["per_seed"].get(str(sd))) for sd in seeds)
                   + f" {cell(m.get('mean'))} {cell(m.get('sd'))}")
    return out


def hypothesis_line(r: dict, family_size: int) -> str:
    c, mde = r["comparison"] or {}, r["mde"]
    obs = mde.get("observed") or {}
    level = f"{fmt_level(c.get('ci_level'))}%" if c else "-"
    margin = f"±{fmt(r['margin']['value'])} (±{r['margin']['ppl_pct']:g}%PPL)"
    p_holm = fmt_p(c.get("p_adjusted")) if c.get("p_adjusted") is not None else "-"
    line = (f"{r['id']:5s} {r['family'] + f' ({family_size})':14s} {r['verdict']:20s} "
            f"{fmt(c.get('mean_diff'), sign=True):>8s} {fmt_ci(c.get('ci_low'), c.get('ci_high')):>20s} {level:>7s} "
            f"{p_holm:>7s} {margin:>22s} {fmt(mde['design'].get('mde')):>8s} {fmt(obs.get('mde')):>8s} "
            f"{len(r['seeds']):3d}/{len(r['planned_seeds'])}")
    line += f"  (excluded: {len(r['excluded'])})" if r["excluded"] else ""
    return line + (f"  [{r['registration']}]" if r.get("amendment") else "")


def amendment_lines(meta: dict) -> list[str]:
    """The amendments of the registration: number, date, the hypotheses and families each adds."""
    out = []
    for a in meta.get("amendments") or []:
        out.append(f"amendment {a['number']} ({a['registered']}): adds {', '.join(a['tests'])} in famil"
                   f"{'y' if len(a['families']) == 1 else 'ies'} {', '.join(a['families'])} of its own; "
                   f"reason: {' '.join(a['reason'].split())}")
    return out


def stats_commit(stats_json: Path) -> str | None:
    """The commit the stats stage ran at, from the stamps beside stats.json."""
    return read_stamps(stats_json.with_name(STAMPS_NAME)).get("stats", {}).get("provenance", {}).get("commit")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile")
    ap.add_argument("--results", default="results")
    args = ap.parse_args(argv)
    profile = args.profile or load_params().profile
    path = Layout(profile, results_base=Path(args.results)).stats_json
    s = read_json(path, "rebuild it: `dvc repro -f stats`", missing_fix="run `dvc repro stats` first")
    meta = s["meta"]
    if meta.get("design_version") is None:   # written by the design-v1 stats stage: another layout
        raise InputError(path, "was written by the design-v1 stats stage", "rebuild it: `dvc repro stats`")
    metric = meta["primary_metric"]
    amended = f" + {len(meta['amendments'])} amendment(s)" if meta.get("amendments") else ""
    print(f"profile {profile} | design v{meta['design_version']}{amended} | {meta['n_runs']} runs, "
          f"{meta['n_diverged']} diverged | prereg {meta['prereg_hash'][:12]} "
          f"| commit {(stats_commit(path) or '?')[:10]}")
    print("\n".join(per_seed_table(s, metric)))
    units = s["hypotheses"][0]["margin"]["units"] if s["hypotheses"] else ""
    families = meta["families"]
    print(f"\n{'id':5s} {'family (m)':14s} {'verdict':20s} {'diff':>8s} {'Holm-level CI':>20s} {'level':>7s} "
          f"{'p Holm':>7s} {'margin ' + units:>22s} {'MDE des':>8s} {'MDE obs':>8s}   n")
    for r in s["hypotheses"]:
        print(hypothesis_line(r, len(families[r["family"]])))
    print("\nMDE des: design (pilot sd, planned pairs); MDE obs: observed (these seeds' sd); both at the Holm "
          f"first-step level and {fmt_level(meta['design_meta']['power'])}% power.")
    lines = amendment_lines(meta)
    if lines:
        print("\nAmendments (their hypotheses are labelled; the registered families' Holm corrections are unchanged):")
        print("\n".join("  " + ln for ln in lines))
    if meta.get("other_registration_runs"):
        groups = meta.get("other_registration") or [{"prereg_hash": "?", "registration": "not recorded",
                                                      "runs": meta["other_registration_runs"]}]
        print("warning: " + other_registration_text(groups, meta["prereg_hash"], names=False))
    print(f"\nverdict rule: {meta['verdict_rule']}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
