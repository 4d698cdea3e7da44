"""Generated prose: what each verdict says, with its caveats, in LaTeX (numbers as macros)
or markdown (numbers written out), from the same sentences.

Nothing here is a result: every number comes from reporting.macros' dictionaries, every
word that depends on the outcome is chosen by the verdict, the margin, the claim and the
MDEs of the record. The caveats VERDICT_RULE_V2 implies are spelled out where they apply:
the seed count behind each verdict, "trivially different" = a real difference smaller than
the margin, an equivalence verdict names its margin and the claim it dismisses, and an
inconclusive verdict says when the design could not detect effects of the margin's size.
The sentences' words are in paper/sentences.yaml (`study:`); this module picks and fills them.
"""
from __future__ import annotations

import math

from reporting.latex import macro_name, tex_escape
from reporting.macros import design_globals, design_values, hypothesis_values
from reporting.sentences import say


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

class Numbers(dict):
    """A sentence's fields: those given, then hypothesis `hid`'s numbers, then the study's (looked
    up on demand: a sentence formats only the numbers it names)."""

    def __init__(self, S: Style, hid: str | None = None, **given):
        super().__init__(pct=S.pct, pm=S.pm, **given)
        self.S, self.hid = S, hid

    def __missing__(self, key: str) -> str:
        if self.hid is not None and key in self.S.values.get(self.hid, {}):
            return self.S.num(self.hid, key)
        if key in self.S.values.get("", {}):
            return self.S.g(key)
        raise KeyError(key)


def numbers_sentence(r: dict, S: Style) -> str:
    """The difference, both intervals (labelled), the p-values and the margin."""
    n = Numbers(S, r["id"])
    if r["comparison"] is None:
        return say("study.numbers.incomplete", n)
    return say("study.numbers.full", n, units=r["margin"]["units"])


def meaning(r: dict, S: Style) -> str:
    """What the verdict says about A and B, in the registered terms."""
    v = r["verdict"]
    n = Numbers(S, r["id"], a=S.tt(r["a"]), b=S.tt(r["b"]), verdict=v, family=S.esc(r["family"]),
                reason=S.esc(r["margin"]["reason"]))
    n["margin"] = say("study.meaning.margin", n)
    claimed = r["margin"]["claimed_ppl"] is not None
    if claimed:
        n["claim"] = say("study.meaning.claim", n)
    if v in ("better", "worse"):
        out = say("study.meaning.directed", n)
        if claimed:
            out += " " + say("study.meaning.directed_claimed", n)
        return out + "."
    if v == "equivalent":
        return say("study.meaning.equivalent", n) + say(
            "study.meaning.equivalent_claimed" if claimed else "study.meaning.equivalent_unclaimed", n)
    if v == "trivially different":
        return say("study.meaning.trivial", n) + (say("study.meaning.trivial_claimed", n) if claimed else ".")
    if r["verdict_reason"] != "VERDICT_RULE_V2":
        return say("study.meaning.incomplete_rule", reason=S.esc(r["verdict_reason"]))
    return say("study.meaning.inconclusive", n)


def power_caveat(r: dict, design_row: dict, S: Style) -> str:
    """For an inconclusive verdict: whether the design and these seeds could detect an effect
    of the margin's size at all (design MDE from the pilot sd, observed MDE from this sd)."""
    if r["verdict"] != "inconclusive" or r["comparison"] is None or r["verdict_reason"] != "VERDICT_RULE_V2":
        return ""   # decided by the incomplete pair rule: the seeds were missing, not the power
    margin = design_row["margin"]
    obs = r["mde"]["observed"] or {}
    design_mde, observed_mde = design_row["mde"], obs.get("mde")
    n = Numbers(S, r["id"], units=r["margin"]["units"])
    if any(x is not None and math.isinf(x) for x in (design_mde, observed_mde)):
        return " " + say("study.caveat.cannot_reach", n)
    n["mdes"] = say("study.caveat.mdes", n)
    above = [w for w, x in (("design", design_mde), ("observed", observed_mde)) if _above(x, margin)]
    if len(above) == 2:
        return " " + say("study.caveat.undetectable_both", n)
    if above:
        return " " + say("study.caveat.undetectable_one", n, which=above[0])
    return " " + say("study.caveat.detectable", n)


def added_by(r: dict) -> str:
    """"added by amendment N, registered DATE" for an amendment's hypothesis, else ""."""
    return say("study.added_by", amendment=r["amendment"], registered=r["registered"]) if r.get("amendment") else ""


