"""DVC stage `stats`: the pre-registered tests, and every table, figure and number the paper uses.

    python -m pipeline.stats [--profile P] [--runs-root runs] [--out results]

Reads hypotheses/groups/seeds/variants from params.yaml and runs/<P>/*/s*/{train,eval}.json,
curve.tsv and eval/items.json; writes results/<P>/: stats.json, table_*.tex, numbers.tex,
rules.tex and figures/*.pdf.
"""
from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

import numpy as np

from evals import stats as st
from reporting.figures import savefig, setup_matplotlib
from reporting.latex import macro_name, tex_escape
from resonator.atomic import atomic_dir, atomic_write_json, atomic_write_text
from resonator.cli import run_main
from resonator.inputs import read_json
from resonator.layout import Layout
from resonator.params import load_params
from resonator.provenance import provenance

METRIC_LABELS = {
    "lm_test/bits_per_byte": "test bits/byte", "lm_test/word_perplexity": "test word PPL",
    "lm_test/byte_perplexity": "test byte PPL", "rhyme/acc": "rhyme acc", "cloze/acc": "cloze acc",
    "agreement/acc": "agreement acc", "val_loss": "val NLL/token", "val_ppl": "val PPL",
}


# ---------------------------------------------------------------------------
# Loading runs
# ---------------------------------------------------------------------------

def load_runs(layout, planned: list[tuple[str, int]]) -> tuple[dict, list[str]]:
    """Exactly the planned runs, and the run directories on disk that the plan does not
    name (listed, never counted: an extra seed must not change a variant's n or mean).

    runs: {variant: {seed: {"train": dict|None, "eval": dict|None, "curve": path|None, "items": path|None}}}
    """
    runs: dict = {}
    for variant, seed in planned:
        run = layout.run(variant, seed)
        rec = {"train": None, "eval": None, "curve": None, "items": None}
        for key, f, stage in (("train", run.train_json, "train"), ("eval", run.eval_json, "evaluate")):
            if f.exists():  # a torn or corrupt record names itself and the stage that rewrites it
                rec[key] = read_json(f, f"rerun that stage: `python -m pipeline.{stage} --variant {variant} "
                                        f"--seed {seed}` or `dvc repro`")
        rec["curve"] = run.curve if run.curve.exists() else None
        rec["items"] = run.items if run.items.exists() else None
        runs.setdefault(variant, {})[seed] = rec
    wanted = set(planned)
    ignored = [r.name for r in layout.existing_runs() if (r.variant, r.seed) not in wanted]
    return runs, ignored


def metric_value(rec: dict, metric: str):
    """A run's metric; None if the run is missing, NaN if it diverged."""
    if rec is None or rec.get("train") is None:
        return None
    if rec["train"].get("diverged"):
        return float("nan")
    if metric in ("val_loss", "val_ppl"):
        return rec["train"]["metrics"][metric]
    if rec.get("eval") is None:
        return None
    if rec["eval"].get("diverged"):
        return float("nan")
    return rec["eval"]["metrics"].get(metric)


def metric_table(runs: dict, metric: str) -> dict:
    out = {}
    for v, seeds in runs.items():
        for s, rec in seeds.items():
            val = metric_value(rec, metric)
            if val is not None:
                out.setdefault(v, {})[s] = val
    return out


def better_of(metric: str, hyp: dict) -> str:
    if hyp.get("better"):
        return hyp["better"]
    return "higher" if metric.endswith("/acc") or metric.endswith("acc_norm") else "lower"


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

def compare(table: dict, a: str, b: str, seeds, metric: str, better: str, h: dict) -> dict:
    x, y, used, excluded = st.handle_incomplete_pairs(table, a, b, seeds)
    out = {"a": a, "b": b, "metric": metric, "better": better, "planned_seeds": list(seeds),
           "seeds": used, "excluded": excluded}
    if len(used) < 2:
        out.update({"comparison": None, "tost": None, "note": f"only {len(used)} complete pairs"})
        return out
    c = st.paired_comparison(x, y, confidence=h["confidence"], n_boot=h["bootstrap_resamples"],
                             seed=h["bootstrap_seed"])
    margin = h["margin_relative"] * abs(float(np.mean(y)))
    out.update({"comparison": c, "tost": st.tost_paired(x, y, margin, alpha=h["alpha"]),
                "mean_a": float(np.mean(x)), "mean_b": float(np.mean(y)),
                "relative_diff": float(np.mean(x) / np.mean(y) - 1) if np.mean(y) else None})
    return out


def primary_p(h: dict) -> str:
    """The comparison's p-value the registered primary test names."""
    return {"permutation": "p_permutation", "t": "p_t"}[h["primary_test"]]


