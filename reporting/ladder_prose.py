"""The ladder's generated sentences (issue 18), LaTeX or markdown from the same words: what the
ladder is (from params, so it exists before any run), which verdicts hold at every size and
length and which change, and what the trend test says about it. No number is typed here."""
from __future__ import annotations

from reporting.latex import tex_escape

TERM_WORDS = {"params": "model size", "tokens": "training length"}


class Words:
    def __init__(self, latex: bool):
        self.latex = latex

    def tt(self, s: str) -> str:
        return f"\\texttt{{{tex_escape(s)}}}" if self.latex else f"`{s}`"

    def esc(self, s: str) -> str:
        return tex_escape(s) if self.latex else s

    def pm(self) -> str:
        return "$\\pm$" if self.latex else "±"


def _list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def registration(meta: dict, rungs: dict, latex: bool) -> str:
    """The ladder in words: rungs (size, parameters, lengths, tokens), variants, seeds, tuning."""
    W = Words(latex)
    parts = []
    for r, f in rungs.items():
        m = f["model"]
        lengths = _list([f"{x:g}" for x in f["lengths"]])
        tokens = f" ({_list([f'{t / 1e6:.2f}M' for t in f['tokens'].values()])} tokens)" if f.get("tokens") else ""
        parts.append(f"{W.tt(r)} ({m['d_model']} wide, {m['n_layers']} layers, {m['n_heads']} heads, context "
                     f"{m['max_seq_len']}; {f['scale_params'] / 1e6:.2f}M parameters in the standard model) "
                     f"trained for {lengths} epochs{tokens}")
    sizes = [f["scale_params"] for f in rungs.values()]
    span = max(sizes) / min(sizes) if sizes else float("nan")
    state = (", registered on " + meta["registered"] + ",") if meta["status"] == "registered" else \
        ", a draft not yet registered (its final runs wait for the registration),"
    return (f"The ladder{state} trains {_list([W.tt(v) for v in meta['variants']])} at "
            f"{len(rungs)} sizes: {'; '.join(parts)}; a span of {span:.1f}x in parameters. The data, tokenizer "
            f"(vocabulary fixed at {meta['vocab_size']:,} tokens), phases, recipe and evaluation are those of the "
            f"{W.tt(meta['profile'])} profile at every rung. Each variant trains at its own learning rate, chosen per "
            f"rung from {_list([f'{x:g}' for x in meta['lr_grid']])} by the lowest mean validation loss over "
            f"{len(meta['tune_seeds'])} tuning seeds (disjoint from the {len(meta['seeds'])} paired final seeds; "
            f"the test split is never read while tuning). Hypotheses {_list([W.esc(h) for h in meta['hypotheses']])} "
            "get a verdict at every rung and length by the rule of the main study, and a registered trend test asks "
            "whether each effect changes with model size or training length.\n")


def _cells_by_verdict(verdicts: dict[str, str]) -> str:
    groups: dict[str, list[str]] = {}
    for cell, v in verdicts.items():
        groups.setdefault(v, []).append(cell)
    return "; ".join(f"{v} at {_list(cells)}" for v, cells in groups.items())


def _trend_sentence(tr: dict, W: Words) -> str:
    slopes = tr.get("slopes") or {}
    if not slopes:
        return " No trend could be fitted (" + W.esc(tr.get("note", "fewer than two cells")) + ")."
    out = []
    for term, s in slopes.items():
        if s["verdict"] == "changes":
            side = tr["a"] if s["favours"] == "a" else tr["b"]
            out.append(f"it changes with {TERM_WORDS[term]}, in favour of {W.tt(side)} as {TERM_WORDS[term]} grows")
        elif s["verdict"] == "stable":
            out.append(f"it moves by less than the margin across the ladder's {TERM_WORDS[term]}")
        else:
            out.append(f"whether it changes with {TERM_WORDS[term]} is inconclusive")
    return " The trend test: " + "; ".join(out) + "."


def stability(doc: dict, latex: bool) -> str:
    """Per hypothesis: stable or changing verdicts across cells, with the trend test's answer."""
    W = Words(latex)
    st, trends = doc["stability"], {t["id"]: t for t in doc["trends"]}
    if all(s["pattern"] == "none" for s in st.values()):
        return "No final run of the ladder has finished yet: no verdict at any rung.\n"
    stable = [h for h, s in st.items() if s["pattern"] == "stable"]
    change = [h for h, s in st.items() if s["pattern"] == "changes"]
    lines = []
    if stable:
        lines.append("Verdicts that are the same at every rung and length with results: "
                     + _list([f"{W.esc(h)} ({st[h]['kinds'][0]})" for h in stable]) + ".")
    if change:
        lines.append("Verdicts that change across the ladder: " + _list([W.esc(h) for h in change]) + ".")
    lines.append("A verdict that differs between cells is not by itself evidence that the effect changes (each "
                 "cell's verdict has its own power; the observed MDEs say how much): the trend test is the registered "
                 "answer to that question.")
    for h, s in st.items():
        if s["pattern"] == "none":
            lines.append(f"{W.esc(h)}: no cell with results yet.")
            continue
        lines.append(f"{W.esc(h)} ({W.tt(trends[h]['a'])} vs {W.tt(trends[h]['b'])}): "
                     f"{_cells_by_verdict(s['verdicts'])}.{_trend_sentence(trends[h], W)}")
    return "\n\n".join(lines) + "\n"


def no_results(meta: dict, rungs: dict, latex: bool) -> str:
    """The section's body before ladder_stats has run: the plan, and that there are no results."""
    W = Words(latex)
    return (registration(meta, rungs, latex) + "\n"
            + ("\\textbf{No results yet.} " if latex else "**No results yet.** ")
            + f"The ladder's runs have not been analysed (no output of the {W.tt('ladder_stats')} stage): this "
              "section states the plan only, and no conclusion about scale is drawn.\n")
