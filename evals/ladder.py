"""The ladder's statistics (issue 18): the design-v2 verdicts at every (rung, length) cell and
the registered trend over cells.

Each cell is analysed by exactly the main study's procedure (evals.study.design_rows and
analyse: the same margins, families, Holm, sign-flip tests and TOST, the same MDEs), on the
ladder's hypotheses and seeds: `CellView` gives evals.study the view of params it reads, so
no test is re-implemented here. Holm runs within each family within each cell: every cell
answers the same registered questions at its own size and length. Across cells the question
is the trend (evals.trend), one family of slopes with a Bonferroni level.
"""
from __future__ import annotations

import math

from evals import study
from evals.curves import read_curve
from evals.trend import trend
from resonator.inputs import read_json
from resonator.layout import length_tag

DOCUMENT_METRIC = "lm_test/bits_per_byte"    # the metric evals.study.document_scores gives per document
# The pilot's flattening criterion (design v2; tools/pilot.py): a length has flattened when validation
# loss falls by less than FLAT_NATS over the next FLAT_WINDOW epoch. end_slope checks it backwards
# (the fall over a run's last FLAT_WINDOW epoch), which a run can show without training further.
# The window is measured in curve rows, and its three users round it to rows differently:
# tools.pilot takes the rows within the window (results/small/pilot was made so), end_slope the
# row nearest the window's start (the span it used is recorded per cell), tools.flat_length the
# nearest whole number of rows. One helper for all three would change a recorded number, so they
# stay apart; the registered check is end_slope.
FLAT_NATS = 0.01
FLAT_WINDOW = 0.25


class CellView:
    """What evals.study reads of a Params, for one ladder cell: the main registration (rule,
    margins, alpha, metrics) with the ladder's hypotheses, variants and seeds."""

    def __init__(self, p, lad):
        self.profile, self.prereg_hash = lad.profile, p.prereg_hash
        self.hypotheses = {**p.hypotheses, "tests": lad.tests(), "amendments": []}   # the ladder's tests only
        self.groups = {"core": lad.variants, "ablation": []}
        self.seeds = {"core": lad.seeds, "ablation": []}
        self._variants, self._seeds = set(lad.variants), list(lad.seeds)

    def planned_seeds(self, variant: str) -> list[int]:
        return list(self._seeds) if variant in self._variants else []

    def runs(self) -> list[tuple[str, int]]:
        return [(v, s) for v in self.groups["core"] for s in self._seeds]


def _length_record(path, length: float, fix: str):
    """One length's record from a run's git-tracked train.json / eval.json (None if absent)."""
    if not path.exists():
        return None
    return (read_json(path, fix).get("lengths") or {}).get(f"{length:g}")


def cell_runs(lad, layout, rung: str, length: float) -> dict:
    """The cell's planned runs in evals.study's shape: {variant: {seed: {train, eval, curve, items}}}."""
    runs = {}
    for v in lad.variants:
        for s in lad.seeds:
            fr = layout.final_run(rung, v, s)
            lr = fr.length(length)
            runs.setdefault(v, {})[s] = {
                "train": _length_record(fr.train_json, length, "rerun `dvc repro train_rung`"),
                "eval": _length_record(fr.eval_json, length, "rerun `dvc repro eval_rung`"),
                "curve": lr.curve if lr.curve.exists() else None, "items": lr.items if lr.items.exists() else None}
    return runs


def analyse_cell(view: CellView, runs: dict, bpt: float, pilot: dict) -> dict:
    """design rows, hypothesis records (evals.study) and each hypothesis' per-seed paired
    differences (the trend's input) of one cell."""
    design = study.design_rows(view, bpt, pilot)
    rows = {r["id"]: r for r in design}
    records = study.analyse(view, runs, rows, bpt)
    h = view.hypotheses
    tables = {m: study.metric_table(runs, m) for m in {study.test_metric(h, t) for t in h["tests"]}}
    pairs = {}
    for t in h["tests"]:
        q = study.paired_values(view, tables, t)
        pairs[t["id"]] = {"seeds": list(q["used"]), "d": [float(a - b) for a, b in zip(q["x"], q["y"], strict=True)]}
    return {"design": design, "hypotheses": records, "pairs": pairs}


