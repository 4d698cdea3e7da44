"""Load, validate and resolve params.yaml.

Every stage calls `load_params()` before doing any work, so a typo in
params.yaml stops the pipeline with a message that names the file and the
dotted key, instead of a KeyError an hour into training.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from resonator.errors import ProjectError

PROFILES = ("tiny", "small", "paper", "gpu")


class ParamsError(ProjectError, ValueError):
    """params.yaml is malformed; the message names the file and the key."""

    def __init__(self, message: str):
        # Kept as one preformatted message: "<file>: key '<dotted>': <what>"
        where, _, what = message.partition(": ")
        super().__init__(where, what or message)


# ---------------------------------------------------------------------------
# Schema. A spec is a type (or tuple of types), a dict of sub-specs, or a
# Choice / ListOf / Optional wrapper. Keys marked with a trailing "?" may be
# absent.
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Choice:
    options: tuple

@dataclass(frozen=True)
class ListOf:
    item: Any
    min_len: int = 0

@dataclass(frozen=True)
class Opt:
    """The value may be null."""
    spec: Any

@dataclass(frozen=True)
class Positive:
    """A number > 0 (int or float as given)."""
    kind: Any = (int, float)

@dataclass(frozen=True)
class Fraction:
    """A float in [0, 1)."""


NUM = (int, float)

DATA_SPEC = {
    "source": Choice(("brown", "hf", "files")),
    "max_documents?": Opt(Positive(int)),
    "cache_dir?": str,
    "hf?": {
        "path": str, "name?": Opt(str), "split?": str, "text_column?": str,
        "data_files?": Opt((str, list, dict)), "take_fraction?": Opt(Positive(NUM)),
        "max_documents?": Opt(Positive(int)),
    },
    "files?": {"glob": str},
    "split": {
        "val": Fraction(), "test": Fraction(), "seed": int, "stratify?": bool,
        "val_documents?": Opt(Positive(int)), "test_documents?": Opt(Positive(int)),
    },
}
TOKENIZER_SPEC = {
    "kind": Choice(("bpe", "gpt2")),
    "vocab_size?": Positive(int),
    "min_frequency?": Positive(int),
}
PHASES_SPEC = {
    "n_phases": Positive(int), "sigma": Positive(NUM), "jitter": Positive(NUM),
    "min_letters": Positive(int),
}
MODEL_SPEC = {
    "d_model": Positive(int), "n_layers": Positive(int), "n_heads": Positive(int),
    "d_ff": Positive(int), "max_seq_len": Positive(int), "dropout": Fraction(),
    "attn_impl?": Choice(("fused", "naive")),
}
TRAIN_SPEC = {
    "lr": Positive(NUM), "weight_decay": NUM, "grad_clip": Opt(Positive(NUM)),
    "micro_batch": Positive(int), "grad_accum": Positive(int), "epochs": Positive(NUM),
    "max_steps?": Opt(Positive(int)), "max_chunks?": Opt(Positive(int)),
    "eval_interval": Positive(int), "val_batches": Opt(Positive(int)),
    "ckpt_interval": Positive(int), "log_interval?": Positive(int),
    "device": Choice(("auto", "cpu", "cuda")), "dtype": Choice(("fp32", "bf16")),
    "compile": bool, "num_threads?": Opt(Positive(int)), "peak_flops?": Opt(Positive(NUM)),
}
EVAL_SPEC = {
    "tasks": ListOf(str, 1), "batch_size": Positive(int),
    "lm_max_documents": Opt(Positive(int)), "rhyme_items": Positive(int),
    "cloze_items": Positive(int), "agreement_items": Positive(int),
    "allow_hub?": bool,
}
PROFILE_SPEC = {
    "data": DATA_SPEC, "tokenizer": TOKENIZER_SPEC, "phases": PHASES_SPEC,
    "model": MODEL_SPEC, "train": TRAIN_SPEC, "eval": EVAL_SPEC,
}
VARIANT_SPEC = {
    "kind": Choice(("standard", "resonator")),
    "pos_init?": Choice(("notebook", "matched")),
    "phase_init?": Choice(("random", "phonetic", "shuffled")),
    "use_blend?": bool, "use_resonance?": bool, "train_phases?": bool,
    "train_lambda?": bool, "lambda_init?": NUM, "blend_init?": NUM,
    "scale?": Positive(NUM), "match_resonator_params?": bool,
    "attn_impl?": Choice(("fused", "naive")),
    # direct size overrides of the profile's model section
    "d_model?": Positive(int), "n_layers?": Positive(int), "n_heads?": Positive(int),
    "d_ff?": Positive(int), "dropout?": Fraction(),
}
HYPOTHESIS_SPEC = {
    "id": str, "a": str, "b": str, "family": Choice(("main", "init", "secondary")),
    "question?": str, "metric?": str, "better?": Choice(("lower", "higher")),
}
HYPOTHESES_SPEC = {
    "primary_metric": str, "alpha": Fraction(), "confidence": Fraction(),
    "primary_test": Choice(("permutation", "t")), "correction": Choice(("holm",)),
    "bootstrap_resamples": Positive(int), "bootstrap_seed": int,
    "margin_relative": Positive(NUM), "max_excluded_fraction": Fraction(),
    "tests": ListOf(HYPOTHESIS_SPEC, 1),
    "secondary_metrics?": ListOf({"metric": str, "better": Choice(("lower", "higher"))}),
}
TOP_SPEC = {
    "profile": Choice(PROFILES),
    "hypotheses": HYPOTHESES_SPEC,
    "variants": dict,           # checked entry by entry below
    "groups": {"core": ListOf(str, 1), "ablation": ListOf(str)},
    "seeds": {"core": ListOf(int, 1), "ablation": ListOf(int)},
    "profiles": dict,           # checked entry by entry below
}


def _type_name(spec) -> str:
    if isinstance(spec, tuple):
        return " or ".join(t.__name__ for t in spec)
    return getattr(spec, "__name__", str(spec))


def _check(value, spec, key: str, where: str) -> None:
    """Raise ParamsError if `value` does not match `spec`."""
    def fail(msg):
        raise ParamsError(f"{where}: key '{key}': {msg}")

    if isinstance(spec, Opt):
        if value is not None:
            _check(value, spec.spec, key, where)
        return
    if value is None:
        fail("must not be null")
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            fail(f"expected a mapping, got {type(value).__name__}")
        allowed = {k.rstrip("?"): k.endswith("?") for k in spec}
        for k in value:
            if k not in allowed:
                fail(f"unknown key '{k}' (allowed: {', '.join(sorted(allowed))})")
        for k, optional in allowed.items():
            sub = spec[k + ("?" if optional else "")]
            if k not in value:
                if not optional:
                    raise ParamsError(f"{where}: key '{key}.{k}' is missing")
                continue
            _check(value[k], sub, f"{key}.{k}" if key else k, where)
        return
    if isinstance(spec, Choice):
        if value not in spec.options:
            fail(f"{value!r} is not one of {list(spec.options)}")
        return
    if isinstance(spec, ListOf):
        if not isinstance(value, list):
            fail(f"expected a list, got {type(value).__name__}")
        if len(value) < spec.min_len:
            fail(f"needs at least {spec.min_len} entries")
        for i, item in enumerate(value):
            _check(item, spec.item, f"{key}[{i}]", where)
        return
    if isinstance(spec, Positive):
        _check(value, spec.kind, key, where)
        if value <= 0:
            fail(f"must be > 0, got {value!r}")
        return
    if isinstance(spec, Fraction):
        _check(value, NUM, key, where)
        if not 0 <= value < 1:
            fail(f"must be in [0, 1), got {value!r}")
        return
    # plain type(s); bool is an int in Python, so reject it explicitly for numbers
    types = spec if isinstance(spec, tuple) else (spec,)
    if isinstance(value, bool) and bool not in types:
        fail(f"expected {_type_name(spec)}, got bool")
    if not isinstance(value, types):
        fail(f"expected {_type_name(spec)}, got {type(value).__name__} ({value!r})")


def validate(raw: dict, where: str = "params.yaml") -> None:
    """Check the whole params dict; raise ParamsError naming the first problem."""
    if not isinstance(raw, dict):
        raise ParamsError(f"{where}: expected a mapping at the top level")
    _check(raw, TOP_SPEC, "", where)
    for name, prof in raw["profiles"].items():
        if name not in PROFILES:
            raise ParamsError(f"{where}: key 'profiles.{name}': unknown profile (allowed: {list(PROFILES)})")
        _check(prof, PROFILE_SPEC, f"profiles.{name}", where)
        src = prof["data"]["source"]
        if src in ("hf", "files") and src not in prof["data"]:
            raise ParamsError(f"{where}: key 'profiles.{name}.data.{src}' is missing (source is {src})")
        if prof["tokenizer"]["kind"] == "bpe" and "vocab_size" not in prof["tokenizer"]:
            raise ParamsError(f"{where}: key 'profiles.{name}.tokenizer.vocab_size' is missing (kind is bpe)")
        m = prof["model"]
        if m["d_model"] % m["n_heads"]:
            raise ParamsError(f"{where}: key 'profiles.{name}.model': d_model {m['d_model']} "
                              f"is not divisible by n_heads {m['n_heads']}")
        t = prof["train"]
        if t["val_batches"] is None and name == "tiny":
            raise ParamsError(f"{where}: key 'profiles.tiny.train.val_batches' must be set")
    if raw["profile"] not in raw["profiles"]:
        raise ParamsError(f"{where}: key 'profile': profile '{raw['profile']}' has no entry under 'profiles'")
    for name, var in raw["variants"].items():
        _check(var, VARIANT_SPEC, f"variants.{name}", where)
    for group in ("core", "ablation"):
        for i, v in enumerate(raw["groups"][group]):
            if v not in raw["variants"]:
                raise ParamsError(f"{where}: key 'groups.{group}[{i}]': unknown variant '{v}' "
                                  f"(defined: {', '.join(raw['variants'])})")
        if len(set(raw["groups"][group])) != len(raw["groups"][group]):
            raise ParamsError(f"{where}: key 'groups.{group}': a variant is listed twice")
        if len(set(raw["seeds"][group])) != len(raw["seeds"][group]):
            raise ParamsError(f"{where}: key 'seeds.{group}': a seed is listed twice")
    overlap = set(raw["groups"]["core"]) & set(raw["groups"]["ablation"])
    if overlap:
        raise ParamsError(f"{where}: key 'groups': variants in both core and ablation: {sorted(overlap)}")
    ids = set()
    for i, h in enumerate(raw["hypotheses"]["tests"]):
        for side in ("a", "b"):
            if h[side] not in raw["variants"]:
                raise ParamsError(f"{where}: key 'hypotheses.tests[{i}].{side}': unknown variant '{h[side]}'")
        if h["id"] in ids:
            raise ParamsError(f"{where}: key 'hypotheses.tests[{i}].id': duplicate id '{h['id']}'")
        ids.add(h["id"])


def stable_hash(obj) -> str:
    """sha256 of a canonical JSON dump: the same content always gives the same hash."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()


