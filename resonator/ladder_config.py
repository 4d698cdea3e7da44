"""The typed `ladder:` section of params.yaml (issue 18): sizes x training lengths, each
variant at its own tuned learning rate.

A module of its own because the ladder is a study of its own: resonator/config.py types the
main study, this file the ladder, resonator/amendment_config.py the amendments; each is parsed
apart and words its errors with resonator.config.describe. resonator.params.validate checks
`ladder:` with this module after the rest of params.yaml and names the first problem by its
dotted key, as for every other key.

What a section can check alone is checked by pydantic (types, ranges, ascending lengths, a
log-spaced grid, a date once registered); what points into other sections (profile,
variants, hypotheses) by check_references. The issue's minimums (5 learning rates, 3 tuning
seeds, 10 seeds, 3 rungs over 10x in parameters, 2 lengths at the two smaller rungs) need
the vocabulary, so resonator.ladder.Ladder.unmet_requirements checks them when the ladder
is registered.
"""
from __future__ import annotations

import datetime as dt
import difflib
from typing import Annotated, Literal

from pydantic import Field, ValidationError, model_validator

from resonator.config import (
    ModelConfig,
    Name,
    PosFloat,
    PosInt,
    Section,
    _derived,
    _heads_divide_width,
    describe,
    doc,
)

GRID_RATIO_RTOL = 0.01     # "log-spaced": every ratio of neighbours within 1% of the first
STATUSES = ("draft", "registered")

RungModel = _derived("RungModel", ModelConfig, required=("d_model", "n_layers", "n_heads", "d_ff", "max_seq_len"),
                     optional=(), validators={"heads_divide_width": model_validator(mode="after")(_heads_divide_width)})


def _unique(values: list, what: str) -> None:
    dup = sorted({v for v in values if values.count(v) > 1}, key=str)
    if dup:
        raise ValueError(f"{what} listed twice: {dup}")


class Rung(Section):
    model: RungModel = doc("the rung's model size: replaces these keys of the ladder profile's model "
                           "(vocabulary, dropout, init pairing stay the profile's)")
    lengths: Annotated[list[PosFloat], Field(min_length=1)] = doc(
        "training lengths in epochs, ascending; a final run trains each in turn, the longer continuing the "
        "shorter's training state (constant learning rate, so each is a prefix of the next)")
    tune_length: PosFloat = doc("epochs of every tuning run at this rung: the shortest length (registered rule; "
                                "its own key so that adding a length does not rerun the tuning)")
    lr_grid: Annotated[list[PosFloat], Field(min_length=2)] = doc(
        "the learning rates tuned at this rung: a contiguous run of ladder.lr_grid, extended at this rung alone "
        "by one ratio step wherever a variant's best is at its edge")

    @model_validator(mode="after")
    def _lengths(self):
        if any(b <= a for a, b in zip(self.lengths, self.lengths[1:], strict=False)):
            raise ValueError(f"lengths {self.lengths} are not strictly ascending")
        if self.tune_length != self.lengths[0]:
            raise ValueError(f"tune_length {self.tune_length:g} is not the shortest length {self.lengths[0]:g} "
                             "(the registered rule: tune at the shortest length)")
        return self


class Trend(Section):
    terms: Annotated[list[Literal["params", "tokens"]], Field(min_length=1)] = doc(
        "regressors of the trend test: log10 parameters (the rung's standard model) and log10 training tokens; "
        "a term the ladder does not vary is dropped")
    resamples: PosInt = doc("resamples of the seed-level bootstrap interval reported beside the sign-flip one")
    seed: int = doc("seed of that bootstrap (and of Monte Carlo sign flips above 20 seeds)")

    @model_validator(mode="after")
    def _terms(self):
        _unique(self.terms, "trend terms")
        return self


class Revision(Section):
    date: str = doc("when the revision was registered (YYYY-MM-DD)")
    change: str = doc("what changed in the registration")
    reason: str = doc("why, and what it does to runs already made")
    added_lengths: dict[Name, list[PosFloat]] = doc(
        "training lengths this revision added, per rung (each one of the rung's lengths): the trend test over "
        "the cells the ladder had before it stays reported beside the one over every cell", {})

    @model_validator(mode="after")
    def _date(self):
        try:
            dt.date.fromisoformat(self.date)
        except ValueError:
            raise ValueError(f"date {self.date!r} is not a date YYYY-MM-DD") from None
        return self


class Budget(Section):
    hours: PosFloat = doc("wall time the whole ladder should fit, at the measured tokens/s")
    piece_hours: PosFloat = doc("longest piece a resumable schedule may have (one stage never spans pieces)")