def document_diffs(runs: dict, h: dict, pairs: dict) -> dict:
    """Per test whose metric is lm_test's bits per byte: {seed: (document ids, per-document a - b)}
    over its used pairs whose two runs have their per-document scores of the same documents
    (eval/items.json, a DVC output: absent where a checkout's cache lacks it). The trend's
    Multi-Bootstrap input; kept out of ladder.json (a few thousand numbers per cell)."""
    from functools import lru_cache
    scores = lru_cache(maxsize=None)(study.document_scores)     # a run's documents serve several tests
    out = {}
    for t in h["tests"]:
        if study.test_metric(h, t) == DOCUMENT_METRIC:
            pairs_t = study.paired_documents(runs, t["a"], t["b"], pairs[t["id"]]["seeds"], scores)
            out[t["id"]] = {s: (list(ids), da - db) for s, (ids, da, db) in pairs_t.items()}
    return out


def variant_values(runs: dict, metric: str) -> dict:
    """Per variant: the metric per seed (NaN diverged), its mean over the finite ones and their count."""
    out = {}
    for v, per_seed in study.metric_table(runs, metric).items():
        finite = [x for x in per_seed.values() if math.isfinite(x)]
        out[v] = {"n": len(finite), "mean": sum(finite) / len(finite) if finite else None,
                  "per_seed": {str(s): x for s, x in sorted(per_seed.items())}}
    return out


def fall_before(curve: dict, end: int, window_tokens: float) -> tuple[float, int] | None:
    """How far loss fell over the window before row `end` of a {tokens: loss} curve, from the row
    nearest `window_tokens` earlier, and the tokens between the two rows; None when that row is
    `end` itself (a curve too sparse for the window says nothing). The registered check's rows."""
    start = min(curve, key=lambda t: abs(t - (end - window_tokens)))
    return (curve[start] - curve[end], end - start) if start < end else None


def end_slope(runs: dict, tokens_per_epoch: float, window: float = FLAT_WINDOW) -> dict:
    """Per variant: how far validation loss fell over the last `window` epoch of each finished,
    undiverged run with its curve (nats, the curve's row nearest the window's start against its
    last row), the mean over those runs, their count and the window the rows actually span:
    whether the length is still learning. `flat`: every variant's mean fall is under FLAT_NATS
    (None without runs)."""
    out = {}
    for v, per_seed in runs.items():
        drops, spans = [], []
        for r in per_seed.values():
            if r["curve"] is None or not r["train"] or r["train"].get("diverged"):
                continue
            c = read_curve(r["curve"])
            fell = fall_before(c, max(c), window * tokens_per_epoch) if c else None
            if fell:
                drops.append(fell[0])
                spans.append(fell[1] / tokens_per_epoch)
        if drops:
            out[v] = {"n": len(drops), "mean": sum(drops) / len(drops), "window_epochs": sum(spans) / len(spans)}
    flat = all(d["mean"] < FLAT_NATS for d in out.values()) if out else None
    return {"window_epochs": window, "variants": out, "threshold": FLAT_NATS, "flat": flat}


def cell_label(rung: str, length: float) -> str:
    return f"{rung} {length_tag(length)}"


