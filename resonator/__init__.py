"""Resonator: a reproducible test of phase-channel transformers.

`from resonator import ModelConfig, build_model` is the public entry point.
Imports are lazy so that light stages (data prep, phases) do not pay for torch.
"""

__all__ = ["ModelConfig", "build_model", "count_params", "load_params"]


def __getattr__(name):
    if name in ("ModelConfig", "build_model"):
        from resonator import model
        return getattr(model, name)
    if name == "count_params":
        from resonator.sizes import count_params
        return count_params
    if name == "load_params":
        from resonator.params import load_params
        return load_params
    raise AttributeError(f"module 'resonator' has no attribute {name!r}")
