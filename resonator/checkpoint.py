"""Model checkpoints: plain dicts of tensors and numbers, loadable with weights_only=True.

    {"format": "resonator-ckpt-v1", "model_config": asdict(ModelConfig), "model": state_dict, **extra}
"""
from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import torch

from resonator.atomic import atomic_torch_save
from resonator.model import ModelConfig, build_model

FORMAT = "resonator-ckpt-v1"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, of another format, or does not fit its config."""


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


def read_checkpoint(path, map_location="cpu") -> dict:
    """The raw checkpoint dict, checked for existence, readability and format tag."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" in str(e):  # a valid pickle of arbitrary objects, not garbage
            raise CheckpointError(f"checkpoint {path} holds objects that weights_only=True refuses "
                                  f"(not a {FORMAT} file?): {e}") from e
        raise CheckpointError(f"checkpoint {path} is unreadable (truncated or corrupt): {e}") from e
    except Exception as e:  # torch raises several types for truncated or corrupt zips
        raise CheckpointError(f"checkpoint {path} is unreadable (truncated or corrupt): {e}") from e
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        got = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"checkpoint {path} has format {got!r}, expected {FORMAT!r}")
    if not isinstance(obj.get("model"), dict):
        raise CheckpointError(f"checkpoint {path} has no 'model' state dict")
    return obj


def _config(obj: dict, path) -> ModelConfig:
    try:
        return ModelConfig.from_dict(obj["model_config"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path} has an invalid model_config: {e}") from e


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
        raise CheckpointError(f"checkpoint {path}: weights do not match its model_config: {e}") from e
    if isinstance(map_location, (str, torch.device)):
        model = model.to(map_location)
    return model.eval()


def unwrap(model):
    model = getattr(model, "module", model)          # DistributedDataParallel
    return getattr(model, "_orig_mod", model)         # torch.compile

