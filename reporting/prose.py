"""Generated prose: what each verdict says, with its caveats, in LaTeX (numbers as macros)
or markdown (numbers written out), from the same sentences.

Nothing here is a result: every number comes from reporting.macros' dictionaries, every
word that depends on the outcome is chosen by the verdict, the margin, the claim and the
MDEs of the record. The caveats VERDICT_RULE_V2 implies are spelled out where they apply:
the seed count behind each verdict, "trivially different" = a real difference smaller than
the margin, an equivalence verdict names its margin and the claim it dismisses, and an
inconclusive verdict says when the design could not detect effects of the margin's size.
"""
from __future__ import annotations

import math

from reporting.latex import macro_name, tex_escape
from reporting.macros import design_globals, design_values, hypothesis_values


class Style:
    """LaTeX (numbers as the profile's macros) or markdown (the numbers themselves)."""

    def __init__(self, latex: bool, profile: str, values: dict[str, dict[str, str]]):
        self.latex, self.profile, self.values = latex, profile, values
        self.pct, self.pm = ("\\%", "$\\pm$") if latex else ("%", "±")

    def num(self, hid: str, key: str) -> str:
        if self.latex:
            return "\\" + macro_name(self.profile, hid, key) + "{}"
        return self.values[hid][key]

    def g(self, key: str) -> str:
        return "\\" + macro_name(self.profile, key) + "{}" if self.latex else self.values[""][key]

    def tt(self, s: str) -> str:
        return f"\\texttt{{{tex_escape(s)}}}" if self.latex else f"`{s}`"

    def b(self, s: str) -> str:
        return f"\\textbf{{{s}}}" if self.latex else f"**{s}**"

    def esc(self, s: str) -> str:
        return tex_escape(s) if self.latex else s


def values_of(design: dict, hyps: list[dict]) -> dict[str, dict[str, str]]:
    """Every formatted number the prose may name: per hypothesis id, and the globals under ""."""
    rows = {r["id"]: r for r in design["rows"]}
    out = {r["id"]: design_values(rows[r["id"]]) | hypothesis_values(r) for r in hyps}
    out[""] = design_globals(design)
    return out


def _above(x, margin) -> bool:
    return x is not None and (math.isinf(x) or x >= margin)


# ---------------------------------------------------------------------------
# Sentences
# ---------------------------------------------------------------------------

def numbers_sentence(r: dict, S: Style) -> str:
    """The difference, both intervals (labelled), the p-values and the margin."""
    i = r["id"]

    def n(k: str) -> str:
        return S.num(i, k)
    if r["comparison"] is None:
        return f"Only {n('N')} of {n('Planned')} planned pairs are complete, too few to test."
    u = r["margin"]["units"]
    return (f"Mean paired difference {n('Diff')} {u} ({n('PplChange')}{S.pct} per-token perplexity); "
            f"sign-flip interval at its Holm level ({n('CiLevel')}{S.pct}) {n('CiLow')} to {n('CiHigh')}, "
            f"unadjusted {S.g('ConfidencePct')}{S.pct} interval {n('CiUnadjLow')} to {n('CiUnadjHigh')}; "
            f"{n('N')} paired seeds; sign-flip p {n('P')}, Holm-adjusted {n('PAdj')}; equivalence (sign-flip TOST) "
            f"Holm-adjusted p {n('PEqAdj')}; margin {S.pm}{n('MarginPpl')}{S.pct} perplexity "
            f"({S.pm}{n('MarginBpb')} {u}).")


def meaning(r: dict, S: Style) -> str:
    """What the verdict says about A and B, in the registered terms."""
    i, v = r["id"], r["verdict"]
    a, b = S.tt(r["a"]), S.tt(r["b"])
    margin = f"{S.pm}{S.num(i, 'MarginPpl')}{S.pct} per-token perplexity"
    claimed = r["margin"]["claimed_ppl"] is not None
    claim = f"the original's claim of {S.num(i, 'ClaimedPpl')}{S.pct} lower perplexity"
    reason = S.esc(r["margin"]["reason"])
    if v in ("better", "worse"):
        out = (f"{a} is {v} than {b}: the difference is significant after Holm within the {S.esc(r['family'])} "
               f"family and its interval is not inside the margin of {margin}")
        if claimed:
            out += (f" (the original claimed {S.num(i, 'ClaimedPpl')}{S.pct} lower perplexity for {a}; here its "
                    f"perplexity changes by {S.num(i, 'PplChange')}{S.pct}, Holm-level interval "
                    f"{S.num(i, 'PplChangeLow')}{S.pct} to {S.num(i, 'PplChangeHigh')}{S.pct})")
        return out + "."
    if v == "equivalent":
        out = (f"{a} and {b} are equivalent within {margin}: the equivalence test, Holm-adjusted within the family, "
               "rejects differences as large as the margin")
        return out + (f", which dismisses {claim} at this scale (margin: {reason})." if claimed
                      else f" (the original made no claim here; margin: {reason}).")
    if v == "trivially different":
        return (f"{a} and {b} differ, but by less than the margin of {margin}: a real difference (significant "
                "after Holm) too small to matter by the registered standard"
                + (f", and so smaller than {claim}." if claimed else "."))
    if r["verdict_reason"] != "VERDICT_RULE_V2":
        return f"Inconclusive by the incomplete pair rule: {S.esc(r['verdict_reason'])}."
    return f"Neither a difference nor equivalence within {margin} is shown with {S.num(i, 'N')} paired seeds."