def trends(lad, cells: list[dict], view: CellView, docs: list[dict] | None = None) -> list[dict]:
    """The registered trend test of every ladder hypothesis over the cells, each slope's
    interval at 1 - alpha/m (Bonferroni over hypotheses x terms). docs: per cell, document_diffs'
    output; a test it covers in every cell also gets the Multi-Bootstrap interval."""
    h, reg = view.hypotheses, lad.raw["trend"]
    m = max(1, len(h["tests"]) * len(reg["terms"]))
    confidence = 1 - h["alpha"] / m
    out = []
    for t in h["tests"]:
        rows = [c["analysis"]["design"] for c in cells]
        margin = next((r["margin"] for d in rows for r in d if r["id"] == t["id"]), math.nan)
        better = study.better_of(study.test_metric(h, t), t)
        inputs = [{"log10_params": math.log10(c["scale_params"]), "log10_tokens": math.log10(c["tokens"]),
                   **c["analysis"]["pairs"][t["id"]]} for c in cells]
        if docs and all(t["id"] in d for d in docs):
            inputs = [x | {"docs": d[t["id"]]} for x, d in zip(inputs, docs, strict=True)]
        out.append({"id": t["id"], "a": t["a"], "b": t["b"], "family_size": m,
                    **trend(inputs, reg["terms"], margin, better, confidence, reg["resamples"], reg["seed"])})
    return out


def earlier_trends(lad, cells: list[dict], view: CellView, docs: list[dict]) -> list[dict]:
    """Per revision that added lengths (its `added_lengths`): the registered trend test over the
    cells the ladder had before it (those it and every later revision added left out). A revision
    is a new version of the design; the answer of the one before stays reported beside it."""
    revisions = lad.raw.get("revisions") or []
    out = []
    for i, r in enumerate(revisions):
        if not r.get("added_lengths"):
            continue
        added = {(rung, f"{float(x):g}") for later in revisions[i:]
                 for rung, xs in (later.get("added_lengths") or {}).items() for x in xs}
        keep = [j for j, c in enumerate(cells) if (c["rung"], f"{c['length']:g}") not in added]
        out.append({"revision": i + 1, "date": r["date"], "cells": [cells[j]["label"] for j in keep],
                    "trends": trends(lad, [cells[j] for j in keep], view, [docs[j] for j in keep])})
    return out


def stability(cells: list[dict], tests: list[dict]) -> dict[str, dict]:
    """Per hypothesis: its verdict in every cell, and whether the verdict is the same in all
    (stable) or not (changes). Cells without a verdict (no pairs yet) are left out."""
    out = {}
    for t in tests:
        verdicts = {}
        for c in cells:
            r = next(r for r in c["analysis"]["hypotheses"] if r["id"] == t["id"])
            if r["comparison"] is not None:
                verdicts[cell_label(c["rung"], c["length"])] = r["verdict"]
        kinds = sorted(set(verdicts.values()))
        out[t["id"]] = {"verdicts": verdicts, "pattern": "none" if not kinds else
                        "stable" if len(kinds) == 1 else "changes", "kinds": kinds}
    return out


def tuning_summary(lad, layout) -> dict:
    """Per rung and variant: select_lr's record (chosen learning rate and the tuning table), or None."""
    out = {}
    for r in lad.rungs:
        for v in lad.variants:
            f = layout.tuning_table(r, v)
            out.setdefault(r, {})[v] = read_json(f, "rerun `dvc repro select_lr`") if f.exists() else None
    return out


def tuning_curves(lad, layout) -> dict:
    """Per rung and variant: per grid value, each tuning seed's selection loss (+inf diverged,
    None missing), for the tuning figure even before select_lr can choose."""
    from evals.tuning import selection_value
    out = {}
    for r in lad.rungs:
        for v in lad.variants:
            grid = {}
            for lr in lad.rung_grid(r):
                vals = {}
                for s in lad.tune_seeds:
                    f = layout.tune_run(r, v, lr, s).train_json
                    vals[s] = selection_value(read_json(f, "rerun the tuning stage") if f.exists() else None)
                grid[lr] = vals
            out.setdefault(r, {})[v] = grid
    return out


