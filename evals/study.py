"""The study of design version 2, from the registration and the runs on disk to one record
per hypothesis: the stats and design stages are thin wrappers around these functions.

Everything here is a function of params, run records and arrays (the only I/O reads run
files, the pilot and the superseded results), so every number the stages report can be
tested on fabricated runs. The tests themselves are evals/stats.py (VERDICT_RULE_V2,
analyse_family_v2, multi_bootstrap) and evals/design.py (design_check, MDEs); this module
decides what goes into them: which pairs, which margin in which units, which family.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy import stats as sps

from evals import stats as st
from evals.curves import curve_block
from evals.design import DESIGN_RULE, mde_equivalence_signflip, mde_signflip, registered_design
from resonator.amendment_config import all_tests, amendments_summary, registration_of
from resonator.errors import InputError, ProjectError
from resonator.inputs import read_json
from resonator.provenance import read_stamps

DESIGN_VERSION = 2          # the registration this code analyses (VERDICT_RULE_V2)
MDE_SIMULATIONS = 2_000     # simulated data sets per MDE (evals.design); seeded by bootstrap_seed
METRIC_UNITS = {"lm_test/bits_per_byte": "bits/byte", "val_loss": "nats/token"}   # metrics a % PPL margin converts to
LN2 = math.log(2)


# ---------------------------------------------------------------------------
# The registration
# ---------------------------------------------------------------------------

def load_registered(params: str, profile: str | None = None):
    """params.yaml as the design and stats stages need it: parsed, design version 2, and
    decidable with its planned seeds (evals.design.require_decidable), before any work."""
    from evals.design import require_decidable
    from resonator.params import load_params
    p = load_params(params, overrides={"profile": profile} if profile else None)
    require_v2(p.hypotheses)
    require_decidable(p)
    return p


def require_v2(h: dict) -> None:
    """Refuse a registration this procedure does not implement, before any work: design
    version 2 decides by the exact sign-flip test and the sign-flip TOST only, so the
    paired t-test of v1 (`primary_test: t`) has no place in it."""
    if h["version"] != DESIGN_VERSION:
        raise ProjectError("params.yaml: key 'hypotheses.version'",
                           f"is {h['version']}, but pipeline.stats runs design version {DESIGN_VERSION}",
                           "analyse other versions with the code of their commit")
    if h["primary_test"] != "permutation":
        raise ProjectError("params.yaml: key 'hypotheses.primary_test'",
                           f"'{h['primary_test']}' is a design-v1 option; design v2 decides by the exact "
                           "sign-flip test and the sign-flip TOST (VERDICT_RULE_V2)", "set it to permutation")


def test_metric(h: dict, hyp: dict) -> str:
    return hyp.get("metric") or h["primary_metric"]


def better_of(metric: str, hyp: dict) -> str:
    """The registered direction, else lower for losses and higher for accuracies."""
    if hyp.get("better"):
        return hyp["better"]
    return "higher" if metric.endswith("/acc") or metric.endswith("acc_norm") else "lower"


def planned_pairs(p, hyp: dict) -> list[int]:
    """The seeds both variants of a hypothesis are planned on: its pairs."""
    return sorted(set(p.planned_seeds(hyp["a"])) & set(p.planned_seeds(hyp["b"])))


def families(tests) -> dict[str, list[str]]:
    """Family name -> ids, in registration order (Holm runs within each). Pass all_tests(h)
    for every family, amendments' included: an amendment's families are its own
    (resonator.amendment_config), so adding one never changes a registered family."""
    out: dict[str, list[str]] = {}
    for t in tests:
        out.setdefault(t["family"], []).append(t["id"])
    return out


# ---------------------------------------------------------------------------
# Units: margins are registered in % per-token perplexity on the test split
# ---------------------------------------------------------------------------

def bytes_per_token(meta: dict, path) -> dict:
    """Test bytes per test token from the tokenize stage's meta.json: the factor between
    per-token perplexity and bits per byte on the test split."""
    try:
        test = meta["splits"]["test"]
        b, t = int(test["bytes"]), int(test["tokens"])
    except (KeyError, TypeError, ValueError):
        raise InputError(path, "has no splits.test.bytes and splits.test.tokens",
                         "rerun `dvc repro tokenize`") from None
    if b <= 0 or t <= 0:
        raise InputError(path, f"records {b} test bytes and {t} test tokens", "rerun `dvc repro tokenize`")
    return {"bytes": b, "tokens": t, "bytes_per_token": b / t}


def margin_in_metric(metric: str, margin_ppl: float, bpt: float) -> float:
    """A margin of margin_ppl % per-token perplexity in the metric's units: ln(1 + m/100) nats
    per token, which is ln(1 + m/100) / (ln 2 * bytes_per_token) bits per byte."""
    nats = math.log1p(margin_ppl / 100)
    if metric == "lm_test/bits_per_byte":
        return nats / (LN2 * bpt)
    if metric == "val_loss":
        return nats
    raise ProjectError("params.yaml: key 'hypotheses.tests'", f"margin_ppl cannot be converted to {metric!r}",
                       f"test one of {sorted(METRIC_UNITS)}")


def ppl_change_pct(diff, metric: str, bpt: float):
    """The inverse of margin_in_metric: a difference in the metric as % per-token perplexity
    (monotone, so interval ends map to interval ends). None stays None, +-inf stays +-inf."""
    if diff is None or not math.isfinite(diff):
        return diff
    nats = diff * LN2 * bpt if metric == "lm_test/bits_per_byte" else diff
    return 100 * math.expm1(nats)


# ---------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------

def load_runs(layout, planned: list[tuple[str, int]]) -> tuple[dict, list[str]]:
    """Exactly the planned runs, and the run directories on disk that the plan does not
    name (listed, never counted: an extra seed must not change a variant's n or mean).

    runs: {variant: {seed: {"train": dict|None, "eval": dict|None, "curve": path|None, "items": path|None,
                            "stamps": dict}}}   # stamps: how fast, when and where (resonator.provenance)
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
        rec["stamps"] = read_stamps(run.stamps)
        runs.setdefault(variant, {})[seed] = rec
    wanted = set(planned)
    ignored = [r.name for r in layout.existing_runs() if (r.variant, r.seed) not in wanted]
    return runs, ignored


def other_registration(runs: dict, prereg_hash: str) -> list[str]:
    """Planned runs whose train.json carries another pre-registration hash (e.g. runs of a
    superseded design still on disk): listed and warned about, so they are never mistaken
    silently for runs of this design. (An amendment does not change the hash: runs trained
    after one carry the registration's.)"""
    return [f"{v}/s{s}" for v, seeds in runs.items() for s, r in seeds.items()
            if r["train"] and r["train"].get("prereg_hash") not in (None, prereg_hash)]


def other_registration_groups(runs: dict, p) -> list[dict]:
    """The runs of other_registration grouped by the hash they carry, each group with the
    registration that hash is (a superseded version listed in hypotheses.supersedes, or
    unknown): [{"prereg_hash": first 12 hex digits, "registration": words, "runs": [...]}],
    most runs first."""
    known = [(str(s["prereg_hash"]), f"design version {s['version']}, superseded")
             for s in p.hypotheses.get("supersedes", [])]
    groups: dict[str, list[str]] = {}
    for v, seeds in runs.items():
        for s, r in seeds.items():
            got = (r["train"] or {}).get("prereg_hash")
            if got is not None and got != p.prereg_hash:
                groups.setdefault(str(got), []).append(f"{v}/s{s}")
    out = [{"prereg_hash": h[:12], "runs": names,
            "registration": next((label for k, label in known if h.startswith(k)),
                                 "not a registration params.yaml lists")}
           for h, names in groups.items()]
    return sorted(out, key=lambda g: (-len(g["runs"]), g["prereg_hash"]))


def other_registration_text(groups: list[dict], prereg_hash: str, names: bool = True) -> str:
    """One sentence for the stats stage, summary.md and the review: how many planned runs
    carry another pre-registration, and which (hash and version), with the runs if `names`."""
    n = sum(len(g["runs"]) for g in groups)
    parts = [f"{len(g['runs'])} under {g['prereg_hash']} ({g['registration']})"
             + (f": {', '.join(g['runs'])}" if names else "") for g in groups]
    return (f"{n} planned run(s) were trained under another pre-registration than this one "
            f"({prereg_hash[:12]}): " + "; ".join(parts))


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
    """{variant: {seed: value}} of the runs that have the metric (NaN for diverged)."""
    out = {}
    for v, seeds in runs.items():
        for s, rec in seeds.items():
            val = metric_value(rec, metric)
            if val is not None:
                out.setdefault(v, {})[s] = val
    return out


def variant_summaries(p, runs: dict) -> dict:
    """Per variant: planned, finished and diverged seeds, and per metric the descriptives and
    per-seed values (the reviewer's table), parameters, throughput and tokens seen."""
    h = p.hypotheses
    metrics = list(dict.fromkeys([h["primary_metric"], "val_loss", "val_ppl"]
                                 + [s["metric"] for s in h.get("secondary_metrics", [])]))
    out = {}
    for v in list(p.groups["core"]) + list(p.groups["ablation"]):
        seeds = runs.get(v, {})
        done = [r["train"] for r in seeds.values() if r["train"] and not r["train"].get("diverged")]
        entry = {"planned_seeds": p.planned_seeds(v), "finished": sorted(s for s, r in seeds.items() if r["train"]),
                 "diverged": sorted(s for s, r in seeds.items() if r["train"] and r["train"].get("diverged")),
                 "metrics": {}}
        for m in metrics:
            vals = {s: x for s, r in seeds.items() if (x := metric_value(r, m)) is not None}
            entry["metrics"][m] = {**st.summarise_variant(list(vals.values())), "per_seed": vals}
        if done:
            entry["n_params"] = done[0]["metrics"]["n_params"]
            entry["tokens_seen"] = done[0]["metrics"]["tokens_seen"]
        out[v] = entry
    return out


def _train_stamps(run: dict) -> dict:
    """A loaded run's training stamps ({} where it has none)."""
    return (run.get("stamps") or {}).get("train") or {}


def tokens_per_s(runs: dict) -> dict[str, float]:
    """Each variant's mean training speed over its runs' stamps (a stamp itself: never a result)."""
    out = {}
    for v, seeds in runs.items():
        speeds = [s for r in seeds.values() if (s := _train_stamps(r).get("tokens_per_s"))]
        if speeds:
            out[v] = float(np.mean(speeds))
    return out


def describe_hardware(hw: dict) -> str:
    return hw.get("gpu") or (f"{hw.get('cpu_count')}-core {hw.get('machine')} CPU"
                             + (f" ({hw['cpu']})" if hw.get("cpu") else ""))


def train_hardware(runs: dict) -> list[str]:
    """Where the runs were trained (not where the statistics ran), each distinct machine once."""
    found = ((_train_stamps(r).get("provenance") or {}).get("hardware") for v in runs.values() for r in v.values())
    return list(dict.fromkeys(describe_hardware(hw) for hw in found if hw))


# ---------------------------------------------------------------------------
# The design, before any run
# ---------------------------------------------------------------------------

def pilot_sds(pilot: dict, metric: str) -> dict[str, float]:
    """{id: sd of the paired differences} of the pilot's hypotheses on `metric`."""
    return {r["id"]: float(r["comparison"]["sd_diff"]) for r in pilot.get("hypotheses", [])
            if r.get("comparison") and r.get("metric", metric) == metric and r["comparison"].get("sd_diff") is not None}


def pilot_sd_for(hid: str, sds: dict[str, float]) -> dict:
    """The pilot sd of a hypothesis; for an id the pilot lacks, the largest pilot sd
    (conservative: the MDE it gives is the largest the pilot supports)."""
    if hid in sds:
        return {"sd": sds[hid], "source": f"pilot {hid}", "conservative": False}
    worst = max(sds, key=lambda k: (sds[k], k))
    return {"sd": sds[worst], "source": f"conservative: largest pilot sd ({worst}); {hid} is not in the pilot",
            "conservative": True}


def mde_pair(n: int, sd: float, level: float, power: float, seed: int, n_sim: int = MDE_SIMULATIONS) -> dict:
    """The two MDEs of a hypothesis at its Holm first-step level: the smallest true difference
    the two-sided sign-flip test detects with `power`, and the smallest margin the sign-flip
    TOST proves with `power` when the true difference is 0 (inf: not reachable with n)."""
    return {"sd": sd, "mde": mde_signflip(n, sd, alpha=level, power=power, n_sim=n_sim, seed=seed),
            "mde_equivalence": mde_equivalence_signflip(n, sd, alpha=level, power=power, n_sim=n_sim, seed=seed)}


def design_rows(p, bpt: float, pilot: dict) -> list[dict]:
    """One row per hypothesis (the registered ones, then each amendment's, labelled by
    `registration`), computed from params and the pilot only (no run): family, family size
    m, planned pairs n, smallest attainable p, Holm first-step level, margin (% perplexity
    and metric units), claimed effect, pilot sd, design MDEs and whether each is below the
    margin."""
    h = p.hypotheses
    tests, where = all_tests(h), registration_of(h)
    checks = {r["id"]: r for r in registered_design(tests, p.planned_seeds, h["alpha"])}
    rows = []
    for t in tests:
        metric, c = test_metric(h, t), checks[t["id"]]
        sds = pilot_sds(pilot, metric)
        if not sds:
            raise ProjectError(f"params.yaml: key 'hypotheses.pilot' ({h['pilot']})",
                               f"has no sd of paired differences on {metric}", "name a pilot that tested this metric")
        sd = pilot_sd_for(t["id"], sds)
        margin = margin_in_metric(metric, t["margin_ppl"], bpt)
        mdes = mde_pair(c["n"], sd["sd"], c["holm_first_level"], h["power"], h["bootstrap_seed"])
        rows.append({
            "id": t["id"], "family": t["family"], **where[t["id"]], "a": t["a"], "b": t["b"], "metric": metric,
            "units": METRIC_UNITS.get(metric, metric), "m": c["m"], "n": c["n"], "min_p": c["min_p"],
            "min_p_equivalence": c["min_p_equivalence"], "holm_first_level": c["holm_first_level"],
            "decidable": c["can_reject_first_step"] and c["can_declare_equivalent_first_step"],
            "margin_ppl": t["margin_ppl"], "margin": margin, "margin_reason": t["margin_reason"],
            "claimed_ppl": t.get("claimed_ppl"), "pilot_sd": sd["sd"], "pilot_source": sd["source"],
            "conservative": sd["conservative"], "power": h["power"],
            "mde": mdes["mde"], "mde_ppl": ppl_change_pct(mdes["mde"], metric, bpt),
            "mde_equivalence": mdes["mde_equivalence"],
            "mde_equivalence_ppl": ppl_change_pct(mdes["mde_equivalence"], metric, bpt),
            "mde_below_margin": mdes["mde"] < margin, "mde_equivalence_below_margin": mdes["mde_equivalence"] < margin,
        })
    return rows


def design_document(p, tokens_meta: dict, tokens_meta_path, pilot: dict) -> dict:
    """design.json: the registration's decidability, margins and MDEs, from params, the test
    split's bytes and tokens and the pilot alone. No timestamp: the same inputs give the same
    bytes. Refuses a design this code does not run (require_v2)."""
    h = p.hypotheses
    require_v2(h)
    bpt = bytes_per_token(tokens_meta, tokens_meta_path)
    meta = {"profile": p.profile, "version": h["version"], "registered": h["registered"],
            "prereg_hash": p.prereg_hash, "alpha": h["alpha"], "confidence": h["confidence"], "power": h["power"],
            "n_sim": MDE_SIMULATIONS, "sim_seed": h["bootstrap_seed"], "bytes_per_token": bpt["bytes_per_token"],
            "test_bytes": bpt["bytes"], "test_tokens": bpt["tokens"], "tokens_meta": str(tokens_meta_path),
            "pilot": h["pilot"], "pilot_prereg_hash": pilot.get("meta", {}).get("prereg_hash"),
            "max_excluded_fraction": h["max_excluded_fraction"], "bootstrap_resamples": h["bootstrap_resamples"],
            "families": families(all_tests(h)), "registered_families": families(h["tests"]),
            "amendments": amendments_summary(h), "amendments_hash": p.amendments_hash, "design_rule": DESIGN_RULE,
            "mde_method": "evals.design.mde_signflip and mde_equivalence_signflip at the Holm first-step level "
                          "alpha/m, normal differences with the pilot sd, simulated"}
    return {"meta": meta, "rows": design_rows(p, bpt["bytes_per_token"], pilot)}


def check_design(design: dict, p, path) -> dict[str, dict]:
    """design.json's rows by id, after checking that it was made from this registration
    (a stale design would report margins and MDEs of another plan)."""
    meta = design.get("meta", {})
    if meta.get("prereg_hash") != p.prereg_hash:
        raise InputError(path, "was made from another pre-registration than params.yaml's",
                         "rerun the design stage: `python -m pipeline.design` or `dvc repro design`")
    ids = {r["id"] for r in design.get("rows", [])}
    if meta.get("amendments_hash") != p.amendments_hash or any(t["id"] not in ids for t in all_tests(p.hypotheses)):
        raise InputError(path, "was made from other amendments (hypotheses.amendments) than params.yaml's",
                         "rerun the design stage: `python -m pipeline.design` or `dvc repro design`")
    for r in design["rows"]:   # strict JSON wrote an unreachable MDE (inf) as null: read it back as inf
        for k in ("mde", "mde_ppl", "mde_equivalence", "mde_equivalence_ppl"):
            r[k] = math.inf if r[k] is None else r[k]
    return {r["id"]: r for r in design["rows"]}


# ---------------------------------------------------------------------------
# Per hypothesis: the v2 analysis and what is reported beside it
# ---------------------------------------------------------------------------

def exclusion_reason(n_planned: int, excluded: list, max_fraction: float) -> str | None:
    """INCOMPLETE_PAIR_RULE's override: the reason to force "inconclusive", or None."""
    if not st.too_many_excluded(n_planned, len(excluded), max_fraction):
        return None
    return (f"{len(excluded)} of {n_planned} planned pairs excluded (more than the {max_fraction:.0%} "
            "max_excluded_fraction): inconclusive whatever the tests show")


def document_scores(items_path: Path) -> tuple[list, np.ndarray] | None:
    """Per-document scores of lm_test from eval/items.json, whose entries hold
    bits_per_byte = [log-likelihood (nats), bytes]. Each document's bits are divided by the
    mean document length in bytes, so the plain mean over documents IS the test split's
    bits per byte (lm-eval's byte-weighted -sum(ll) / sum(bytes) / ln 2) and the
    multi-bootstrap resamples the primary metric itself. (doc ids, scores) or None."""
    items = read_json(items_path, "rerun the run's evaluation (`python -m pipeline.evaluate ...` or `dvc repro`)"
                      ).get("lm_test")
    if not items or "bits_per_byte" not in items[0]:
        return None
    ll = np.array([it["bits_per_byte"][0] for it in items], dtype=float)
    nbytes = np.array([it["bits_per_byte"][1] for it in items], dtype=float)
    return [it.get("doc_id", i) for i, it in enumerate(items)], -ll / (LN2 * nbytes.mean())


def paired_documents(runs: dict, a: str, b: str, seeds, scores=document_scores) -> dict:
    """{seed: (doc ids, a's per-document scores, b's)} over the seeds whose two runs both have
    per-document scores of lm_test for the same documents (`scores`: document_scores, or a
    caching wrapper of it)."""
    out = {}
    for s in seeds:
        ra, rb = runs.get(a, {}).get(s), runs.get(b, {}).get(s)
        if not (ra and rb and ra.get("items") and rb.get("items")):
            continue
        da, db = scores(ra["items"]), scores(rb["items"])
        if da is not None and db is not None and da[0] == db[0]:
            out[s] = (da[0], da[1], db[1])
    return out


def multi_bootstrap_for(runs: dict, a: str, b: str, seeds, better: str, h: dict) -> dict:
    """The Multi-Bootstrap (seeds and test documents resampled jointly) of a hypothesis on
    the per-document bits per byte of lm_test, over the pairs whose both runs have their
    documents; a note instead when fewer than 2 such pairs exist."""
    pairs = paired_documents(runs, a, b, seeds)
    used = list(pairs)
    A, B = [pairs[s][1] for s in used], [pairs[s][2] for s in used]
    if len(A) < 2 or len({len(x) for x in A}) != 1:
        return {"note": f"per-document scores of lm_test for {len(A)} pair(s) of the same documents; need 2"}
    r = st.multi_bootstrap(np.array(A), np.array(B), better=better, n_boot=h["bootstrap_resamples"],
                           seed=h["bootstrap_seed"], confidence=h["confidence"])
    return r | {"seeds": used}


def seed_correlation(x: np.ndarray, y: np.ndarray) -> dict:
    """Pearson r of a's and b's values across seeds: how much of the seed-to-seed variation
    the two variants share, i.e. what pairing by seed removes from the differences."""
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"r": None, "n": len(x), "note": "undefined: fewer than 3 pairs or a constant variant"}
    res = sps.pearsonr(x, y)
    return {"r": float(res.statistic), "p": float(res.pvalue), "n": len(x)}