def adjust(pvalues, h: dict):
    """Family-wise adjustment by the registered correction."""
    return {"holm": st.holm_adjust}[h["correction"]](pvalues)


def decide(res: dict, p_adj: float | None, h: dict) -> str:
    n_planned = len(res["planned_seeds"])
    if res["comparison"] is None or st.too_many_excluded(n_planned, len(res["excluded"]), h["max_excluded_fraction"]):
        return "inconclusive"
    p = res["comparison"][primary_p(h)] if p_adj is None else p_adj
    return st.verdict(res["comparison"], res["tost"], p, better=res["better"], alpha=h["alpha"])


def relative_ppl_change(table_ppl: dict, a: str, b: str, seeds) -> dict | None:
    """Per seed ppl_a / ppl_b - 1: the quantity behind the original's '57% lower perplexity'."""
    x, y, used, _ = st.handle_incomplete_pairs(table_ppl, a, b, seeds)
    if len(used) < 2:
        return None
    r = x / y - 1
    s = st.summarise_variant(r)
    return {"mean": s["mean"], "ci_low": s["ci_low"], "ci_high": s["ci_high"], "per_seed": r.tolist()}


def item_bpb(items_path: Path) -> np.ndarray | None:
    items = read_json(items_path, "rerun the run's evaluation (`python -m pipeline.evaluate ...` or `dvc repro`)").get("lm_test")
    if not items or "bits_per_byte" not in items[0]:
        return None
    return np.array([-it["bits_per_byte"][0] / (it["bits_per_byte"][1] * math.log(2)) for it in items])


def secondary_item_bootstrap(runs, a, b, seeds, h) -> dict | None:
    A, B = [], []
    for s in seeds:
        ra, rb = runs.get(a, {}).get(s), runs.get(b, {}).get(s)
        if not ra or not rb or not ra.get("items") or not rb.get("items"):
            continue
        ia, ib = item_bpb(ra["items"]), item_bpb(rb["items"])
        if ia is None or ib is None or len(ia) != len(ib):
            continue
        A.append(ia)
        B.append(ib)
    if len(A) < 1:
        return None
    return st.per_item_paired_bootstrap(np.array(A), np.array(B), n_boot=h["bootstrap_resamples"],
                                        seed=h["bootstrap_seed"])


def secondary_mixed(table, a, b, seeds) -> dict | None:
    import pandas as pd
    rows = [{"value": table[v][s], "variant": v, "seed": s} for v in (a, b) for s in seeds
            if s in table.get(v, {}) and math.isfinite(table[v][s])]
    if len({r["seed"] for r in rows}) < 3:
        return None
    try:
        df = pd.DataFrame(rows)
        df["variant"] = pd.Categorical(df["variant"], categories=[b, a])
        return st.mixed_model_effect(df)
    except Exception as e:  # a singular fit is a finding, not a crash
        return {"error": f"{type(e).__name__}: {e}"}


def run_hypotheses(p, runs: dict) -> list[dict]:
    h = p.hypotheses
    primary = h["primary_metric"]
    tables = {m: metric_table(runs, m) for m in {primary, "val_ppl"} | {s["metric"] for s in h.get("secondary_metrics", [])}}
    results = []
    for hyp in h["tests"]:
        metric = hyp.get("metric", primary)
        seeds = sorted(set(p.planned_seeds(hyp["a"])) & set(p.planned_seeds(hyp["b"])))
        res = compare(tables[metric], hyp["a"], hyp["b"], seeds, metric, better_of(metric, hyp), h)
        res.update({"id": hyp["id"], "family": hyp["family"], "question": hyp.get("question", "")})
        res["relative_val_ppl_change"] = relative_ppl_change(tables["val_ppl"], hyp["a"], hyp["b"], seeds)
        res["secondary"] = {
            "metrics": {s["metric"]: _secondary(tables[s["metric"]], hyp, seeds, s, h)
                        for s in h.get("secondary_metrics", []) if s["metric"] != metric},
            "per_item_bootstrap_bpb": secondary_item_bootstrap(runs, hyp["a"], hyp["b"], seeds, h),
            "mixed_model": secondary_mixed(tables[metric], hyp["a"], hyp["b"], seeds),
        }
        results.append(res)
    # Holm within the main family only; other families are reported unadjusted.
    main = [r for r in results if r["family"] == "main" and r["comparison"] is not None]
    adj = adjust([r["comparison"][primary_p(h)] for r in main], h)
    for r, pa in zip(main, adj):
        r["p_adjusted"] = float(pa)
    for r in results:
        r.setdefault("p_adjusted", None if r["comparison"] is None else
                     (r["comparison"][primary_p(h)] if r["family"] != "main" else None))
        r["verdict"] = decide(r, r["p_adjusted"], h)
    return results


