"""The numbers of the design and the study as named strings, and as LaTeX macros.

Each number is formatted once, here (design_values, hypothesis_values, ...); the macros,
the generated prose and the markdown summary all take it from these dictionaries, so the
paper, the summary and the terminal cannot disagree on a digit. Macro names are
reporting.latex.macro_name(profile, id, key), e.g. \\resSmallHOneADiff.
"""
from __future__ import annotations

from reporting.latex import Macros, macro_name, tex_escape
from reporting.numbers import fmt, fmt_count, fmt_g, fmt_level, fmt_p

VARIANT_METRICS = (("lm_test/bits_per_byte", "Bpb", 3), ("val_ppl", "ValPpl", 1), ("val_loss", "ValLoss", 3),
                   ("rhyme/acc", "RhymeAcc", 3), ("cloze/acc", "ClozeAcc", 3), ("agreement/acc", "AgreeAcc", 3))


def ppl(x) -> str:
    """A size in % per-token perplexity (the unit of the margins)."""
    return fmt(x, 2)


def design_values(row: dict) -> dict[str, str]:
    """One hypothesis of design.json: family size, pairs, resolution, margin, pilot sd, MDEs."""
    return {
        "DesignN": str(row["n"]), "DesignM": str(row["m"]),
        "DesignMinP": fmt_g(row["min_p"]), "DesignHolmLevel": fmt_g(row["holm_first_level"]),
        "MarginPpl": f"{row['margin_ppl']:g}", "MarginBpb": fmt(row["margin"]),
        "ClaimedPpl": "none" if row["claimed_ppl"] is None else f"{row['claimed_ppl']:g}",
        "DesignPilotSd": fmt(row["pilot_sd"]), "DesignMde": fmt(row["mde"]), "DesignMdePpl": ppl(row["mde_ppl"]),
        "DesignEqMde": fmt(row["mde_equivalence"]), "DesignEqMdePpl": ppl(row["mde_equivalence_ppl"]),
        "DesignMdeBelowMargin": "yes" if row["mde_below_margin"] else "no",
        "DesignEqMdeBelowMargin": "yes" if row["mde_equivalence_below_margin"] else "no",
    }


def design_globals(doc: dict) -> dict[str, str]:
    """The registration-level numbers of design.json. Hypotheses and Families count the
    registration's own; Amendments and AmendmentHypotheses what hypotheses.amendments added."""
    meta = doc["meta"]
    registered = [r for r in doc["rows"] if not r.get("amendment")]
    return {
        "DesignVersion": str(meta["version"]), "DesignRegistered": meta["registered"],
        "DesignPower": fmt_level(meta["power"]), "Alpha": f"{meta['alpha']:g}",
        "ConfidencePct": fmt_level(meta["confidence"]), "BytesPerToken": fmt(meta["bytes_per_token"], 3),
        "TestBytes": fmt_count(meta["test_bytes"]), "TestTokens": fmt_count(meta["test_tokens"]),
        "DesignSimulations": fmt_count(meta["n_sim"]), "MaxExcludedPct": fmt_level(meta["max_excluded_fraction"]),
        "BootResamples": fmt_count(meta["bootstrap_resamples"]),
        "Families": str(len(meta.get("registered_families", meta["families"]))), "Hypotheses": str(len(registered)),
        "Amendments": str(len(meta.get("amendments", []))),
        "AmendmentHypotheses": str(len(doc["rows"]) - len(registered)),
    }


def hypothesis_values(r: dict) -> dict[str, str]:
    """One hypothesis of stats.json: verdict, difference and intervals, p-values, MDEs, the
    multi-bootstrap, the per-seed correlation and the learning-curve difference at the end."""
    c, mde, mb = r["comparison"] or {}, r["mde"], r["multi_bootstrap"]
    obs = mde.get("observed") or {}
    pc = c.get("ppl_change") or {}
    pts = (r.get("curve_diff") or {}).get("points") or []
    return {
        "Verdict": r["verdict"], "Registration": r.get("registration", "registered"),
        "N": str(c.get("n", len(r["seeds"]))), "Planned": str(len(r["planned_seeds"])),
        "Excluded": str(len(r["excluded"])),
        "Diff": fmt(c.get("mean_diff"), sign=True), "PplChange": fmt(pc.get("mean"), 2, sign=True),
        "CiLevel": fmt_level(c.get("ci_level")), "CiLow": fmt(c.get("ci_low"), sign=True),
        "CiHigh": fmt(c.get("ci_high"), sign=True), "PplChangeLow": fmt(pc.get("ci_low"), 2, sign=True),
        "PplChangeHigh": fmt(pc.get("ci_high"), 2, sign=True), "CiUnadjLow": fmt(c.get("ci95_low"), sign=True),
        "CiUnadjHigh": fmt(c.get("ci95_high"), sign=True),
        "P": fmt_p(c.get("p_signflip")), "PAdj": fmt_p(c.get("p_adjusted")),
        "PEqAdj": fmt_p(c.get("p_equivalence_adjusted")), "SdDiff": fmt(c.get("sd_diff")),
        "ObsMde": fmt(obs.get("mde")), "ObsMdePpl": ppl(obs.get("mde_ppl")),
        "ObsEqMde": fmt(obs.get("mde_equivalence")), "ObsEqMdePpl": ppl(obs.get("mde_equivalence_ppl")),
        "BootLow": fmt(mb.get("ci_low"), sign=True), "BootHigh": fmt(mb.get("ci_high"), sign=True),
        "BootP": mb.get("p_text", "n/a"), "PBetterSeeds": fmt(mb.get("p_a_better_seeds"), 2),
        "SeedR": fmt((r.get("seed_correlation") or {}).get("r"), 2),
        "NormalityP": fmt_p((c.get("normality") or {}).get("p")),
        "CurveFinal": fmt(pts[-1]["mean"], sign=True) if pts else "n/a",
    }


