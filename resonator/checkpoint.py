"""Model checkpoints: plain dicts of tensors and numbers, loadable with weights_only=True.

    {"format": "resonator-ckpt-v1", "model_config": asdict(ModelConfig), "model": state_dict, **extra}
"""
from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import torch

from resonator.atomic import atomic_torch_save
from resonator.errors import ProjectError
from resonator.model import ModelConfig, build_model

FORMAT = "resonator-ckpt-v1"
RETRAIN = "delete it and rerun the training stage (`dvc repro` retrains the run)"


class CheckpointError(ProjectError, RuntimeError):
    """A checkpoint is missing, unreadable, of another format, or does not fit its config."""


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


def read_checkpoint(path, map_location="cpu") -> dict:
    """The raw checkpoint dict, checked for existence, readability and format tag."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "checkpoint does not exist",
                              "train the run first (`dvc repro` runs the training stage)")
    # torch's own message is not relayed: it advises retrying with weights_only=False,
    # i.e. running whatever code a pickle names. `--debug` shows it in the traceback.
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" in str(e):  # a valid pickle of arbitrary objects, not garbage
            raise CheckpointError(path, f"checkpoint holds pickled Python objects, which the safe loader "
                                        f"(weights_only) does not run: not a {FORMAT} file",
                                  "use a checkpoint written by the training stage") from e
        raise CheckpointError(path, "checkpoint is unreadable (truncated or corrupt)", RETRAIN) from e
    except Exception as e:  # torch raises several types for truncated or corrupt zips
        raise CheckpointError(path, "checkpoint is unreadable (truncated or corrupt)", RETRAIN) from e
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        got = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(path, f"checkpoint has format {got!r}, expected {FORMAT!r}",
                              "use a checkpoint written by the training stage")
    if not isinstance(obj.get("model"), dict):
        raise CheckpointError(path, "checkpoint has no 'model' state dict", RETRAIN)
    return obj


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