class Ladder(Section):
    status: Literal["draft", "registered"] = doc(
        "draft: `run` is empty, so `dvc repro` has no ladder stage to run (and a final run started by hand "
        "refuses); registered: the rungs in `run` train")
    registered: str = doc("date of registration (YYYY-MM-DD), after throughput is measured and before any final "
                          "run; a placeholder while a draft")
    checks: Literal["refuse", "warn"] = doc(
        "the issue's minimums and an edge-best learning rate: refuse (the registration), or only warn "
        "(smoke tests and dry runs)", "refuse")
    profile: Name = doc("profile whose data, tokenizer, phases, recipe and evaluation every rung uses "
                        "(so the vocabulary is fixed across rungs)")
    variants: Annotated[list[Name], Field(min_length=2)] = doc("variants trained at every rung")
    seeds: Annotated[list[int], Field(min_length=2)] = doc("final seeds, paired across variants, at every rung")
    hypotheses: Annotated[list[Name], Field(min_length=1)] = doc(
        "ids of registered hypotheses (hypotheses.tests) decided at every rung and length")
    lr_grid: Annotated[list[PosFloat], Field(min_length=2)] = doc(
        "learning rates a rung may tune, ascending and log-spaced; each rung tunes a contiguous run of them "
        "(rungs.<rung>.lr_grid), and a value one ratio step beyond is added here when a rung's grid needs it")
    tune_seeds: Annotated[list[int], Field(min_length=1)] = doc(
        "seeds of the tuning runs, disjoint from `seeds`; a rate's tune stage runs them in turn and keeps "
        "those trained with the same config by the same code, so adding one trains only it")
    trend: Trend = doc("the registered trend test over rungs (evals/trend.py)")
    budget: Budget = doc("the time the ladder should take (tools/ladder_budget.py checks it)")
    rungs: Annotated[dict[Name, Rung], Field(min_length=1)] = doc("model sizes, each with its training lengths")
    revisions: list[Revision] = doc(
        "changes to the registration after it was registered, oldest first, each with its reason (the paper's "
        "registration paragraph states them)", [])
    run: list[Name] = doc(
        "the rungs whose stages dvc.yaml's ladder matrices expand to (tuning, selection, final runs, evaluation); "
        "empty while a draft, so a bare `dvc repro` never starts a ladder that would refuse its final runs; "
        "registering lists the rungs, and a rung added later joins here when it is registered", [])

    @model_validator(mode="after")
    def _consistent(self):
        if self.status == "registered":
            try:
                dt.date.fromisoformat(self.registered)
            except ValueError:
                raise ValueError(f"status is registered but registered is {self.registered!r}, not a date "
                                 "YYYY-MM-DD") from None
        for key in ("variants", "seeds", "hypotheses", "lr_grid", "tune_seeds"):
            _unique(getattr(self, key), key)
        g = self.lr_grid
        if any(b <= a for a, b in zip(g, g[1:], strict=False)):
            raise ValueError(f"lr_grid {g} is not strictly ascending")
        ratios = [b / a for a, b in zip(g, g[1:], strict=False)]
        if any(abs(r / ratios[0] - 1) > GRID_RATIO_RTOL for r in ratios):
            raise ValueError(f"lr_grid {g} is not log-spaced (ratios {[round(r, 3) for r in ratios]})")
        for name, rung in self.rungs.items():
            _unique(rung.lr_grid, f"rungs.{name}.lr_grid")
            idx = [next((i for i, x in enumerate(g) if abs(x / lr - 1) < 1e-9), None) for lr in rung.lr_grid]
            if None in idx or idx != list(range(idx[0], idx[0] + len(idx))):
                raise ValueError(f"rungs.{name}.lr_grid {rung.lr_grid} is not a contiguous run of lr_grid {g} "
                                 "(a rung tunes neighbouring values of the ladder's grid)")
        _unique(self.run, "run")
        unknown = [r for r in self.run if r not in self.rungs]
        if unknown:
            raise ValueError(f"run lists {unknown}, which rungs does not define (defined: {', '.join(self.rungs)})")
        if self.status == "draft" and self.run:
            raise ValueError(f"run lists {self.run} while status is draft: register the ladder first "
                             "(status: registered, registered: <date>), or set run: []")
        self._added_lengths_exist()
        both = sorted(set(self.seeds) & set(self.tune_seeds))
        if both:
            raise ValueError(f"tune_seeds {both} are also final seeds: tuning seeds must be disjoint from them")
        return self


    def _added_lengths_exist(self):
        for i, rev in enumerate(self.revisions):
            for name, xs in rev.added_lengths.items():
                if name not in self.rungs:
                    raise ValueError(f"revisions[{i}].added_lengths names rung '{name}', which rungs does not define")
                gone = [x for x in xs if not any(abs(x - y) < 1e-9 for y in self.rungs[name].lengths)]
                if gone:
                    raise ValueError(f"revisions[{i}].added_lengths lists {gone} for {name}, which are not among "
                                     f"rungs.{name}.lengths {self.rungs[name].lengths}")


# ---------------------------------------------------------------------------
# Errors in the user's terms, as resonator.config.describe words them
# ---------------------------------------------------------------------------

def parse_ladder(raw) -> tuple[Ladder | None, tuple[str, str] | None]:
    """The typed ladder section, or (None, (dotted key, message)) of its first problem."""
    try:
        return Ladder.model_validate(raw), None
    except ValidationError as e:
        return None, describe(e.errors(include_url=False)[0], Ladder, ("ladder",))


def check_references(lad: Ladder, study) -> tuple[str, str] | None:
    """(dotted key, message) of the first name that points nowhere, else None."""
    if lad.profile not in study.profiles:
        return "ladder.profile", f"profile '{lad.profile}' has no entry under 'profiles'"
    for i, v in enumerate(lad.variants):
        if v not in study.variants:
            close = difflib.get_close_matches(v, list(study.variants), n=1)
            return (f"ladder.variants[{i}]",
                    f"unknown variant '{v}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    tests = {t.id: t for t in study.hypotheses.tests}
    for i, hid in enumerate(lad.hypotheses):
        if hid not in tests:
            close = difflib.get_close_matches(hid, list(tests), n=1)
            return f"ladder.hypotheses[{i}]", f"'{hid}' is not a registered hypothesis" + (
                f" (did you mean '{close[0]}'?)" if close else f" (registered: {', '.join(tests)})")
        for side in ("a", "b"):
            v = getattr(tests[hid], side)
            if v not in lad.variants:
                return f"ladder.hypotheses[{i}]", (f"{hid} compares '{v}', which ladder.variants does not train "
                                                   f"(add it there, or remove {hid})")
    return None