def _secondary(table, hyp, seeds, s, h):
    res = compare(table, hyp["a"], hyp["b"], seeds, s["metric"], s["better"], h)
    res["verdict_unadjusted"] = decide(res, None, h)
    return {k: res[k] for k in ("comparison", "tost", "excluded", "verdict_unadjusted", "mean_a", "mean_b")
            if k in res}


def summaries(p, runs: dict) -> dict:
    metrics = [p.hypotheses["primary_metric"], "val_loss", "val_ppl"] + \
        [s["metric"] for s in p.hypotheses.get("secondary_metrics", [])]
    metrics = list(dict.fromkeys(metrics))
    out = {}
    for v in list(p.groups["core"]) + list(p.groups["ablation"]):
        seeds = runs.get(v, {})
        entry = {"planned_seeds": p.planned_seeds(v), "finished": sorted(s for s, r in seeds.items() if r["train"]),
                 "diverged": sorted(s for s, r in seeds.items() if r["train"] and r["train"].get("diverged")),
                 "metrics": {}}
        for m in metrics:
            vals = {s: metric_value(r, m) for s, r in seeds.items()}
            vals = {s: x for s, x in vals.items() if x is not None}
            entry["metrics"][m] = {**st.summarise_variant(list(vals.values())), "per_seed": vals}
        first = next((r["train"] for r in seeds.values() if r["train"] and not r["train"].get("diverged")), None)
        if first:
            entry["n_params"] = first["metrics"]["n_params"]
            entry["tokens_per_s"] = float(np.mean([r["train"]["metrics"]["tokens_per_s"] for r in seeds.values()
                                                   if r["train"] and not r["train"].get("diverged")]))
            entry["tokens_seen"] = first["metrics"]["tokens_seen"]
        out[v] = entry
    return out


# ---------------------------------------------------------------------------
# LaTeX: numbers, tables
# ---------------------------------------------------------------------------