def power_caveat(r: dict, design_row: dict, S: Style) -> str:
    """For an inconclusive verdict: whether the design and these seeds could detect an effect
    of the margin's size at all (design MDE from the pilot sd, observed MDE from this sd)."""
    if r["verdict"] != "inconclusive" or r["comparison"] is None or r["verdict_reason"] != "VERDICT_RULE_V2":
        return ""   # decided by the incomplete pair rule: the seeds were missing, not the power
    i, u = r["id"], r["margin"]["units"]
    margin = design_row["margin"]
    obs = r["mde"]["observed"] or {}
    design_mde, observed_mde = design_row["mde"], obs.get("mde")
    power = f"{S.g('DesignPower')}{S.pct}"
    if any(x is not None and math.isinf(x) for x in (design_mde, observed_mde)):
        return (f" With {S.num(i, 'N')} seeds the sign-flip test cannot reach its Holm level at all, so no effect "
                "of any size could be detected or shown equivalent: the verdict says nothing about the effect.")
    mdes = (f"design MDE {S.num(i, 'DesignMde')} {u} ({S.num(i, 'DesignMdePpl')}{S.pct} perplexity, pilot sd), "
            f"observed MDE {S.num(i, 'ObsMde')} {u} ({S.num(i, 'ObsMdePpl')}{S.pct}, these seeds' sd)")
    if _above(design_mde, margin) or _above(observed_mde, margin):
        which = " and ".join(w for w, x in (("design", design_mde), ("observed", observed_mde)) if _above(x, margin))
        return (f" With {S.num(i, 'N')} seeds the design could not detect, with {power} power, effects smaller than "
                f"the {which} MDE ({mdes}), which exceed{'s' if ' and ' not in which else ''} the margin: "
                "an effect of the margin's size is not ruled out.")
    return (f" Both MDEs are below the margin ({mdes}): an effect of the margin's size would likely have "
            "been detected, yet neither it nor equivalence is shown.")


def added_by(r: dict) -> str:
    """"added by amendment N, registered DATE" for an amendment's hypothesis, else ""."""
    return f"added by amendment {r['amendment']}, registered {r['registered']}" if r.get("amendment") else ""


def claim_item(r: dict, design_row: dict, S: Style) -> str:
    """One hypothesis: question, numbers, verdict, meaning, caveat; an amendment's says so."""
    label = f"; {added_by(r)}" if r.get("amendment") else ""
    head = (f"{S.b(r['id'])} ({S.tt(r['a'])} vs {S.tt(r['b'])}; family {S.esc(r['family'])}{label}): "
            f"{S.esc(r['question'])} ")
    return (head + numbers_sentence(r, S) + f" Verdict: {S.b(S.num(r['id'], 'Verdict'))}. "
            + meaning(r, S) + power_caveat(r, design_row, S))


def claims(design: dict, hyps: list[dict], S: Style) -> str:
    rows = {d["id"]: d for d in design["rows"]}
    items = [claim_item(r, rows[r["id"]], S) for r in hyps]
    if S.latex:
        return ("% generated by pipeline/stats.py from the verdicts\n\\begin{itemize}\n"
                + "\n".join(f"\\item {x}" for x in items) + "\n\\end{itemize}\n")
    return "\n".join(f"- {x}" for x in items) + "\n"


def family_sentence(family: str, members: list[dict], design_rows: dict, S: Style) -> str:
    """The verdicts of one Holm family, grouped, and which inconclusive ones the design could
    not have decided at the margin's size (design MDE above the margin)."""
    groups: dict[str, list[str]] = {}
    for r in members:
        groups.setdefault(r["verdict"], []).append(r["id"])
    parts = "; ".join(f"{v}: {', '.join(ids)}" for v, ids in groups.items())
    size = f"{len(members)} hypothes{'is' if len(members) == 1 else 'es'}"
    label = f"{added_by(members[0])}; " if members[0].get("amendment") else ""
    out = f"In the {S.esc(family)} family ({label}{size}, Holm within it) the verdicts are {parts}."
    weak = [i for i in groups.get("inconclusive", []) if _above(design_rows[i]["mde"], design_rows[i]["margin"])]
    if weak:
        whom = "all of them" if len(weak) == len(groups["inconclusive"]) else ", ".join(weak)
        out += f" Of the inconclusive ones, the design MDE exceeds the margin for {whom}."
    return out