def variant_values(e: dict) -> dict[str, str]:
    """One variant: mean and sd of each reported metric, finished seeds, parameters."""
    out = {}
    for metric, key, digits in VARIANT_METRICS:
        s = e["metrics"].get(metric, {})
        out[f"{key}Mean"], out[f"{key}Sd"] = fmt(s.get("mean"), digits), fmt(s.get("sd"), digits)
    out["Seeds"] = str(len(e["finished"]))
    out["Params"] = f"{e['n_params'] / 1e6:.2f}M" if e.get("n_params") else "n/a"
    return out


def study_globals(p, meta: dict, hyps: list[dict]) -> dict[str, str]:
    """Seeds, runs, stamps and the verdict counts of this study."""
    tok = meta.get("tokens_seen")
    out = {"SeedsCore": str(len(p.seeds["core"])), "SeedsAblation": str(len(p.seeds["ablation"])),
           "Runs": str(meta["n_runs"]), "RunsDiverged": str(meta["n_diverged"]),
           "RunsOtherRegistration": str(len(meta["other_registration_runs"])),
           "TokensPerRun": f"{tok / 1e6:.2f}M" if tok else "n/a", "ParamsHash": p.hash[:12],
           "PreregHash": p.prereg_hash[:12]}
    for verdict in ("better", "worse", "equivalent", "trivially different", "inconclusive"):
        out["Count" + verdict.title().replace(" ", "")] = str(sum(r["verdict"] == verdict for r in hyps))
    return out


# ---------------------------------------------------------------------------

def add_design(m: Macros, doc: dict) -> Macros:
    for k, v in design_globals(doc).items():
        m.add((k,), v)
    for row in doc["rows"]:
        for k, v in design_values(row).items():
            m.add((row["id"], k), v)
    return m


def design_macros(profile: str, doc: dict, source: str) -> str:
    """The design stage's macros (also part of the stats stage's numbers.tex)."""
    return add_design(Macros(profile, source), doc).text()


def stats_macros(p, design: dict, summ: dict, hyps: list[dict], meta: dict) -> str:
    """numbers.tex: the design's macros and the study's, one file for the paper."""
    m = add_design(Macros(p.profile, "pipeline/stats.py"), design)
    for v, e in summ.items():
        for k, val in variant_values(e).items():
            m.add((v, k), val)
    for r in hyps:
        for k, val in hypothesis_values(r).items():
            m.add((r["id"], k), val)
    for k, val in study_globals(p, meta, hyps).items():
        m.add((k,), val)
    return m.text()


def stamp_macros(profile: str, stamps: dict) -> str:
    """tex/stamps.tex: the machines the runs trained on, the one stamp the paper prints. Apart
    from numbers.tex (and hidden from DVC by .dvcignore). The commit and date stay in stamps.json:
    printed, they would change the PDF on every reproduction of the same numbers."""
    m = Macros(profile, "pipeline/stats.py from the stamps")
    m.add(("Hardware",), tex_escape("; ".join(stamps["train_hardware"]) or "not recorded"))
    return m.text()


def original_macros(original: dict) -> str:
    """Numbers the original work reported (paper/original_results.yaml), for comparison only."""
    lines = ["% generated from paper/original_results.yaml (numbers reported by the original work)"]
    for model, vals in original["models"].items():
        for k, v in vals.items():
            lines.append(f"\\newcommand{{\\{macro_name('Orig', model, k)}}}{{{v}}}")
    for k, v in original["claims"].items():
        lines.append(f"\\newcommand{{\\{macro_name('Orig', k)}}}{{{v}}}")
    return "\n".join(lines) + "\n"



def rules_tex() -> str:
    """The rules as the code states them (evals.stats, evals.design), for the protocol section."""
    from evals.design import DESIGN_RULE
    from evals.stats import INCOMPLETE_PAIR_RULE, VERDICT_RULE_V2
    return ("% generated from evals/stats.py and evals/design.py\n"
            "\\newcommand{\\verdictrule}{" + tex_escape(VERDICT_RULE_V2) + "}\n"
            "\\newcommand{\\incompleterule}{" + tex_escape(INCOMPLETE_PAIR_RULE) + "}\n"
            "\\newcommand{\\designrule}{" + tex_escape(DESIGN_RULE) + "}\n")