def secondary_metric(table: dict, a: str, b: str, seeds, better: str, h: dict) -> dict:
    """A secondary metric, outside the Holm families and without a registered margin:
    the mean difference, its unadjusted sign-flip p and 95% sign-flip interval, no verdict."""
    x, y, used, excluded = st.handle_incomplete_pairs(table, a, b, seeds)
    out = {"better": better, "n": len(used), "excluded": excluded, "secondary": True}
    if len(used) < 2:
        return out | {"note": f"only {len(used)} complete pairs"}
    d = x - y
    ci = st.signflip_ci(d, h["confidence"], seed=h["bootstrap_seed"])
    return out | {"mean_a": float(x.mean()), "mean_b": float(y.mean()), "mean_diff": float(d.mean()),
                  "p_signflip": st.sign_flip_p(d, seed=h["bootstrap_seed"]), "ci_low": ci["low"], "ci_high": ci["high"],
                  "ci_level": h["confidence"]}


def mde_block(design_row: dict, comparison: dict | None, metric: str, bpt: float, h: dict) -> dict:
    """Design MDE (pilot sd, planned n) beside the observed MDE (these seeds' sd, used n),
    both at the hypothesis' Holm first-step level and the registered power."""
    level = design_row["holm_first_level"]
    design = {k: design_row[k] for k in ("mde", "mde_ppl", "mde_equivalence", "mde_equivalence_ppl")}
    out = {"power": h["power"], "level": level,
           "design": design | {"sd": design_row["pilot_sd"], "sd_source": design_row["pilot_source"],
                               "n": design_row["n"]}}
    if comparison is None:
        return out | {"observed": None}
    obs = mde_pair(comparison["n"], comparison["sd_diff"], level, h["power"], h["bootstrap_seed"])
    out["observed"] = obs | {"sd_source": "observed: these seeds", "n": comparison["n"],
                             "mde_ppl": ppl_change_pct(obs["mde"], metric, bpt),
                             "mde_equivalence_ppl": ppl_change_pct(obs["mde_equivalence"], metric, bpt)}
    return out