def claim_item(r: dict, design_row: dict, S: Style) -> str:
    """One hypothesis: question, numbers, verdict, meaning, caveat; an amendment's says so."""
    return say("study.claim_item", id=S.b(r["id"]), a=S.tt(r["a"]), b=S.tt(r["b"]), family=S.esc(r["family"]),
               label=f"; {added_by(r)}" if r.get("amendment") else "", question=S.esc(r["question"]),
               numbers=numbers_sentence(r, S), verdict=S.b(S.num(r["id"], "Verdict")), meaning=meaning(r, S),
               caveat=power_caveat(r, design_row, S))


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
    verdicts = "; ".join(say("study.family.verdict_group", verdict=v, ids=", ".join(ids)) for v, ids in groups.items())
    size = say("study.family.size_one" if len(members) == 1 else "study.family.size_many", n=len(members))
    label = f"{added_by(members[0])}; " if members[0].get("amendment") else ""
    out = say("study.family.sentence", family=S.esc(family), label=label, size=size, verdicts=verdicts)
    weak = [i for i in groups.get("inconclusive", []) if _above(design_rows[i]["mde"], design_rows[i]["margin"])]
    if weak:
        out += " " + (say("study.family.weak_all") if len(weak) == len(groups["inconclusive"])
                      else say("study.family.weak", ids=", ".join(weak)))
    return out


OUTCOMES = {"better": ("better",), "worse": ("worse",), "dismissed": ("equivalent", "trivially different"),
            "undecided": ("inconclusive",)}   # paper/sentences.yaml study.outcome.<key>: its words


def claims_outcome(hyps: list[dict], S: Style) -> str:
    """How the hypotheses tied to a claim of the original came out."""
    tied = [r for r in hyps if r["margin"]["claimed_ppl"] is not None]
    if not tied:
        return ""
    parts = [say("study.outcome.part", n=len(ids), kind=say(f"study.outcome.{k}"), ids=", ".join(ids))
             for k, vs in OUTCOMES.items() if (ids := [r["id"] for r in tied if r["verdict"] in vs])]
    return say("study.outcome.sentence", n=len(tied), parts="; ".join(parts))


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
    text = say("study.abstract.tally", seeds=n_seeds, n=len(registered), tally=tally)
    decided = [r for r in registered if r["verdict"] != "inconclusive"]
    if decided:
        text += " " + say("study.abstract.decided", items="; ".join(
            say("study.abstract.decided_item", id=S.esc(r["id"]), question=S.esc(r["question"].rstrip("?")),
                verdict=r["verdict"]) for r in decided))
    text += " " + claims_outcome(registered, S)
    if len(registered) < len(hyps):
        text += " " + say("study.abstract.amended", n=len(hyps) - len(registered))
    if S.latex:
        return "% generated by pipeline/stats.py from the verdicts\n" + text.strip() + "\n"
    return text.strip() + "\n"


def amendments_paragraph(meta: dict, S: Style) -> str:
    """What hypotheses.amendments added to the registration (stats.json's meta: version, date,
    prereg_hash, amendments), and what it leaves as registered; one sentence if none. For
    summary.md and the paper's protocol (tex/amendments.tex)."""
    amendments, version = meta.get("amendments") or [], meta["design_version"]
    if not amendments:
        return say("study.amendments.none", version=version)
    items = []
    for a in amendments:
        reason = " ".join(a["reason"].split())
        key = "study.amendments.item_one_family" if len(a["families"]) == 1 else "study.amendments.item_families"
        items.append(say(key, number=a["number"], registered=a["registered"], tests=S.esc(", ".join(a["tests"])),
                         families=", ".join(S.esc(f) for f in a["families"]), reason=S.esc(reason))
                     + ("" if reason.endswith((".", "?", "!")) else "."))
    times = say("study.amendments.once") if len(amendments) == 1 else say("study.amendments.times", n=len(amendments))
    return say("study.amendments.paragraph", version=version, registered=meta["registered"], times=times,
               items=" ".join(items), hash=S.tt(meta["prereg_hash"][:12]))


def conclusion(design: dict, hyps: list[dict], S: Style) -> str:
    """The paragraph that says what the evidence supports, assembled from the verdicts."""
    rows = {d["id"]: d for d in design["rows"]}
    fams: dict[str, list[dict]] = {}
    for r in hyps:
        fams.setdefault(r["family"], []).append(r)
    text = " ".join(family_sentence(f, ms, rows, S) for f, ms in fams.items())
    text += " " + claims_outcome(hyps, S)
    text += " " + say("study.conclusion_closing")
    if S.latex:
        return "% generated by pipeline/stats.py from the verdicts\n" + text.strip() + "\n"
    return text.strip() + "\n"
