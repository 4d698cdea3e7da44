"""The ladder's plan (issue 18), from params.yaml's `ladder:` section: which runs exist, the
model and recipe of each, and the gate between a draft and a registered ladder.

A rung is the ladder profile with its model's size replaced: `rung_params` builds exactly
that Params, so a rung's variants (parameter- and FLOP-matched widths included) are derived
by the same code as the main study's, at the rung's size. A final run trains every length
of its rung at the learning rate select_lr chose for its (rung, variant); a tuning run trains
the rung's tune_length at one learning rate of the grid, on a tuning seed.
"""
from __future__ import annotations

import copy
import dataclasses
import math

from resonator.errors import ProjectError
from resonator.layout import LadderLayout

REGISTER_FIX = ("measure throughput (python -m tools.ladder_bench), check the budget (python -m tools.ladder_budget), "
                "then set ladder.status: registered, ladder.registered: <date> and ladder.run: [the rungs]")


class Ladder:
    """The `ladder:` section of a validated Params, with what follows from it."""

    def __init__(self, p):
        if "ladder" not in p.raw:
            raise ProjectError(f"{p.path}: key 'ladder'", "is missing", "register a ladder (README, The ladder)")
        self.p, self.raw = p, p.raw["ladder"]
        from resonator.ladder_config import Ladder as Schema
        from resonator.ladder_config import check_references
        from resonator.params import ParamsError
        problem = check_references(Schema.model_validate(self.raw), p.study)
        if problem:
            raise ParamsError(f"{p.path}: key '{problem[0]}': {problem[1]}")

    # --- the registration, as written -------------------------------------------------
    @property
    def profile(self) -> str:
        return self.raw["profile"]

    @property
    def rungs(self) -> list[str]:
        return list(self.raw["rungs"])

    def rung(self, name: str) -> dict:
        if name not in self.raw["rungs"]:
            raise ProjectError(f"{self.p.path}: key 'ladder.rungs'", f"has no rung '{name}'",
                               f"defined: {', '.join(self.rungs)}")
        return self.raw["rungs"][name]

    def lengths(self, rung: str) -> list[float]:
        return [float(x) for x in self.rung(rung)["lengths"]]

    @property
    def variants(self) -> list[str]:
        return list(self.raw["variants"])

    @property
    def seeds(self) -> list[int]:
        return list(self.raw["seeds"])

    @property
    def tune_seeds(self) -> list[int]:
        return list(self.raw["tune_seeds"])

    @property
    def lr_grid(self) -> list[float]:
        return [float(x) for x in self.raw["lr_grid"]]

    def rung_grid(self, rung: str) -> list[float]:
        """The learning rates tuned at this rung (a contiguous run of lr_grid)."""
        return [float(x) for x in self.rung(rung)["lr_grid"]]

    @staticmethod
    def grid_key(rung: str) -> str:
        """The params key of the rung's grid (where an edge-best asks for a value)."""
        return f"ladder.rungs.{rung}.lr_grid"

    @property
    def registered(self) -> bool:
        return self.raw["status"] == "registered"

    @property
    def layout(self) -> LadderLayout:
        return LadderLayout(self.profile)

    def tests(self) -> list[dict]:
        """The registered hypotheses decided at every rung, in registration order."""
        ids = set(self.raw["hypotheses"])
        return [t for t in self.p.hypotheses["tests"] if t["id"] in ids]

    def cells(self) -> list[tuple[str, float]]:
        """(rung, length) in registration order: where every hypothesis gets a verdict."""
        return [(r, x) for r in self.rungs for x in self.lengths(r)]

    def tuning_runs(self) -> list[tuple[str, str, float, int]]:
        return [(r, v, lr, s)
                for r in self.rungs for v in self.variants for lr in self.rung_grid(r) for s in self.tune_seeds]

    def final_runs(self) -> list[tuple[str, str, int]]:
        """Seed-major within each rung: an interrupted ladder has whole seeds."""
        return [(r, v, s) for r in self.rungs for s in self.seeds for v in self.variants]

    def progress_tag(self, rung: str, variant: str, seed: int, lr: float | None = None) -> str:
        """'[ladder final k/N]' or '[ladder tuning k/N]': where a run stands among the ladder's
        final or tuning runs, for the log of a plain `dvc repro`."""
        if lr is None:
            runs, key, kind = self.final_runs(), (rung, variant, seed), "final"
        else:
            runs, kind = self.tuning_runs(), "tuning"
            key = next((r for r in runs if r[:2] == (rung, variant) and r[3] == seed
                        and math.isclose(r[2], lr, rel_tol=1e-9)), None)
        k = runs.index(key) + 1 if key in runs else "?"
        return f"[ladder {kind} {k}/{len(runs)}]"

    # --- models and recipes -----------------------------------------------------------
    def rung_params(self, rung: str):
        """The Params of the ladder profile with the rung's model size: its model_config and
        train_config are the rung's."""
        from resonator.params import Params, validate
        raw = copy.deepcopy(self.p.raw)
        raw["profile"] = self.profile
        raw["profiles"][self.profile]["model"] = {**raw["profiles"][self.profile]["model"], **self.rung(rung)["model"]}
        return Params(raw=raw, study=validate(raw, self.p.path), path=self.p.path)

    def model_config(self, rung: str, variant: str, vocab_size: int):
        return self.rung_params(rung).model_config(variant, vocab_size)

    def train_config(self, rung: str, lr: float, epochs: float):
        """The ladder profile's recipe with this learning rate and length (the rung does not change it)."""
        return dataclasses.replace(self.rung_params(rung).train_config(), lr=float(lr), epochs=float(epochs))

    def n_params(self, rung: str, variant: str, vocab_size: int) -> int:
        from resonator.sizes import count_params
        return count_params(self.model_config(rung, variant, vocab_size))

    def scale_params(self, rung: str, vocab_size: int) -> int:
        """The rung's position on the size axis: its standard model's parameter count (the
        variants of a rung differ by a few percent; one number per rung keeps the axis common)."""
        from resonator.sizes import count_params
        return count_params(self.rung_params(rung).model_config("standard", vocab_size)
                            if "standard" in self.p.variants else self.model_config(rung, self.variants[0], vocab_size))

    def tokens(self, rung: str, epochs: float, n_train_tokens: int, vocab_size: int) -> int:
        """Training tokens of a final run's length at this rung (the batch as the recipe resolves it)."""
        from resonator import batching
        rp = self.rung_params(rung)
        mc, tc = rp.model_config(self.variants[0], vocab_size), rp.train_config()
        tc = batching.resolve(dataclasses.replace(tc, epochs=float(epochs)), mc,
                              1 if tc.device == "cuda" else tc.processes)
        return epochs_tokens(n_train_tokens, mc.max_seq_len, tc.micro_batch * tc.grad_accum, epochs, tc.max_steps)

    # --- the gate ---------------------------------------------------------------------
    def unmet_requirements(self, vocab_size: int) -> list[str]:
        """The issue's minimums this registration misses (empty: it meets them all)."""
        out = []
        short: dict[tuple[str, int], list[str]] = {}
        for r in self.rungs:
            if len(self.rung_grid(r)) < 5:
                short.setdefault((self.grid_key(r), len(self.rung_grid(r))), []).append(r)
        for (key, n), rs in short.items():
            out.append(f"{key} has {n} learning rates (tuned at {', '.join(rs)}); at least 5")
        if len(self.tune_seeds) < 3:
            out.append(f"ladder.tune_seeds has {len(self.tune_seeds)} seeds; at least 3")
        if len(self.seeds) < 10:
            out.append(f"ladder.seeds has {len(self.seeds)} seeds; at least 10 paired seeds")
        if len(self.rungs) < 3:
            out.append(f"ladder.rungs has {len(self.rungs)} rungs; at least 3")
        sizes = sorted((self.scale_params(r, vocab_size), r) for r in self.rungs)
        if sizes and sizes[-1][0] < 10 * sizes[0][0]:
            out.append(f"ladder.rungs span {sizes[-1][0] / sizes[0][0]:.1f}x in parameters; at least 10x")
        for _, r in sizes[:2]:
            if len(self.lengths(r)) < 2:
                out.append(f"ladder.rungs.{r}.lengths has one length; the two smaller rungs need at least 2")
        return out

    def require_registered(self, vocab_size: int | None = None) -> None:
        """Final runs wait for the registration: a draft refuses them in one line. A registered
        ladder that misses the issue's minimums is refused too (or warned, with checks: warn)."""
        import sys

        from resonator.runner import is_rank0
        if not self.registered:
            raise ProjectError(f"{self.p.path}: key 'ladder.status'",
                               "is draft: the ladder's final runs wait for its registration", REGISTER_FIX)
        unmet = self.unmet_requirements(vocab_size) if vocab_size else []
        if unmet:
            err = ProjectError(f"{self.p.path}: key 'ladder'", "; ".join(unmet),
                               "grow the registration, or set ladder.checks: warn for a dry run")
            if self.raw.get("checks", "refuse") == "refuse":
                raise err
            if is_rank0():                                   # once per run, not once per process
                print(f"warning: {err.where}: {err.what}; continuing because ladder.checks is 'warn'", file=sys.stderr)


def epochs_tokens(n_train_tokens: int, seq_len: int, per_step: int, epochs: float, max_steps: int | None = None) -> int:
    """Training tokens of a run, as resonator.train.train counts them: whole optimizer steps of
    `per_step` windows of seq_len tokens, floor(epochs x steps per epoch)."""
    windows = (n_train_tokens - 1) // seq_len
    steps = max(1, math.floor(epochs * (windows // per_step)))
    if max_steps:
        steps = min(steps, max_steps)
    return steps * per_step * seq_len