def comparison_block(row: dict, x: np.ndarray, y: np.ndarray, m: int, metric: str, bpt: float) -> dict | None:
    """The analyse_family_v2 row as stats.json's `comparison`, with the descriptives and the
    difference re-expressed as % per-token perplexity (mean and both intervals)."""
    if len(x) < 2:
        return None
    keep = ("n", "mean_diff", "p_signflip", "signflip_method", "p_adjusted", "holm_step", "ci_low", "ci_high",
            "ci_method", "ci95_low", "ci95_high", "tost", "p_equivalence_adjusted", "tost_t", "normality")
    c = {k: row[k] for k in keep}
    c.update(m=m, ci_level=row["ci_confidence"], mean_a=float(x.mean()), mean_b=float(y.mean()),
             sd_diff=float(np.std(x - y, ddof=1)))
    c["ppl_change"] = {k: ppl_change_pct(row[src], metric, bpt) for k, src in
                       (("mean", "mean_diff"), ("ci_low", "ci_low"), ("ci_high", "ci_high"),
                        ("ci95_low", "ci95_low"), ("ci95_high", "ci95_high"))}
    return c


def paired_values(p, tables: dict, t: dict) -> dict:
    """A hypothesis' planned pairs through INCOMPLETE_PAIR_RULE: values x (a) and y (b) of
    the complete pairs, the seeds used and every exclusion with its reason."""
    metric, seeds = test_metric(p.hypotheses, t), planned_pairs(p, t)
    x, y, used, excluded = st.handle_incomplete_pairs(tables[metric], t["a"], t["b"], seeds)
    return {"metric": metric, "seeds": seeds, "x": x, "y": y, "used": used, "excluded": excluded,
            "better": better_of(metric, t)}


