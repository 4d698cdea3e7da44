"""Checkpoints: plain dicts of tensors and numbers, loadable with weights_only=True, in two formats.

A model (ckpt/final.pt, written by save_model):

    {"format": "resonator-ckpt-v1", "model_config": asdict(ModelConfig), "model": state_dict, **extra}

A resumable training state (ckpt/last.pt, written by resonator.train): model and optimizer
state, step, curve so far, RNG states, the run's fingerprint and the training code's hashes:

    {"format": "resonator-train-state-v1", "fingerprint", "config_json", "code", "model", "optimizer", ...}

read_checkpoint reads both, and is the only reader of either.
"""
from __future__ import annotations

import dataclasses
import pickle
import sys
from pathlib import Path

import torch

from resonator.atomic import atomic_torch_save
from resonator.errors import ProjectError
from resonator.model import ModelConfig, build_model

FORMAT = "resonator-ckpt-v1"
STATE_FORMAT = "resonator-train-state-v1"
RETRAIN = "delete it and rerun the training stage (`dvc repro` retrains the run)"
RESTART = f"{RETRAIN}; the run restarts from scratch"   # what to do with a training state that cannot be read


class CheckpointError(ProjectError, RuntimeError):
    """A checkpoint is missing, unreadable, of another format, or does not fit its config."""


class CheckpointMismatchError(CheckpointError):
    """ckpt/last.pt cannot be resumed from: unreadable, or not a training state at all.
    (A state of a *different* run configuration is not an error: training starts afresh.)"""


def interned_keys(obj):
    """`obj`'s dicts and lists copied with every string key interned (values shared). Pickle
    memoises by identity, so equal content pickles to equal bytes only if equal keys are one
    object: an optimizer restored from a checkpoint holds keys read from the file, a fresh one the
    keys in torch's code. Saving through this makes a resumed run's last.pt the same bytes as an
    uninterrupted one's."""
    if type(obj) is dict:
        return {(sys.intern(k) if type(k) is str else k): interned_keys(v) for k, v in obj.items()}
    if type(obj) is list:
        return [interned_keys(v) for v in obj]
    return obj


def one_line(text: str, limit: int = 200) -> str:
    """A library's multi-line message squeezed into one line of a user-facing error."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def save_model(path, model, config: ModelConfig, extra: dict | None = None) -> None:
    """Write atomically (temporary file + os.replace): a crash never leaves half a checkpoint."""
    obj = {"format": FORMAT, "model_config": dataclasses.asdict(config), "model": cpu_state_dict(model)}
    clash = set(extra or {}) & set(obj)
    if clash:
        raise ValueError(f"save_model: extra keys {sorted(clash)} would overwrite the checkpoint's own")
    obj.update(extra or {})
    atomic_torch_save(path, obj)


def cpu_state_dict(model) -> dict:
    """The state dict on the CPU, tied tensors still shared: a naive .cpu() per entry would
    copy the tied wte / lm_head weight twice and store 38.6M extra numbers at GPT-2 size."""
    seen, out = {}, {}
    for name, t in unwrap(model).state_dict().items():
        key = (t.device, t.data_ptr(), t.dtype, tuple(t.shape), t.stride())
        if key not in seen:
            seen[key] = t.detach().cpu()
        out[name] = seen[key]
    return out


def read_checkpoint(path, map_location="cpu", fmt: str = FORMAT) -> dict:
    """The raw checkpoint dict, checked for existence, readability and format tag: a model
    (FORMAT, with its 'model' state dict) or a resumable training state (STATE_FORMAT, whose
    errors are CheckpointMismatchError and say that the run restarts from scratch)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "checkpoint does not exist",
                              "train the run first (`dvc repro` runs the training stage)")
    obj = _torch_load(path, map_location, fmt)
    if fmt == STATE_FORMAT:
        if not isinstance(obj, dict) or obj.get("format") != STATE_FORMAT:
            raise CheckpointMismatchError(path, f"is not a resumable training state ({STATE_FORMAT})", RESTART)
        return obj
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        got = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(path, f"checkpoint has format {got!r}, expected {FORMAT!r}",
                              "use a checkpoint written by the training stage")
    if not isinstance(obj.get("model"), dict):
        raise CheckpointError(path, "checkpoint has no 'model' state dict", RETRAIN)
    return obj


def _torch_load(path: Path, map_location, fmt: str):
    # torch's own message is not relayed: it advises retrying with weights_only=False,
    # i.e. running whatever code a pickle names. `--debug` shows it in the traceback.
    state = fmt == STATE_FORMAT
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" in str(e) and not state:  # a valid pickle of arbitrary objects, not garbage
            raise CheckpointError(path, f"checkpoint holds pickled Python objects, which the safe loader "
                                        f"(weights_only) does not run: not a {FORMAT} file",
                                  "use a checkpoint written by the training stage") from e
        raise _unreadable(path, state) from e
    except Exception as e:  # torch raises several types for truncated or corrupt zips
        raise _unreadable(path, state) from e


def _unreadable(path: Path, state: bool) -> CheckpointError:
    what = "checkpoint is unreadable (truncated or corrupt)"
    return CheckpointMismatchError(path, what, RESTART) if state else CheckpointError(path, what, RETRAIN)


def _config(obj: dict, path) -> ModelConfig:
    try:
        return ModelConfig.from_dict(obj["model_config"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(path, f"checkpoint has an invalid model_config: {one_line(e)}", RETRAIN) from e


def load_config(path) -> ModelConfig:
    return _config(read_checkpoint(path), path)


def load_model(path, map_location="cpu"):
    """The model stored at `path`, in eval mode, on `map_location` (when that names a device)."""
    obj = read_checkpoint(path, map_location)
    config = _config(obj, path)
    # The init is overwritten by the state dict; a fixed generator keeps loading deterministic.
    model = build_model(config, generator=torch.Generator().manual_seed(0))
    try:
        model.load_state_dict(obj["model"])  # strict: missing, unexpected or mis-shaped entries fail
    except RuntimeError as e:
        raise CheckpointError(path, f"checkpoint's weights do not match its model_config: {one_line(e)}",
                              RETRAIN) from e
    if isinstance(map_location, (str, torch.device)):
        model = model.to(map_location)
    return model.eval()


def unwrap(model):
    model = getattr(model, "module", model)          # DistributedDataParallel
    return getattr(model, "_orig_mod", model)         # torch.compile