def claims_outcome(hyps: list[dict], S: Style) -> str:
    """How the hypotheses tied to a claim of the original came out."""
    tied = [r for r in hyps if r["margin"]["claimed_ppl"] is not None]
    if not tied:
        return ""
    kinds = {"confirmed in direction (better)": ("better",), "reversed (worse)": ("worse",),
             "dismissed (equivalent or trivially different)": ("equivalent", "trivially different"),
             "undecided (inconclusive)": ("inconclusive",)}
    parts = [f"{len(ids)} {k} ({', '.join(ids)})" for k, vs in kinds.items()
             if (ids := [r["id"] for r in tied if r["verdict"] in vs])]
    return f"Of the {len(tied)} hypotheses tied to an effect the original claimed, " + "; ".join(parts) + "."


def abstract_result(hyps: list[dict], S: Style) -> str:
    """The abstract's result: how many registered hypotheses got each verdict, the decided ones
    by their registered question, and how the claims of the original came out; hypotheses added
    by an amendment are counted apart."""
    registered = [r for r in hyps if not r.get("amendment")]
    order = ("better", "worse", "trivially different", "equivalent", "inconclusive")
    tally = ", ".join(f"{len(rs)} {v}" for v in order if (rs := [r for r in registered if r["verdict"] == v]))
    seeds = sorted({len(r["seeds"]) for r in registered})
    dash = "--" if S.latex else "-"
    n_seeds = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]}{dash}{seeds[-1]}"
    text = f"Over {n_seeds} paired seeds per hypothesis, the {len(registered)} registered hypotheses come out {tally}."
    decided = [r for r in registered if r["verdict"] != "inconclusive"]
    if decided:
        text += " Decided: " + "; ".join(f"{S.esc(r['id'])} ({S.esc(r['question'].rstrip('?'))}?): {r['verdict']}"
                                        for r in decided) + "."
    text += " " + claims_outcome(registered, S)
    if len(registered) < len(hyps):
        text += f" {len(hyps) - len(registered)} hypotheses added later by amendment are reported apart."
    if S.latex:
        return "% generated by pipeline/stats.py from the verdicts\n" + text.strip() + "\n"
    return text.strip() + "\n"


def amendments_paragraph(meta: dict, S: Style) -> str:
    """What hypotheses.amendments added to the registration (stats.json's meta: version, date,
    prereg_hash, amendments), and what it leaves as registered; one sentence if none. For
    summary.md and the paper's protocol (tex/amendments.tex)."""
    amendments, version = meta.get("amendments") or [], meta["design_version"]
    if not amendments:
        return f"The registration (design version {version}) has not been amended."
    items = []
    for a in amendments:
        fams = ", ".join(S.esc(f) for f in a["families"])
        reason = " ".join(a["reason"].split())
        items.append(f"Amendment {a['number']}, registered {a['registered']}, adds {S.esc(', '.join(a['tests']))} "
                     f"(famil{'y' if len(a['families']) == 1 else 'ies'} {fams}). Its reason: {S.esc(reason)}"
                     + ("" if reason.endswith((".", "?", "!")) else "."))
    times = "once" if len(amendments) == 1 else f"{len(amendments)} times"
    return (f"The registration (design version {version}, registered {meta['registered']}) was amended {times}. "
            + " ".join(items) + " An amendment's hypotheses form families of their own, so "
            "the Holm corrections of the registered families, and their verdicts, are those of the registration; "
            f"the pre-registration hash {S.tt(meta['prereg_hash'][:12])} covers the registered hypotheses only. "
            "Every table and sentence labels an amendment's hypotheses with the amendment.")


def conclusion(design: dict, hyps: list[dict], S: Style) -> str:
    """The paragraph that says what the evidence supports, assembled from the verdicts."""
    rows = {d["id"]: d for d in design["rows"]}
    fams: dict[str, list[dict]] = {}
    for r in hyps:
        fams.setdefault(r["family"], []).append(r)
    text = " ".join(family_sentence(f, ms, rows, S) for f, ms in fams.items())
    text += " " + claims_outcome(hyps, S)
    text += (" Every verdict rests on the paired seeds it names; an inconclusive verdict is not evidence of no "
             "effect, and only an equivalent or trivially different verdict bounds an effect by its margin.")
    if S.latex:
        return "% generated by pipeline/stats.py from the verdicts\n" + text.strip() + "\n"
    return text.strip() + "\n"
