"""The ladder's generated sentences (issue 18), LaTeX or markdown from the same words: what the
ladder is (from params, so it exists before any run), which verdicts hold at every size and
length and which change, and what the trend test says about it. No number is typed here; the words
are in paper/sentences.yaml (`ladder:`)."""
from __future__ import annotations

from reporting.latex import tex_escape
from reporting.sentences import say


class Words:
    def __init__(self, latex: bool):
        self.latex = latex

    def tt(self, s: str) -> str:
        return f"\\texttt{{{tex_escape(s)}}}" if self.latex else f"`{s}`"

    def esc(self, s: str) -> str:
        return tex_escape(s) if self.latex else s

    def span(self, lo: str, hi: str) -> str:
        """'lo' when both ends agree, else an en-dash range."""
        return lo if lo == hi else f"{lo}{'--' if self.latex else '–'}{hi}"

    def pm(self) -> str:
        return "$\\pm$" if self.latex else "±"


def _list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else say("ladder.list_last", items=", ".join(items[:-1]), last=items[-1])


def variant_spans(rungs: dict) -> dict[str, float]:
    """Per variant: its largest rung's parameters over its smallest's."""
    per: dict[str, list[int]] = {}
    for f in rungs.values():
        for v, n in (f.get("params") or {}).items():
            per.setdefault(v, []).append(n)
    return {v: max(ns) / min(ns) for v, ns in per.items() if len(ns) > 1}


def _grids(meta: dict, rungs: dict, W: Words) -> str:
    """The learning rates tuned: one list when every rung tunes the same, else each rung's."""
    grids = {r: f.get("lr_grid", meta["lr_grid"]) for r, f in rungs.items()}
    if len({tuple(g) for g in grids.values()}) <= 1:
        return _list([f"{x:g}" for x in next(iter(grids.values()), meta["lr_grid"])])
    return say("ladder.rung_grids", grids="; ".join(f"{W.tt(r)}: {_list([f'{x:g}' for x in g])}"
                                                    for r, g in grids.items()))


def registration(meta: dict, rungs: dict, latex: bool) -> str:
    """The ladder in words: rungs (size, parameters, lengths, tokens), variants, seeds, tuning."""
    W = Words(latex)
    parts = []
    for r, f in rungs.items():
        m = f["model"]
        tokens = (say("ladder.rung_tokens", tokens=_list([f"{t / 1e6:.2f}M" for t in f["tokens"].values()]))
                  if f.get("tokens") else "")
        parts.append(say("ladder.rung", name=W.tt(r), width=m["d_model"], layers=m["n_layers"], heads=m["n_heads"],
                         context=m["max_seq_len"], params=f"{f['scale_params'] / 1e6:.2f}",
                         lengths=_list([f"{x:g}" for x in f["lengths"]]), tokens=tokens))
    sizes = [f["scale_params"] for f in rungs.values()]
    span = max(sizes) / min(sizes) if sizes else float("nan")
    narrow = sorted(f"{x:.1f}" for x in variant_spans(rungs).values() if f"{x:.1f}" != f"{span:.1f}")
    state = (say("ladder.state_registered", date=meta["registered"]) if meta["status"] == "registered"
             else say("ladder.state_draft"))
    return say("ladder.registration", state=state, variants=_list([W.tt(v) for v in meta["variants"]]),
               n_rungs=len(rungs), rungs="; ".join(parts), span=f"{span:.1f}", vocab=f"{meta['vocab_size']:,}",
               narrow=say("ladder.narrow_span", span=W.span(narrow[0], narrow[-1])) if narrow else "",
               profile=W.tt(meta["profile"]), grid=_grids(meta, rungs, W),
               n_tune=len(meta["tune_seeds"]), n_seeds=len(meta["seeds"]),
               hypotheses=_list([W.esc(h) for h in meta["hypotheses"]]),
               revisions="".join(say("ladder.revision", date=r["date"], change=W.esc(r["change"].rstrip(".")),
                                     reason=W.esc(r["reason"].rstrip(".")))
                                 for r in meta.get("revisions", []))) + "\n"