def family_rows(h: dict, pairs: dict, design: dict[str, dict]) -> dict[str, dict]:
    """analyse_family_v2 per family (Holm over the family's primary and TOST p), each
    hypothesis with its design margin in metric units and, where too many pairs were
    excluded, the forced "inconclusive" (it stays in the family, so m never shrinks)."""
    rows = {}
    for ids in families(all_tests(h)).values():
        inputs = [{"id": i, "x": pairs[i]["x"], "y": pairs[i]["y"], "margin": design[i]["margin"],
                   "better": pairs[i]["better"],
                   "inconclusive_reason": exclusion_reason(len(pairs[i]["seeds"]), pairs[i]["excluded"],
                                                           h["max_excluded_fraction"])} for i in ids]
        for r in st.analyse_family_v2(inputs, alpha=h["alpha"], ci_method="holm", seed=h["bootstrap_seed"]):
            rows[r["id"]] = r | {"m": len(ids)}
    return rows


def hypothesis_record(t: dict, q: dict, r: dict, d: dict, runs: dict, tables: dict, h: dict, bpt: float) -> dict:
    """stats.json's record of one hypothesis: the verdict and its numbers, and beside them
    (never deciding it) the MDEs, the Multi-Bootstrap on the primary metric's documents, the
    per-seed r, the learning-curve difference and the secondary metrics."""
    comparison = comparison_block(r, q["x"], q["y"], r["m"], q["metric"], bpt)
    return {
        "id": t["id"], "family": t["family"], **registration_of(h)[t["id"]],
        "question": t.get("question", ""), "a": t["a"], "b": t["b"],
        "metric": q["metric"], "better": q["better"], "planned_seeds": q["seeds"], "seeds": q["used"],
        "excluded": q["excluded"],
        "margin": {"ppl_pct": t["margin_ppl"], "value": d["margin"], "units": d["units"],
                   "reason": t["margin_reason"], "claimed_ppl": t.get("claimed_ppl")},
        "verdict": r["verdict"], "verdict_reason": r["verdict_reason"], "comparison": comparison,
        "mde": mde_block(d, comparison, q["metric"], bpt, h),
        "multi_bootstrap": multi_bootstrap_for(runs, t["a"], t["b"], q["used"], q["better"], h),
        "seed_correlation": seed_correlation(q["x"], q["y"]),
        "curve_diff": curve_block(runs, t["a"], t["b"], q["used"], h["confidence"], h["bootstrap_seed"]),
        "secondary": {s["metric"]: secondary_metric(tables[s["metric"]], t["a"], t["b"], q["seeds"], s["better"], h)
                      for s in h.get("secondary_metrics", []) if s["metric"] != q["metric"]},
    }


