"""Model checkpoints: plain dicts of tensors and numbers, loadable with weights_only=True."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from resonator.atomic import atomic_torch_save
from resonator.model import ModelConfig, build_model

FORMAT = "resonator-ckpt-v1"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, of another format, or does not fit its config."""


def save_model(path, model, config: ModelConfig, extra: dict | None = None) -> None:
    state = {k: v.detach().cpu() for k, v in _unwrap(model).state_dict().items()}
    obj = {"format": FORMAT, "model_config": dataclasses.asdict(config), "model": state}
    obj.update(extra or {})
    atomic_torch_save(path, obj)


def read_checkpoint(path, map_location="cpu") -> dict:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for truncated/corrupt zips
        raise CheckpointError(f"checkpoint {path} is unreadable (truncated or corrupt): {e}") from e
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        got = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"checkpoint {path} has format {got!r}, expected {FORMAT!r}")
    return obj


def load_config(path) -> ModelConfig:
    obj = read_checkpoint(path)
    try:
        return ModelConfig.from_dict(obj["model_config"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path} has an invalid model_config: {e}") from e


def load_model(path, map_location="cpu"):
    """The model stored at `path`, in eval mode."""
    obj = read_checkpoint(path, map_location)
    try:
        config = ModelConfig.from_dict(obj["model_config"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path} has an invalid model_config: {e}") from e
    model = build_model(config, generator=torch.Generator().manual_seed(0))
    try:
        model.load_state_dict(obj["model"])
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint {path}: weights do not match its model_config: {e}") from e
    return model.to(map_location).eval()


def _unwrap(model):
    model = getattr(model, "module", model)          # DistributedDataParallel
    return getattr(model, "_orig_mod", model)         # torch.compile