def _cells_by_verdict(verdicts: dict[str, str]) -> str:
    groups: dict[str, list[str]] = {}
    for cell, v in verdicts.items():
        groups.setdefault(v, []).append(cell)
    return "; ".join(say("ladder.stability.cells", verdict=v, cells=_list(cells)) for v, cells in groups.items())


def _favoured(tr: dict, slope: dict) -> str:
    """The variant a slope that 'changes' moves the comparison towards."""
    return tr["a"] if slope["favours"] == "a" else tr["b"]


def _trend_sentence(tr: dict, W: Words) -> str:
    slopes = tr.get("slopes") or {}
    if not slopes:
        return " " + say("ladder.trend.none", note=W.esc(tr.get("note", say("ladder.trend.too_few"))))
    out = []
    for term, s in slopes.items():
        words = say(f"ladder.term.{term}")
        if s["verdict"] == "changes":
            mb = "" if "mb_low" not in s else say(
                "ladder.trend.mb_zero" if s["mb_low"] <= 0 <= s["mb_high"] else "ladder.trend.mb_agrees")
            out.append(say("ladder.trend.changes", term=words, side=W.tt(_favoured(tr, s))) + mb)
        else:
            mb = "" if "mb_low" not in s or s["mb_low"] <= 0 <= s["mb_high"] else say(
                "ladder.trend.mb_excludes", side=W.tt(tr["a"] if (s["mb_high"] < 0) == (tr["better"] == "lower")
                                                     else tr["b"]), n=tr["n_seeds"])
            out.append(say(f"ladder.trend.{s['verdict']}", term=words) + mb)
    return " " + say("ladder.trend.sentence", parts="; ".join(out))


def stability(doc: dict, latex: bool) -> str:
    """Per hypothesis: stable or changing verdicts across cells, with the trend test's answer."""
    W = Words(latex)
    st, trends = doc["stability"], {t["id"]: t for t in doc["trends"]}
    if all(s["pattern"] == "none" for s in st.values()):
        return say("ladder.stability.none") + "\n"
    stable = [h for h, s in st.items() if s["pattern"] == "stable"]
    change = [h for h, s in st.items() if s["pattern"] == "changes"]
    lines = []
    if stable:
        lines.append(say("ladder.stability.stable", items=_list(
            [say("ladder.stability.stable_item", id=W.esc(h), kind=st[h]["kinds"][0]) for h in stable])))
    if change:
        lines.append(say("ladder.stability.change", ids=_list([W.esc(h) for h in change])))
    lines.append(say("ladder.stability.caution"))
    for h, s in st.items():
        if s["pattern"] == "none":
            lines.append(say("ladder.stability.no_cell", id=W.esc(h)))
            continue
        lines.append(say("ladder.stability.hypothesis", id=W.esc(h), a=W.tt(trends[h]["a"]), b=W.tt(trends[h]["b"]),
                         cells=_cells_by_verdict(s["verdicts"]), trend=_trend_sentence(trends[h], W)))
    for e in doc.get("earlier_trends", []):
        items = _trend_items(e["trends"], W)
        lines.append(say("ladder.stability.earlier" if latex else "ladder.stability.earlier_md",
                         revision=e["revision"], cells=_list([W.esc(c) for c in e["cells"]]),
                         items=_list(items) if items else say("ladder.stability.earlier_none")))
    return "\n\n".join(lines) + "\n"