def analyse(p, runs: dict, design: dict[str, dict], bpt: float) -> list[dict]:
    """Every hypothesis by VERDICT_RULE_V2, Holm within its family, margins from the design
    (design.json's rows by id) in metric units; records in registration order, the registered
    tests first, then each amendment's (in families of their own, so the registered records
    are what they were without the amendment), each labelled with its registration."""
    h = p.hypotheses
    tests = all_tests(h)
    metrics = {test_metric(h, t) for t in tests} | {s["metric"] for s in h.get("secondary_metrics", [])}
    tables = {m: metric_table(runs, m) for m in metrics}
    pairs = {t["id"]: paired_values(p, tables, t) for t in tests}
    rows = family_rows(h, pairs, design)
    return [hypothesis_record(t, pairs[t["id"]], rows[t["id"]], design[t["id"]], runs, tables, h, bpt)
            for t in tests]


# ---------------------------------------------------------------------------
# Superseded designs: reported as they were decided, never re-decided
# ---------------------------------------------------------------------------

def recorded_row(r: dict) -> dict:
    """One hypothesis of a superseded stats.json, as it recorded it (v1: t-interval, Holm p)."""
    c = r.get("comparison") or {}
    return {"id": r["id"], "a": r["a"], "b": r["b"], "family": r.get("family"), "n": c.get("n", 0),
            "mean_diff": c.get("mean_diff"), "ci_low": c.get("ci_low"), "ci_high": c.get("ci_high"),
            "p_adjusted": r.get("p_adjusted"), "verdict": r["verdict"]}