def rung_facts(lad, vocab: int, n_train_tokens: int | None) -> dict:
    """Per rung: its model size, lengths, parameters per variant, the size-axis value and the
    training tokens of each length (from the plan, so they exist before any run; none without
    the training split's token count)."""
    out = {}
    for r in lad.rungs:
        out[r] = {"model": lad.rung(r)["model"], "lengths": lad.lengths(r), "tune_length": lad.rung(r)["tune_length"],
                  "lr_grid": lad.rung_grid(r),
                  "params": {v: lad.n_params(r, v, vocab) for v in lad.variants},
                  "scale_params": lad.scale_params(r, vocab),
                  "tokens": {f"{x:g}": lad.tokens(r, x, n_train_tokens, vocab) for x in lad.lengths(r)}
                  if n_train_tokens else {}}
    return out


def analyse_ladder(p, lad, layout, tokens_meta: dict, tokens_meta_path, pilot: dict) -> dict:
    """ladder.json: registration facts, tuning, every cell's design-v2 records, the trends and
    which verdicts are stable across cells. No timestamp: the same inputs give the same bytes."""
    from evals.stats import VERDICT_RULE_V2
    from evals.trend import TREND_RULE
    from evals.tuning import TUNING_RULE
    study.require_v2(p.hypotheses)
    view = CellView(p, lad)
    bpt = study.bytes_per_token(tokens_meta, tokens_meta_path)["bytes_per_token"]
    vocab, n_train = tokens_meta["vocab_size"], tokens_meta["splits"]["train"]["tokens"]
    facts = rung_facts(lad, vocab, n_train)
    cells, docs = [], []
    for rung, x in lad.cells():
        runs = cell_runs(lad, layout, rung, x)
        done = sum(1 for v in runs.values() for r in v.values() if r["train"])
        # DVC outputs (not in git) that the secondary analyses read: absent where a checkout's
        # cache lacks them, which leaves those analyses partial rather than failing
        lacking = sum(1 for v in runs.values() for r in v.values()
                      if r["train"] and (r["items"] is None or r["curve"] is None))
        cells.append({"rung": rung, "length": x, "label": cell_label(rung, x),
                      "tokens": facts[rung]["tokens"][f"{x:g}"],
                      "scale_params": facts[rung]["scale_params"], "n_runs": done,
                      "n_runs_lacking_outputs": lacking,
                      "variants": variant_values(runs, p.hypotheses["primary_metric"]),
                      "end_slope": end_slope(runs, facts[rung]["tokens"][f"{x:g}"] / x),
                      "analysis": analyse_cell(view, runs, bpt, pilot)})
        docs.append(document_diffs(runs, view.hypotheses, cells[-1]["analysis"]["pairs"]))
    meta = {"profile": lad.profile, "status": lad.raw["status"], "registered": lad.raw["registered"],
            "ladder_hash": p.ladder_hash, "prereg_hash": p.prereg_hash,
            "primary_metric": p.hypotheses["primary_metric"],
            "alpha": p.hypotheses["alpha"], "confidence": p.hypotheses["confidence"], "vocab_size": vocab,
            "bytes_per_token": bpt, "variants": lad.variants, "seeds": lad.seeds, "tune_seeds": lad.tune_seeds,
            "lr_grid": lad.lr_grid, "revisions": lad.raw.get("revisions", []),
            "hypotheses": [t["id"] for t in view.hypotheses["tests"]],
            "n_planned": len(lad.final_runs()), "n_done_cells": sum(c["n_runs"] > 0 for c in cells),
            "verdict_rule": VERDICT_RULE_V2, "tuning_rule": TUNING_RULE, "trend_rule": TREND_RULE}
    return {"meta": meta, "rungs": facts, "tuning": tuning_summary(lad, layout),
            "tuning_curves": tuning_curves(lad, layout), "cells": cells, "trends": trends(lad, cells, view, docs),
            "earlier_trends": earlier_trends(lad, cells, view, docs),
            "stability": stability(cells, view.hypotheses["tests"])}