def lengths(doc: dict, latex: bool) -> str:
    """How far each cell's training is from converged: the range over variants of the mean fall of
    validation loss over the last part of the runs (evals.ladder.end_slope)."""
    W = Words(latex)
    parts, window, flat, near = [], None, {True: [], False: []}, []
    for c in doc["cells"]:
        e = c.get("end_slope") or {}
        means = [d["mean"] for d in (e.get("variants") or {}).values()]
        if not means:
            continue
        window = e["window_epochs"]
        lo, hi = f"{min(means):.3f}", f"{max(means):.3f}"
        parts.append(say("ladder.lengths.cell", range=W.span(lo, hi),
                         cell=W.esc(c["label"])))
        if e.get("flat") is not None:
            flat[e["flat"]].append(W.esc(c["label"]))
            under = sum(d["mean"] < e["threshold"] for d in e["variants"].values())
            if not e["flat"] and under:
                near.append(say("ladder.lengths.near_item", cell=W.esc(c["label"]), k=under, n=len(means)))
    if not parts:
        return say("ladder.lengths.none") + "\n"
    out = say("ladder.lengths.sentence", window=f"{window:g}", cells=_list(parts))
    threshold = next(f"{c['end_slope']['threshold']:g}" for c in doc["cells"]
                     if (c.get("end_slope") or {}).get("variants"))
    near_text = " " + say("ladder.lengths.near", items=_list(near)) if near else ""
    if flat[True]:
        not_flat = say("ladder.lengths.not_flat", cells=_list(flat[False])) if flat[False] else ""
        return out + " " + say("ladder.lengths.flat", threshold=threshold, flat=_list(flat[True]),
                               not_flat=not_flat) + near_text + "\n"
    return out + (" " + say("ladder.lengths.flat_none", threshold=threshold) + near_text if flat[False] else "") + "\n"


def _trend_items(trends: list[dict], W: Words) -> list[str]:
    """Per hypothesis, the terms whose slope the trend test decided, grouped by the side they favour."""
    items = []
    for tr in trends:
        groups: dict[str, list[str]] = {}
        for term, s in (tr.get("slopes") or {}).items():
            if s["verdict"] == "changes":
                groups.setdefault(_favoured(tr, s), []).append(say(f"ladder.term.{term}"))
            elif s["verdict"] == "stable":
                groups.setdefault("", []).append(say(f"ladder.term.{term}"))
        for side, terms in groups.items():
            key = ("ladder.abstract.trend_stable" if not side else
                   "ladder.abstract.trend_item" if len(terms) > 1 else "ladder.abstract.trend_item_one")
            items.append(say(key, id=W.esc(tr["id"]), side=W.tt(side), terms=_list(terms)))
    return items


def abstract(doc: dict, latex: bool) -> str:
    """One or two sentences for the paper's abstract: which verdicts hold in every cell, which differ,
    and what the trend test decided. Empty before any final run has finished."""
    W = Words(latex)
    st = doc["stability"]
    if all(s["pattern"] == "none" for s in st.values()):
        return ""
    sizes = [f["scale_params"] for f in doc["rungs"].values()]
    stable = [h for h, s in st.items() if s["pattern"] == "stable"]
    change = [h for h, s in st.items() if s["pattern"] == "changes"]
    parts = []
    if stable:
        parts.append(say("ladder.abstract.stable" if len(stable) > 1 else "ladder.abstract.stable_one", items=_list(
            [say("ladder.stability.stable_item", id=W.esc(h), kind=st[h]["kinds"][0]) for h in stable])))
    if change:
        parts.append(say("ladder.abstract.change", ids=_list([W.esc(h) for h in change])))
    items = _trend_items(doc["trends"], W)
    trend = say("ladder.abstract.trend", items=_list(items)) if items else say("ladder.abstract.no_trend")
    head = say("ladder.abstract.head", n_rungs=len(sizes), span=f"{max(sizes) / min(sizes):.1f}",
               n_lengths=max(len(f["lengths"]) for f in doc["rungs"].values()), n_seeds=len(doc["meta"]["seeds"]))
    return f"{head} {'; '.join(parts)}. {trend}\n"


def no_results(meta: dict, rungs: dict, latex: bool) -> str:
    """The section's body before ladder_stats has run: the plan, and that there are no results."""
    W = Words(latex)
    head = say("ladder.no_results_head")
    return (registration(meta, rungs, latex) + "\n" + (f"\\textbf{{{head}}} " if latex else f"**{head}** ")
            + say("ladder.no_results", stage=W.tt("ladder_stats")) + "\n")