def superseded(p) -> list[dict]:
    """Each superseded version's verdicts as its own stats stage recorded them (its
    results/stats.json), headed with version, pre-registration hash and reason. Nothing is
    recomputed: v1's verdicts stay v1's, under v1's rule. A results file whose hash does not
    match the registered one is refused (it would report another design as this one)."""
    out = []
    for s in p.hypotheses.get("supersedes", []):
        path = Path(s["results"]) / "stats.json"
        doc = read_json(path, "restore it from git: the superseded results are part of the record",
                        missing_fix=f"restore {s['results']} from git (hypotheses.supersedes lists it)")
        recorded = doc.get("meta", {}).get("prereg_hash", "")
        if not recorded.startswith(s["prereg_hash"]):
            raise InputError(path, f"records pre-registration {recorded[:12] or 'none'}, not the superseded "
                                   f"version's {s['prereg_hash']}",
                             "point hypotheses.supersedes[].results at its results")
        rows = [recorded_row(r) for r in doc.get("hypotheses", [])]
        out.append({"version": s["version"], "prereg_hash": s["prereg_hash"], "reason": s["reason"],
                    "results": s["results"], "verdict_rule": doc.get("meta", {}).get("verdict_rule"), "rows": rows})
    return out


# ---------------------------------------------------------------------------