@dataclass
class Params:
    raw: dict
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
    def hash(self) -> str:
        """Hash of the resolved active configuration (profile + variants + seeds + hypotheses)."""
        return stable_hash({k: v for k, v in self.raw.items() if k != "profiles"} | {"active": self.active})

    @property
    def prereg_hash(self) -> str:
        """Hash of the pre-registered hypotheses alone; stamped into every result."""
        return stable_hash(self.hypotheses)

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
        from resonator.model import ModelConfig, count_params

        var = copy.deepcopy(self.variant(name))
        base = dict(self.active["model"])
        base["n_phases"] = self.active["phases"]["n_phases"]
        scale = var.pop("scale", None)
        match = var.pop("match_resonator_params", False)
        cfg = {**base, **var, "vocab_size": vocab_size}
        if scale is not None:
            cfg.update(scaled_sizes(cfg, scale))
        if match:
            target = count_params(ModelConfig(**{**base, "vocab_size": vocab_size, "kind": "resonator"}))
            cfg["d_ff"] = matching_d_ff(ModelConfig(**cfg), target)
        try:
            return ModelConfig(**cfg)
        except (TypeError, ValueError) as e:
            raise ParamsError(f"{self.path}: key 'variants.{name}': {e}") from e

    def train_config(self):
        from resonator.train import TrainConfig
        t = dict(self.active["train"])
        t.pop("max_chunks", None)
        try:
            return TrainConfig(**t)
        except TypeError as e:
            raise ParamsError(f"{self.path}: key 'profiles.{self.profile}.train': {e}") from e


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


def matching_d_ff(cfg, target: int) -> int:
    """The d_ff that brings a standard model's parameter count closest to `target`."""
    from dataclasses import replace
    from resonator.model import count_params

    base = count_params(replace(cfg, d_ff=cfg.d_ff))
    per_unit = count_params(replace(cfg, d_ff=cfg.d_ff + 1)) - base  # params per extra hidden unit
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
    overrides = dict(overrides or {})
    # pipeline.grid (no DVC) selects the profile for the stage modules it calls
    if os.environ.get("RESONATOR_PROFILE") and "profile" not in overrides:
        overrides["profile"] = os.environ["RESONATOR_PROFILE"]
    for dotted, value in overrides.items():
        node = raw
        *parents, last = dotted.split(".")
        for k in parents:
            node = node.setdefault(k, {})
        node[last] = value
    validate(raw, str(path))
    return Params(raw=raw, path=str(path))


def load_for_stage(path: str | Path = "params.yaml") -> Params:
    """load_params for a pipeline stage: a bad params.yaml ends the process with the
    message alone (exit code 2), before the stage does any work or touches an output."""
    import sys
    try:
        return load_params(path)
    except ParamsError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
