"""Load, validate and resolve params.yaml.

Every stage calls `load_params()` before doing any work, so a typo in
params.yaml stops the pipeline with a message that names the file and the
dotted key, instead of a KeyError an hour into training.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from resonator.config import Study, parse_study
from resonator.errors import ProjectError


class ParamsError(ProjectError, ValueError):
    """params.yaml is malformed; the message names the file and the key."""

    def __init__(self, message: str):
        # Kept as one preformatted message: "<file>: key '<dotted>': <what>"
        where, _, what = message.partition(": ")
        super().__init__(where, what or message)


def validate(raw, where: str = "params.yaml") -> Study:
    """The typed study of a params dict; raise ParamsError naming the first problem.
    `hypotheses.amendments` is checked by resonator.amendment_config and the optional `ladder:`
    section by resonator.ladder_config, after the rest."""
    if not isinstance(raw, dict):
        raise ParamsError(f"{where}: expected a mapping at the top level")
    body = {k: v for k, v in raw.items() if k != "ladder"}
    hyp = body.get("hypotheses")
    if isinstance(hyp, dict) and "amendments" in hyp:
        body["hypotheses"] = {k: v for k, v in hyp.items() if k != "amendments"}
    study, problem = parse_study(body)
    if problem:
        key, msg = _amendments_hint(*problem)
        raise ParamsError(f"{where}: key '{key}': {msg}")
    amendments = validate_amendments(hyp.get("amendments") if isinstance(hyp, dict) else None, study, where)
    check_references(study, where, amendments)
    if "ladder" in raw:
        validate_ladder(raw["ladder"], study, where)
    return study


def _amendments_hint(key: str, msg: str) -> tuple[str, str]:
    """A misspelt `amendments` under hypotheses gets the hint too (its schema is not config.py's)."""
    m = re.fullmatch(r"unknown key '([^']*)' \((?:did you mean '[^']*'\?|allowed: .*)\)", msg)
    if key == "hypotheses" and m and difflib.get_close_matches(m.group(1), ["amendments"], n=1, cutoff=0.75):
        return key, f"unknown key '{m.group(1)}' (did you mean 'amendments'?)"
    return key, msg


def validate_amendments(raw_amendments, study: Study, where: str) -> list:
    """`hypotheses.amendments` (issue 21): its schema, then how it fits the registration
    (numbers, dates, new ids, new families); the variants its tests name are checked with the
    registered tests' in check_references."""
    from resonator.amendment_config import check_amendments, parse_amendments
    amendments, problem = parse_amendments(raw_amendments)
    problem = problem or check_amendments(amendments, study.hypotheses)
    if problem:
        key, msg = problem
        raise ParamsError(f"{where}: key '{key}': {msg}")
    return amendments


def validate_ladder(raw_ladder, study: Study, where: str) -> None:
    """The `ladder:` section's own schema (issue 18). The names it points at (profile, variants,
    hypothesis ids) are checked where the ladder is used (resonator.ladder.Ladder), so that a
    study trimmed for a test or a dry run never stops on the ladder's references."""
    from resonator.ladder_config import parse_ladder
    _, problem = parse_ladder(raw_ladder)
    if problem:
        key, msg = problem
        raise ParamsError(f"{where}: key '{key}': {msg}")


def check_references(s: Study, where: str, amendments: list = ()) -> None:
    """What one section cannot check alone: names that point into other sections (the
    registered tests' and every amendment's tests' variants included)."""
    def fail(key, msg):
        raise ParamsError(f"{where}: key '{key}': {msg}")

    if s.profile not in s.profiles:
        fail("profile", f"profile '{s.profile}' has no entry under 'profiles' (defined: {', '.join(s.profiles)})")
    if "tiny" in s.profiles and s.profiles["tiny"].train.val_batches is None:
        fail("profiles.tiny.train.val_batches", "must be set (the tests rely on a bounded validation)")
    _check_groups(s, fail)
    tests = [(f"hypotheses.tests[{i}]", h) for i, h in enumerate(s.hypotheses.tests)]
    tests += [(f"hypotheses.amendments[{i}].tests[{j}]", h)
              for i, a in enumerate(amendments) for j, h in enumerate(a.tests)]
    _check_tests(s, tests, fail)


def _unknown_variant(s: Study, name: str) -> str:
    close = difflib.get_close_matches(name, list(s.variants), n=1)
    return f"unknown variant '{name}' " + (f"(did you mean '{close[0]}'?)" if close
                                           else f"(defined: {', '.join(s.variants)})")


def _check_groups(s: Study, fail) -> None:
    """Groups name defined variants, once each, in one group; a group with variants has seeds."""
    for group in ("core", "ablation"):
        names, seeds = getattr(s.groups, group), getattr(s.seeds, group)
        for i, v in enumerate(names):
            if v not in s.variants:
                fail(f"groups.{group}[{i}]", _unknown_variant(s, v))
        if len(set(names)) != len(names):
            fail(f"groups.{group}", "a variant is listed twice")
        if len(set(seeds)) != len(seeds):
            fail(f"seeds.{group}", "a seed is listed twice")
        if names and not seeds:
            fail(f"seeds.{group}", f"is empty but groups.{group} lists {len(names)} variants "
                 f"(give seeds, or empty groups.{group})")
    overlap = set(s.groups.core) & set(s.groups.ablation)
    if overlap:
        fail("groups", f"variants in both core and ablation: {sorted(overlap)}")


def _check_tests(s: Study, tests: list, fail) -> None:
    """Every hypothesis ((key, test) pairs) compares two planned variants with common seeds,
    under an id of its own."""
    planned = {v: set(s.seeds.core) for v in s.groups.core} | {v: set(s.seeds.ablation) for v in s.groups.ablation}
    ids = set()
    for key, h in tests:
        for side in ("a", "b"):
            name = getattr(h, side)
            if name not in s.variants:
                fail(f"{key}.{side}", _unknown_variant(s, name))
            if name not in planned:
                fail(f"{key}.{side}", f"{h.id} compares '{name}', which no group trains "
                     f"(add it to groups.core or groups.ablation, or remove {h.id})")
        if not planned[h.a] & planned[h.b]:
            fail(key, f"{h.id}: '{h.a}' and '{h.b}' share no seed, so it has no pairs "
                 "(give their groups common seeds)")
        if h.id in ids:
            fail(f"{key}.id", f"duplicate id '{h.id}'")
        ids.add(h.id)


def stable_hash(obj, *, spaced: bool = False) -> str:
    """sha256 of a canonical JSON dump (sorted keys, str() of what JSON has no type for): the
    same content always gives the same hash. Compact separators by default (params_hash,
    prereg_hash, ladder_hash); spaced=True keeps json.dumps's default ", " and ": ", the form
    of the run fingerprints stored in every training state (ckpt/last.pt), which a resumed
    run compares with its own: changing either form would orphan every stored hash."""
    separators = (", ", ": ") if spaced else (",", ":")
    blob = json.dumps(obj, sort_keys=True, separators=separators, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


@dataclass
class Params:
    """The validated params: `study` is the typed configuration, `raw` the YAML as read
    (kept for the stamps: hashes are taken over exactly what the user wrote)."""
    raw: dict
    study: Study
    path: str = "params.yaml"

    @property
    def profile(self) -> str:
        return self.raw["profile"]

    @property
    def active(self) -> dict:
        return self.raw["profiles"][self.profile]

    @property
    def variants(self) -> dict:
        return self.raw["variants"]

    @property
    def groups(self) -> dict:
        return self.raw["groups"]

    @property
    def seeds(self) -> dict:
        return self.raw["seeds"]

    @property
    def hypotheses(self) -> dict:
        return self.raw["hypotheses"]

    @property
    def layout(self):
        """Every path of the active profile (resonator.layout)."""
        from resonator.layout import Layout
        return Layout(self.profile)

    @property
    def amendments(self) -> list[dict]:
        """hypotheses.amendments as written (none: []): tests added after the registration."""
        return list(self.hypotheses.get("amendments") or [])

    @property
    def hash(self) -> str:
        """Hash of the resolved active configuration (profile + variants + seeds + hypotheses,
        amendments included: a run records the whole configuration it was trained under).
        The `ladder:` section is left out: it configures no run of the main study (its runs
        carry ladder_hash), so registering or growing the ladder leaves this stamp as it was."""
        return stable_hash({k: v for k, v in self.raw.items() if k not in ("profiles", "ladder")}
                           | {"active": self.active})

    @property
    def ladder_hash(self) -> str | None:
        """Hash of the `ladder:` section alone (None without one); stamped into every ladder run."""
        return stable_hash(self.raw["ladder"]) if "ladder" in self.raw else None

    @property
    def prereg_hash(self) -> str:
        """Hash of the pre-registered hypotheses alone, without hypotheses.amendments (present or
        not, empty or not): an amendment adds tests to a registration, it does not re-register
        it, so runs trained before and after it carry the same stamp. Stamped into every result."""
        return stable_hash({k: v for k, v in self.hypotheses.items() if k != "amendments"})

    @property
    def amendments_hash(self) -> str | None:
        """Hash of hypotheses.amendments (None without one): the design and stats stages record
        it, so a design made before an amendment is not read as this one's."""
        return stable_hash(self.amendments) if self.amendments else None

    def runs(self) -> list[tuple[str, int]]:
        """Every (variant, seed) pair the active params ask for, in a stable order."""
        out = []
        for group in ("core", "ablation"):
            for v in self.groups[group]:
                out += [(v, s) for s in self.seeds[group]]
        return out

    def planned_seeds(self, variant: str) -> list[int]:
        for group in ("core", "ablation"):
            if variant in self.groups[group]:
                return list(self.seeds[group])
        return []

    def variant(self, name: str) -> dict:
        if name not in self.variants:
            raise ParamsError(f"{self.path}: key 'variants.{name}': unknown variant "
                              f"(defined: {', '.join(self.variants)})")
        return self.variants[name]

    def model_config(self, name: str, vocab_size: int):
        """The full ModelConfig of a variant under the active profile."""
        from resonator.config import ModelConfig
        from resonator.sizes import count_params, flops_per_token

        self.variant(name)
        var = self.study.variants[name]
        prof = self.study.profiles[self.profile]
        base = prof.model.model_dump(exclude_none=True)
        base["n_phases"] = prof.phases.n_phases
        cfg = {**base, **var.overrides(), "vocab_size": vocab_size}
        if var.scale is not None:
            cfg.update(scaled_sizes(cfg, var.scale))
        if var.match_resonator_params or var.match_resonator_flops:
            # The target is the profile's full resonator (blend and resonance on), not this variant's overrides.
            measure = count_params if var.match_resonator_params else flops_per_token
            target = measure(ModelConfig(**{**base, "vocab_size": vocab_size, "kind": "resonator"}))
            cfg["d_ff"] = matching_d_ff(ModelConfig(**cfg), target, measure)
        try:
            return ModelConfig(**cfg)
        except (TypeError, ValueError) as e:
            raise ParamsError(f"{self.path}: key 'variants.{name}': {e}") from e

    def train_config(self):
        from resonator.config import TrainConfig
        return TrainConfig(**self.study.profiles[self.profile].train.model_dump())


def scaled_sizes(cfg: dict, scale: float) -> dict:
    """Shrink width, depth and heads by `scale`, keeping d_head fixed (as model C does: 768->512, 12->8)."""
    d_head = cfg["d_model"] // cfg["n_heads"]
    n_heads = max(1, round(cfg["n_heads"] * scale))
    return {
        "n_heads": n_heads,
        "d_model": n_heads * d_head,
        "n_layers": max(1, round(cfg["n_layers"] * scale)),
        "d_ff": max(1, round(cfg["d_ff"] * scale)),
    }


def matching_d_ff(cfg, target: float, measure=None) -> int:
    """The d_ff that brings `measure(cfg)` (default: the parameter count; or flops_per_token)
    closest to `target`. Both are linear in d_ff, so one step of d_ff gives the slope."""
    from dataclasses import replace

    from resonator.sizes import count_params

    measure = measure or count_params
    base = measure(replace(cfg, d_ff=cfg.d_ff))
    per_unit = measure(replace(cfg, d_ff=cfg.d_ff + 1)) - base  # params (or FLOPs) per extra hidden unit
    return max(1, cfg.d_ff + round((target - base) / per_unit))


def load_params(path: str | Path = "params.yaml", overrides: dict | None = None) -> Params:
    """Read and validate params.yaml. `overrides` maps dotted keys to values (for tests/CLIs)."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path}: file not found (run stages from the repository root)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML: {e}") from e
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, last = dotted.split(".")
        for k in parents:
            node = node.setdefault(k, {})
        node[last] = value
    study = validate(raw, str(path))
    env = os.environ.get("RESONATOR_PROFILE")
    if env and env != study.profile:
        # An old way to pick a profile; a stage must never write another profile's paths
        # than the one params.yaml (and so dvc.yaml) names.
        raise ParamsError(f"RESONATOR_PROFILE: is '{env}' but {path} selects profile '{study.profile}' "
                          f"(unset RESONATOR_PROFILE; pick a profile with `profile:` in {path.name} "
                          "or `dvc exp run -S profile=NAME`)")
    return Params(raw=raw, study=study, path=str(path))


def load_for_stage(path: str | Path = "params.yaml", profile: str | None = None) -> Params:
    """load_params for a pipeline stage (run under resonator.cli.run_main, which prints a
    ParamsError as one line and exits 2 before the stage touches an output)."""
    return load_params(path, overrides={"profile": profile} if profile else None)