def strict_json(obj):
    """obj with every NaN or infinity replaced by None, so stats.json is strict JSON (an
    infinite interval end or MDE means "not reachable with these seeds"; the record says so)."""
    if isinstance(obj, dict):
        return {str(k): strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return strict_json(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def stats_meta(p, runs: dict, summ: dict, ignored: list[str], design: dict, original: dict) -> dict:
    """What stats.json says about how its numbers were made."""
    done = [r["train"] for v in runs.values() for r in v.values() if r["train"]]
    h = p.hypotheses
    return {"profile": p.profile, "design_version": h["version"], "registered": h["registered"],
            "primary_metric": h["primary_metric"],
            "prereg_hash": p.prereg_hash, "params_hash": p.hash, "amendments_hash": p.amendments_hash,
            "design_meta": design["meta"],
            "n_runs": len(done), "n_diverged": sum(bool(t.get("diverged")) for t in done), "ignored_runs": ignored,
            "other_registration_runs": other_registration(runs, p.prereg_hash),
            "other_registration": other_registration_groups(runs, p),
            "tokens_seen": next((e["tokens_seen"] for e in summ.values() if e.get("tokens_seen")), None),
            "families": families(all_tests(h)), "registered_families": families(h["tests"]),
            "amendments": amendments_summary(h), "verdict_rule": st.VERDICT_RULE_V2,
            "incomplete_pair_rule": st.INCOMPLETE_PAIR_RULE, "design_rule": DESIGN_RULE, "seeds": p.seeds,
            "groups": p.groups, "original": original}
