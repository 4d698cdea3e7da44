"""The ladder's wall time from measured throughput (issue 18): per rung, in total, and as
resumable pieces.

    python -m tools.ladder_budget [--throughput results/<P>/ladder/throughput.json] [--json OUT]
                                  [--add-length d32=5.3 d64=5.3]

Reads tools/ladder_bench.py's measurements and the registration; every run's tokens come from
the plan exactly as training counts them (resonator.ladder.Ladder.tokens). A stage's time is its
training tokens at the measured training tokens/s, plus its validations and start-up (from the
measured wall time of the benchmark command beyond its training), its learning-curve
validations at the measured forward tokens/s, plus, for a final run, one
evaluation per length (measured per rung), plus the measured start-up of a stage's interpreter.
Tuning runs also pay one forward pass over the
validation split (the selection loss). Stages run one at a time, in DAG order, rung by rung;
a piece is a run of consecutive stages that fits ladder.budget.piece_hours (a stage never
spans two pieces). Compares the total with ladder.budget.hours.

--add-length asks what a length that is not registered would cost (a rung's final runs then
train to it and are evaluated there too), without editing params.yaml; the output says so. The
throughput file's number format (tools.ladder_bench --dtype) is carried into the output.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from resonator.cli import run_main
from resonator.inputs import read_json, read_tokens_meta
from resonator.ladder import Ladder
from resonator.layout import ladder_stage
from resonator.params import load_params


def stage_seconds(m: dict, tokens: int, val_tokens: int = 0) -> float:
    """A training stage: tokens at the measured rate, its fixed costs (start-up, validations at
    the benchmark's own count) and extra forward tokens (the selection pass)."""
    fixed = max(0.0, m["wall_s"] - m["tokens"] / m["tokens_per_s"])
    return tokens / m["tokens_per_s"] + fixed + val_tokens / m["forward_tokens_per_s"]


def curve_tokens(lad: Ladder, rung: str, tokens: int, micro_batch: int, n_val: int) -> int:
    """Forward tokens of a run's learning-curve validations: one every eval_interval steps, each
    over val_batches micro-batches of windows (every window when null)."""
    tc = lad.rung_params(rung).train_config()
    seq = lad.rung(rung)["model"]["max_seq_len"]
    steps = tokens // (tc.batch * seq) if tc.batch else tokens // seq
    windows = n_val // seq if tc.val_batches is None else min(n_val // seq, tc.val_batches * micro_batch)
    return (steps // tc.eval_interval) * windows * seq


def plan_stages(lad: Ladder, bench: dict, meta: dict, added: dict | None = None) -> list[dict]:
    """Every ladder stage with its estimated seconds, in the order `dvc repro` would run them.
    added: {rung: [epochs]}, lengths to cost as if registered."""
    vocab, n_train, n_val = meta["vocab_size"], meta["splits"]["train"]["tokens"], meta["splits"]["val"]["tokens"]
    added = added or {}
    out = []
    for r in lad.rungs:
        if r not in bench["rungs"]:
            raise KeyError(r)
        rates = bench["rungs"][r]
        eval_s = next((m["eval_s"] for m in rates.values() if "eval_s" in m), None)
        tune_tokens = lad.tokens(r, lad.rung(r)["tune_length"], n_train, vocab)
        lengths = sorted(set(lad.lengths(r)) | set(added.get(r, [])))
        final_tokens = lad.tokens(r, lengths[-1], n_train, vocab)
        for v in lad.variants:
            m = rates.get(v) or next(iter(rates.values()))        # an unmeasured variant: the rung's first
            # one stage runs every rate of the rung's grid, each on the tuning seeds in turn
            extra = n_val + curve_tokens(lad, r, tune_tokens, m["micro_batch"], n_val)
            out.append({"stage": ladder_stage(f"tune@{r}-{v}"), "rung": r, "kind": "tune",
                        "seconds": len(lad.rung_grid(r)) * len(lad.tune_seeds) * stage_seconds(m, tune_tokens, extra)})
            out.append({"stage": ladder_stage(f"select_lr@{r}-{v}"), "rung": r, "kind": "select", "seconds": 0.0})
        for s in lad.seeds:
            for v in lad.variants:
                m = rates.get(v) or next(iter(rates.values()))
                extra = curve_tokens(lad, r, final_tokens, m["micro_batch"], n_val)
                out.append({"stage": ladder_stage(f"train_rung@{r}-{v}-{s}"), "rung": r, "kind": "train",
                            "seconds": stage_seconds(m, final_tokens, extra)})
                out.append({"stage": ladder_stage(f"eval_rung@{r}-{v}-{s}"), "rung": r, "kind": "eval",
                            "seconds": (eval_s or 0.0) * len(lengths)})
    for st in out:                        # every stage is a fresh interpreter (select_lr's own work is negligible)
        st["seconds"] += bench.get("start_s", 0.0)
    return out


def pieces(stages: list[dict], limit_s: float) -> list[dict]:
    """Consecutive stages packed into pieces of at most limit_s (a longer stage is a piece alone)."""
    out, cur = [], None
    for st in stages:
        if cur is None or cur["seconds"] + st["seconds"] > limit_s:
            cur = {"first": st["stage"], "last": st["stage"], "seconds": 0.0, "stages": 0}
            out.append(cur)
        cur["seconds"] += st["seconds"]
        cur["last"], cur["stages"] = st["stage"], cur["stages"] + 1
    return out


def budget(lad: Ladder, bench: dict, meta: dict, added: dict | None = None) -> dict:
    stages = plan_stages(lad, bench, meta, added)
    reg = lad.raw["budget"]
    per_rung = {}
    for st in stages:
        e = per_rung.setdefault(st["rung"], {"tune": 0.0, "train": 0.0, "eval": 0.0, "select": 0.0})
        e[st["kind"]] += st["seconds"]
    total = sum(st["seconds"] for st in stages)
    longest = max(stages, key=lambda st: st["seconds"])
    ps = pieces(stages, reg["piece_hours"] * 3600)
    return {"per_rung_hours": {r: {k: v / 3600 for k, v in e.items()} | {"total": sum(e.values()) / 3600}
                               for r, e in per_rung.items()},
            "total_hours": total / 3600, "budget_hours": reg["hours"], "fits": total <= reg["hours"] * 3600,
            "longest_stage": {"stage": longest["stage"], "hours": longest["seconds"] / 3600},
            "piece_hours": reg["piece_hours"], "pieces": [p | {"hours": p["seconds"] / 3600} for p in ps],
            "pieces_fit": longest["seconds"] <= reg["piece_hours"] * 3600, "n_stages": len(stages),
            "eval_measured": all(any("eval_s" in m for m in bench["rungs"][r].values()) for r in lad.rungs),
            "dtype": bench.get("dtype"), "added_lengths": {r: sorted(x) for r, x in (added or {}).items()}}


def report(b: dict) -> str:
    lines = []
    if b["added_lengths"]:
        what_if = (f"{r} also trains to {', '.join(f'{x:g}' for x in xs)} epochs"
                   for r, xs in b["added_lengths"].items())
        lines += ["What if (not registered): " + ", ".join(what_if), ""]
    lines += [f"Training in {b['dtype'] or 'a format the throughput file does not record'}.", "",
              "| rung | tuning h | final training h | evaluation h | total h |", "|---|---|---|---|---|"]
    for r, e in b["per_rung_hours"].items():
        lines.append(f"| {r} | {e['tune']:.2f} | {e['train']:.2f} | {e['eval']:.2f} | {e['total']:.2f} |")
    lines += ["", f"Whole ladder: {b['total_hours']:.2f} h for {b['n_stages']} stages, one at a time "
                  f"({'within' if b['fits'] else 'OVER'} the {b['budget_hours']:g} h budget).",
              f"Longest stage: {b['longest_stage']['stage']}, {b['longest_stage']['hours']:.2f} h "
              f"({'fits' if b['pieces_fit'] else 'does NOT fit'} a {b['piece_hours']:g} h piece); "
              f"{len(b['pieces'])} pieces of at most {b['piece_hours']:g} h."]
    if not b["eval_measured"]:
        lines.append("Evaluation was not measured for every rung (tools.ladder_bench --no-eval): its time is left out.")
    return "\n".join(lines) + "\n"


def parse_added(items: list[str], lad: Ladder) -> dict:
    """--add-length's RUNG=EPOCHS items as {rung: [epochs]}; a bad one stops with what to write."""
    out: dict = {}
    for item in items:
        rung, _, epochs = item.partition("=")
        try:
            x = float(epochs)
        except ValueError:
            x = float("nan")
        if rung not in lad.rungs or not x > 0:
            raise SystemExit(f"error: --add-length {item!r}: write RUNG=EPOCHS with a rung of ladder.rungs "
                             f"({', '.join(lad.rungs)}) and a positive length, e.g. d64=5.3")
        out.setdefault(rung, []).append(x)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--throughput", help="default results/<P>/ladder/throughput.json")
    ap.add_argument("--meta", help="default data/<P>/tokens/meta.json")
    ap.add_argument("--json", help="also write the budget as JSON here")
    ap.add_argument("--add-length", nargs="+", default=[], metavar="RUNG=EPOCHS",
                    help="cost a length that is not registered, e.g. d32=5.3 d64=5.3")
    args = ap.parse_args(argv)
    lad = Ladder(load_params(args.params))
    added = parse_added(args.add_length, lad)
    tp = Path(args.throughput) if args.throughput else lad.layout.throughput
    bench = read_json(tp, "rerun `python -m tools.ladder_bench`",
                      missing_fix="measure first: `python -m tools.ladder_bench`")
    meta, _ = read_tokens_meta(lad.profile, args.meta)
    try:
        b = budget(lad, bench, meta, added)
    except KeyError as e:
        from resonator.errors import ProjectError
        raise ProjectError(tp, f"has no measurement of rung {e.args[0]}",
                           f"measure it: `python -m tools.ladder_bench --rungs {e.args[0]}`") from None
    print(report(b), end="")
    unmet = lad.unmet_requirements(meta["vocab_size"])
    if unmet:
        print("Not yet registrable: " + "; ".join(unmet))
    if args.json:
        Path(args.json).write_text(json.dumps(b, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