def fmt(x, digits=3, sign=False) -> str:
    """A number for tables; NaN/None -> n/a, infinities (zero-variance effect sizes) -> +-inf."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "+inf" if x > 0 else "-inf"
    return f"{x:{'+' if sign else ''}.{digits}f}"


def fmt_p(p) -> str:
    if p is None:
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


class Macros:
    def __init__(self, profile: str):
        self.profile, self.lines = profile, []

    def add(self, name_parts, value: str):
        if re.match(r"-\d", value):  # a typeset minus sign, not a hyphen, in running text
            value = "$-$" + value[1:]
        self.lines.append(f"\\newcommand{{\\{macro_name(self.profile, *name_parts)}}}{{{value}}}")

    def text(self) -> str:
        return "% generated by pipeline/stats.py -- do not edit\n" + "\n".join(self.lines) + "\n"


def p_text(p) -> str:
    return "p<0.001" if p is not None and p < 0.001 else f"p={fmt_p(p)}"


def describe_hardware(hw: dict) -> str:
    return hw.get("gpu") or (f"{hw.get('cpu_count')}-core {hw.get('machine')} CPU"
                             + (f" ({hw['cpu']})" if hw.get("cpu") else ""))


def train_hardware(runs: dict) -> list[str]:
    """Where the runs were trained (not where the statistics ran), each distinct machine once."""
    found = (((r.get("train") or {}).get("provenance") or {}).get("hardware") for v in runs.values() for r in v.values())
    return list(dict.fromkeys(describe_hardware(hw) for hw in found if hw))


def write_numbers(p, summ, hyps, meta, original) -> str:
    m = Macros(p.profile)
    primary = p.hypotheses["primary_metric"]
    for v, e in summ.items():
        for metric, key in ((primary, "Bpb"), ("val_ppl", "ValPpl"), ("val_loss", "ValLoss"),
                            ("rhyme/acc", "RhymeAcc"), ("cloze/acc", "ClozeAcc"), ("agreement/acc", "AgreeAcc")):
            s = e["metrics"].get(metric, {})
            digits = 1 if key == "ValPpl" else 3
            m.add((v, key, "Mean"), fmt(s.get("mean"), digits))
            m.add((v, key, "Sd"), fmt(s.get("sd"), digits))
        m.add((v, "Seeds"), str(len(e["finished"])))
        m.add((v, "Params"), f"{e.get('n_params', 0) / 1e6:.2f}M" if e.get("n_params") else "n/a")
    for r in hyps:
        c = r["comparison"] or {}
        m.add((r["id"], "Diff"), fmt(c.get("mean_diff")))
        m.add((r["id"], "CiLow"), fmt(c.get("ci_low")))
        m.add((r["id"], "CiHigh"), fmt(c.get("ci_high")))
        m.add((r["id"], "P"), p_text(c.get("p_permutation")))
        m.add((r["id"], "PAdj"), p_text(r.get("p_adjusted")))
        m.add((r["id"], "Gz"), fmt(c.get("hedges_gz"), 2))
        m.add((r["id"], "Mde"), fmt(c.get("mde_80")))
        m.add((r["id"], "N"), str(c.get("n", 0)))
        m.add((r["id"], "Verdict"), r["verdict"])
        rel = r.get("relative_val_ppl_change")
        m.add((r["id"], "PplChange"), "n/a" if not rel else f"{100 * rel['mean']:+.1f}\\%")
        m.add((r["id"], "PplChangeLow"), "n/a" if not rel else f"{100 * rel['ci_low']:+.1f}\\%")
        m.add((r["id"], "PplChangeHigh"), "n/a" if not rel else f"{100 * rel['ci_high']:+.1f}\\%")
    m.add(("SeedsCore",), str(len(p.seeds["core"])))
    m.add(("SeedsAblation",), str(len(p.seeds["ablation"])))
    m.add(("Runs",), str(meta["n_runs"]))
    m.add(("RunsDiverged",), str(meta["n_diverged"]))
    m.add(("Alpha",), str(p.hypotheses["alpha"]))
    m.add(("MarginPct",), f"{100 * p.hypotheses['margin_relative']:g}\\%")
    m.add(("BootResamples",), f"{p.hypotheses['bootstrap_resamples']:,}".replace(",", "{,}"))
    tok = meta.get("tokens_seen")
    m.add(("TokensPerRun",), f"{tok / 1e6:.2f}M" if tok else "n/a")
    m.add(("Commit",), (meta["provenance"].get("commit") or "unknown")[:10])
    m.add(("ParamsHash",), p.hash[:12])
    m.add(("PreregHash",), p.prereg_hash[:12])
    m.add(("Produced",), meta["provenance"]["utc"][:10])
    m.add(("Hardware",), tex_escape("; ".join(meta["train_hardware"]) or describe_hardware(meta["provenance"]["hardware"])))
    return m.text()


def write_original_macros(original: dict) -> str:
    lines = ["% generated from paper/original_results.yaml (numbers reported by the original work)"]
    for model, vals in original["models"].items():
        for k, v in vals.items():
            lines.append(f"\\newcommand{{\\{macro_name('Orig', model, k)}}}{{{v}}}")
    for k, v in original["claims"].items():
        lines.append(f"\\newcommand{{\\{macro_name('Orig', k)}}}{{{v}}}")
    return "\n".join(lines) + "\n"


def table_variants(p, summ) -> str:
    primary = p.hypotheses["primary_metric"]
    cols = [(primary, 3), ("val_ppl", 1), ("rhyme/acc", 3), ("cloze/acc", 3), ("agreement/acc", 3)]
    head = " & ".join(["variant", "params", "n"] + [METRIC_LABELS.get(c, c) for c, _ in cols])
    rows = []
    for v, e in summ.items():
        cells = [tex_escape(v), f"{e.get('n_params', 0) / 1e6:.2f}M" if e.get("n_params") else "--",
                 str(len(e["finished"]))]
        for c, d in cols:
            s = e["metrics"].get(c, {})
            cells.append("--" if not s.get("n") else
                         (f"{s['mean']:.{d}f} $\\pm$ {s['sd']:.{d}f}" if s["n"] > 1 else f"{s['mean']:.{d}f}"))
        rows.append(" & ".join(cells) + r" \\")
    return ("% generated by pipeline/stats.py\n\\begin{tabular}{lrr" + "r" * len(cols) + "}\n\\toprule\n"
            + head + r" \\" + "\n\\midrule\n" + "\n".join(rows) + "\n\\bottomrule\n\\end{tabular}\n")


def table_hypotheses(hyps) -> str:
    head = r"id & $A - B$ & $\Delta$ [95\% CI] & $p$ & $p_\mathrm{Holm}$ & $g_z$ & TOST & verdict \\"
    rows = []
    for r in hyps:
        c, t = r["comparison"], r["tost"]
        pair = f"{tex_escape(r['a'])} $-$ {tex_escape(r['b'])}"
        if c is None:
            rows.append(f"{r['id']} & {pair} & \\multicolumn{{5}}{{l}}{{{r.get('note', 'no data')}}} & {r['verdict']} \\\\")
            continue
        padj = "--" if r["family"] != "main" else fmt_p(r["p_adjusted"])
        rows.append(f"{r['id']} & {pair} & {c['mean_diff']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] & "
                    f"{fmt_p(c['p_permutation'])} & {padj} & {fmt(c['hedges_gz'], 2, sign=True)} & "
                    f"{'yes' if t['equivalent'] else 'no'} & \\textbf{{{r['verdict']}}} \\\\")
    return ("% generated by pipeline/stats.py\n\\begin{tabular}{llrrrrll}\n\\toprule\n" + head
            + "\n\\midrule\n" + "\n".join(rows) + "\n\\bottomrule\n\\end{tabular}\n")


METRIC_LABEL = {"lm_test/bits_per_byte": "test bits/byte", "val_loss": "val NLL", "val_ppl": "val PPL",
                "rhyme/acc": "rhyme acc.", "cloze/acc": "cloze acc.", "agreement/acc": "agreement acc."}


def table_prereg(p) -> str:
    rows = []
    for hyp in p.hypotheses["tests"]:
        metric = hyp.get("metric", p.hypotheses["primary_metric"])
        rows.append(f"{hyp['id']} & \\texttt{{{tex_escape(hyp['a'])}}} vs \\texttt{{{tex_escape(hyp['b'])}}} & "
                    f"{tex_escape(METRIC_LABEL.get(metric, metric))} & "
                    f"{better_of(metric, hyp)} & {hyp['family']} & {tex_escape(hyp.get('question', ''))} \\\\")
    return ("% generated from params.yaml (hypotheses)\n\\begin{tabularx}{\\linewidth}{@{}l>{\\raggedright\\arraybackslash}p{0.36\\linewidth}lll>{\\raggedright\\arraybackslash}X@{}}\n\\toprule\n"
            "id & comparison & metric & better & family & question \\\\\n\\midrule\n" + "\n".join(rows)
            + "\n\\bottomrule\n\\end{tabularx}\n")


VERDICT_SENTENCE = {
    "better": "A is better than B: the difference is significant at the pre-registered level{where} and points the better way",
    "worse": "A is worse than B: the difference is significant at the pre-registered level{where} and points the worse way",
    "equivalent": "A and B are equivalent within the pre-registered margin",
    "inconclusive": "the evidence does not decide between A and B at this seed count",
}


def claims_tex(p, hyps) -> str:
    """One generated sentence per hypothesis, true whichever way the verdict fell."""
    lines = ["% generated by pipeline/stats.py", "\\begin{itemize}"]
    for r in hyps:
        mid = macro_name(p.profile, r["id"], "")
        name = lambda k: f"\\{mid}{k}{{}}"  # noqa: E731  ({} keeps the space after the macro)
        q = tex_escape(r.get("question", ""))
        pair = f"\\texttt{{{tex_escape(r['a'])}}} vs \\texttt{{{tex_escape(r['b'])}}}"
        if r["comparison"] is None:
            lines.append(f"\\item \\textbf{{{r['id']}}} ({pair}): {q} Not enough complete seed pairs; "
                         f"verdict \\textbf{{{r['verdict']}}}.")
            continue
        in_family = r["family"] == "main"
        adj = f", Holm-adjusted {name('PAdj')}" if in_family else " (reported outside the Holm family)"
        where = " (Holm-corrected within the main family)" if in_family else " (unadjusted: outside the Holm family)"
        lines.append(
            f"\\item \\textbf{{{r['id']}}} ({pair}): {q} Mean paired difference {name('Diff')} bits per byte "
            f"(95\\% CI {name('CiLow')} to {name('CiHigh')}; {name('N')} seeds; sign-flip {name('P')}{adj}; "
            f"$g_z$ = {name('Gz')}). Verdict: \\textbf{{{name('Verdict')}}}, i.e. "
            f"{VERDICT_SENTENCE[r['verdict']].format(where=where)}.")
    lines.append("\\end{itemize}")
    return "\n".join(lines) + "\n"


# What each pre-registered comparison means for the claim, one sentence per possible verdict.
# The paper's conclusion is assembled from these by the verdicts, so it cannot drift from the
# results; {d} is the comparison's mean difference, {ci} its interval. Hypotheses added later
# without an entry here still appear in the claims list and tables.
CONCLUSION = {
    "H0": {
        "better": "The original comparison reproduces in direction: against the notebook-initialised baseline the "
                  "phonetic resonator is better by {absd} bits per byte ({ci}; H0).",
        "worse": "The original comparison does not reproduce: against the notebook-initialised baseline the phonetic "
                 "resonator is worse by {absd} bits per byte ({ci}; H0).",
        "equivalent": "The original comparison does not reproduce: the phonetic resonator and the notebook-initialised "
                      "baseline are equivalent ({d}, {ci}; H0).",
        "inconclusive": "The original comparison is undecided at this seed count ({d}, {ci}; H0)."},
    "H3": {
        "worse": "That baseline is handicapped by its initialisation alone: with matched initialisation the same "
                 "standard model improves by {absd} bits per byte ({ci}; H3){share}.",
        "better": "The notebook initialisation does not handicap the baseline; it is better than matched "
                  "initialisation ({d}, {ci}; H3).",
        "equivalent": "The initialisation difference alone makes no measurable difference ({d}, {ci}; H3).",
        "inconclusive": "Whether the initialisation difference alone matters is undecided ({d}, {ci}; H3)."},
    "H1a": {
        "better": "Against a standard model with matched initialisation the resonator is still better ({d}, {ci}; H1a),",
        "worse": "Against a standard model with matched initialisation the resonator is worse ({d}, {ci}; H1a),",
        "equivalent": "Against a standard model with matched initialisation the resonator is equivalent ({d}, {ci}; H1a),",
        "inconclusive": "Against a standard model with matched initialisation the difference is undecided ({d}, {ci}; H1a),"},
    "H1b": {
        "better": "and it also beats a standard model given the same parameter count ({d}, {ci}; H1b).",
        "worse": "but it is worse than a standard model given the same parameter count ({d}, {ci}; H1b).",
        "equivalent": "and it is equivalent to a standard model given the same parameter count ({d}, {ci}; H1b): the "
                      "extra parameters, not the phase mechanism, account for the difference.",
        "inconclusive": "but not demonstrably better than a standard model given the same parameter count ({d}, {ci}; "
                        "H1b): the evidence shows no advantage beyond what the extra parameters give a standard model."},
    "H2": {
        "better": "Rhyme-class initialisation helps: phonetic phases beat random phases ({d}, {ci}; H2).",
        "worse": "Rhyme-class initialisation hurts: phonetic phases are worse than random phases ({d}, {ci}; H2).",
        "equivalent": "Rhyme-class initialisation does not matter: phonetic and random phases are equivalent within "
                      "the margin ({d}, {ci}; H2).",
        "inconclusive": "Whether rhyme-class initialisation matters is undecided ({d}, {ci}; H2)."},
    "H5b": {
        "better": "Removing the attention resonance term improves the model ({d}, {ci}; H5b).",
        "worse": "The attention resonance term matters: removing it hurts ({d}, {ci}; H5b).",
        "equivalent": "The attention resonance term, the part of the design that makes it a resonator, can be removed "
                      "without a measurable change ({d}, {ci}; H5b).",
        "inconclusive": "Whether the attention resonance term matters is undecided ({d}, {ci}; H5b)."},
    "H5c": {
        "better": "Removing the phase blend from the embedding improves the model ({d}, {ci}; H5c).",
        "worse": "The phase blend in the embedding matters: removing it hurts ({d}, {ci}; H5c).",
        "equivalent": "The phase blend in the embedding can be removed without a measurable change ({d}, {ci}; H5c).",
        "inconclusive": "Whether the phase blend in the embedding matters is undecided at this seed count ({d}, {ci}; H5c)."},
}
CONCLUSION_ORDER = ["H0", "H3", "H1a", "H1b", "H2", "H5b", "H5c"]


def conclusion_tex(p, hyps) -> str:
    """The paragraph that says what the evidence supports, assembled from the verdicts."""
    by_id = {r["id"]: r for r in hyps}
    h0, h3 = ((by_id.get(k) or {}).get("comparison") for k in ("H0", "H3"))
    share = ""  # how much of the original comparison the initialisation gap alone makes up
    if h0 and h3 and h0["mean_diff"]:
        share = (f", which is {abs(h3['mean_diff'] / h0['mean_diff']) * 100:.0f}\\% of the size "
                 "of the original comparison's difference (H0) and has nothing to do with phase")
    parts = []
    for hid in CONCLUSION_ORDER:
        r = by_id.get(hid)
        if r is None or r["comparison"] is None:
            continue
        mid = macro_name(p.profile, hid, "")
        d, lo, hi = (f"\\{mid}{k}{{}}" for k in ("Diff", "CiLow", "CiHigh"))
        absd = fmt(abs(r["comparison"]["mean_diff"]))
        parts.append(CONCLUSION[hid][r["verdict"]].format(d=d, ci=f"95\\% CI {lo} to {hi}", absd=absd, share=share))
    return "% generated by pipeline/stats.py from the verdicts\n" + " ".join(parts) + "\n"


def rules_tex() -> str:
    return ("% generated from evals/stats.py\n\\newcommand{\\verdictrule}{" + tex_escape(st.VERDICT_RULE) + "}\n"
            "\\newcommand{\\incompleterule}{" + tex_escape(st.INCOMPLETE_PAIR_RULE) + "}\n")


def summary_md(p, summ, hyps, meta) -> str:
    """A markdown digest for the README and for reviewers who do not open the PDF."""
    primary = p.hypotheses["primary_metric"]
    out = [f"# Results: {p.profile} profile", "",
           f"{meta['n_runs']} runs ({meta['n_diverged']} diverged); pre-registration {p.prereg_hash[:12]}; "
           f"commit {(meta['provenance'].get('commit') or '?')[:10]}. Generated by `pipeline/stats.py`.", "",
           *([f"Ignored (outside the plan in params.yaml): {', '.join(meta['ignored_runs'])}.", ""]
             if meta.get("ignored_runs") else []),
           "| variant | params | seeds | val PPL | test bits/byte | rhyme acc | cloze acc | agreement acc |",
           "|---|---|---|---|---|---|---|---|"]

    def ms(e, m, d):
        s = e["metrics"].get(m, {})
        if not s.get("n"):
            return "–"
        return f"{s['mean']:.{d}f} ± {s['sd']:.{d}f}" if s["n"] > 1 else f"{s['mean']:.{d}f}"
    for v, e in summ.items():
        params = f"{e['n_params'] / 1e6:.2f}M" if e.get("n_params") else "–"
        out.append(f"| {v} | {params} | {len(e['finished'])} | {ms(e, 'val_ppl', 1)} | {ms(e, primary, 3)} | "
                   f"{ms(e, 'rhyme/acc', 3)} | {ms(e, 'cloze/acc', 3)} | {ms(e, 'agreement/acc', 3)} |")
    out += ["", "| id | A − B | Δ bits/byte [95% CI] | p (sign-flip) | p (Holm) | verdict |", "|---|---|---|---|---|---|"]
    for r in hyps:
        c = r["comparison"]
        if c is None:
            out.append(f"| {r['id']} | {r['a']} − {r['b']} | – | – | – | {r['verdict']} |")
            continue
        pa = fmt_p(r["p_adjusted"]) if r["family"] == "main" else "(not in family)"
        out.append(f"| {r['id']} | {r['a']} − {r['b']} | {c['mean_diff']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] | "
                   f"{fmt_p(c['p_permutation'])} | {pa} | **{r['verdict']}** |")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------
# Figures (deterministic PDFs)
# ---------------------------------------------------------------------------

def fig_forest(plt, hyps, path):
    rows = [r for r in hyps if r["comparison"]]
    fig, ax = plt.subplots(figsize=(5.5, 0.35 * len(rows) + 1.0))
    for i, r in enumerate(rows[::-1]):
        c, m = r["comparison"], r["tost"]["margin"]
        ax.fill_betweenx([i - 0.35, i + 0.35], -m, m, color="0.85", lw=0)
        ax.errorbar(c["mean_diff"], i, xerr=[[c["mean_diff"] - c["ci_low"]], [c["ci_high"] - c["mean_diff"]]],
                    fmt="o", color="C3" if r["verdict"] in ("better", "worse") else "C0", ms=4, capsize=2)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{r['id']}: {r['a']} - {r['b']}" for r in rows[::-1]])
    ax.set_xlabel("paired difference in test bits per byte (A - B); grey: equivalence margin")
    savefig(fig, path)
    plt.close(fig)


def fig_slope(plt, table, a, b, path):
    fig, ax = plt.subplots(figsize=(3.2, 3.0))
    seeds = sorted(set(table.get(a, {})) & set(table.get(b, {})))
    for s in seeds:
        ax.plot([0, 1], [table[b][s], table[a][s]], "-o", color="0.4", ms=3, lw=0.8)
    ax.set_xticks([0, 1])
    ax.set_xticklabels([b, a], rotation=10)
    ax.set_xlim(-0.3, 1.3)
    ax.set_ylabel("test bits per byte")
    ax.set_title("one line per seed", fontsize=8)
    savefig(fig, path)
    plt.close(fig)


def fig_curves(plt, runs, variants, path):
    import pandas as pd
    fig, ax = plt.subplots(figsize=(5.5, 3.0))
    for i, v in enumerate(variants):
        frames = [pd.read_csv(r["curve"], sep="\t") for r in runs.get(v, {}).values() if r.get("curve")]
        if not frames:
            continue
        df = pd.concat(frames).groupby("tokens")["val_loss"].agg(["mean", "std"]).reset_index()
        ax.plot(df["tokens"] / 1e6, df["mean"], label=v, color=f"C{i}", lw=1)
        ax.fill_between(df["tokens"] / 1e6, df["mean"] - df["std"].fillna(0), df["mean"] + df["std"].fillna(0),
                        color=f"C{i}", alpha=0.2, lw=0)
    ax.set_xlabel("training tokens (M)")
    ax.set_ylabel("val NLL per token (mean $\\pm$ sd over seeds)")
    ax.legend(fontsize=6, ncol=2)
    savefig(fig, path)
    plt.close(fig)


def fig_strip(plt, table, variants, path):
    fig, ax = plt.subplots(figsize=(5.5, 2.8))
    for i, v in enumerate(variants):
        vals = [x for x in table.get(v, {}).values() if math.isfinite(x)]
        jitter = np.linspace(-0.15, 0.15, len(vals)) if len(vals) > 1 else [0.0]
        ax.scatter(np.full(len(vals), i) + jitter, vals, s=8, color=f"C{i}")
        if vals:
            ax.hlines(np.mean(vals), i - 0.25, i + 0.25, color="k", lw=1)
    ax.set_xticks(range(len(variants)))
    ax.set_xticklabels(variants, rotation=30, ha="right")
    ax.set_ylabel("test bits per byte (one dot per seed)")
    savefig(fig, path)
    plt.close(fig)


# ---------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--runs-root", default="runs")
    ap.add_argument("--out", default="results")
    ap.add_argument("--original", default="paper/original_results.yaml")
    args = ap.parse_args(argv)
    from resonator.params import ParamsError
    try:
        p = load_params(args.params, overrides={"profile": args.profile} if args.profile else None)
    except ParamsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    import yaml
    original = yaml.safe_load(Path(args.original).read_text())
    lay = Layout(p.profile, runs_base=Path(args.runs_root), results_base=Path(args.out))
    runs, ignored = load_runs(lay, p.runs())
    if ignored:
        print(f"stats: ignored {len(ignored)} run(s) outside the plan: {', '.join(ignored)}")
    out = lay.results
    summ = summaries(p, runs)
    hyps = run_hypotheses(p, runs)
    n_runs = sum(1 for v in runs.values() for r in v.values() if r["train"])
    n_div = sum(1 for v in runs.values() for r in v.values() if r["train"] and r["train"].get("diverged"))
    tokens = next((e.get("tokens_seen") for e in summ.values() if e.get("tokens_seen")), None)
    prov = provenance()
    meta = {"profile": p.profile, "params_hash": p.hash, "prereg_hash": p.prereg_hash, "n_runs": n_runs,
            "n_diverged": n_div, "ignored_runs": ignored, "tokens_seen": tokens, "provenance": prov,
            "verdict_rule": st.VERDICT_RULE, "incomplete_pair_rule": st.INCOMPLETE_PAIR_RULE,
            "seeds": p.seeds, "groups": p.groups, "original": original, "train_hardware": train_hardware(runs)}
    # tex/ and figures/ are built in staging directories and swapped in at the end of the
    # block; the single files are written last: a failure anywhere leaves the old results
    with atomic_dir(out / "tex") as tex, atomic_dir(out / "figures") as figs:
        atomic_write_text(tex / "numbers.tex", write_numbers(p, summ, hyps, meta, original))
        atomic_write_text(tex / "original.tex", write_original_macros(original))
        atomic_write_text(tex / "table_variants.tex", table_variants(p, summ))
        atomic_write_text(tex / "table_hypotheses.tex", table_hypotheses(hyps))
        atomic_write_text(tex / "table_prereg.tex", table_prereg(p))
        atomic_write_text(tex / "rules.tex", rules_tex())
        atomic_write_text(tex / "claims.tex", claims_tex(p, hyps))
        atomic_write_text(tex / "conclusion.tex", conclusion_tex(p, hyps))
        # a flat summary for `dvc metrics show`
        flat = {r["id"]: {"diff": (r["comparison"] or {}).get("mean_diff"), "p_adj": r["p_adjusted"],
                          "verdict": r["verdict"]} for r in hyps}
        summary = summary_md(p, summ, hyps, meta)

        plt = setup_matplotlib()
        primary = metric_table(runs, p.hypotheses["primary_metric"])
        variants = [v for v in list(p.groups["core"]) + list(p.groups["ablation"]) if v in runs]
        fig_forest(plt, hyps, figs / "forest.pdf")
        fig_slope(plt, primary, "resonator_phonetic", "standard", figs / "slope_standard.pdf")
        fig_slope(plt, primary, "resonator_phonetic", "standard_notebook", figs / "slope_notebook.pdf")
        fig_curves(plt, runs, variants, figs / "curves.pdf")
        fig_strip(plt, primary, variants, figs / "strip.pdf")

        atomic_write_json(out / "stats.json", {"meta": meta, "variants": summ, "hypotheses": hyps})
        atomic_write_json(out / "verdicts.json", flat)
        atomic_write_text(out / "summary.md", summary)
    print(f"stats: {n_runs} runs ({n_div} diverged) -> {out}")
    for r in hyps:
        c = r["comparison"] or {}
        print(f"  {r['id']:4s} {r['a']} - {r['b']}: diff {fmt(c.get('mean_diff'))} "
              f"p_adj {fmt_p(r['p_adjusted'])} -> {r['verdict']}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
