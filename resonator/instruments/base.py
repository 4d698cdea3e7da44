"""Instruments observe a model through forward hooks; InstrumentedTransformer runs them.

    model = InstrumentedTransformer(base_model)
    model.register_instrument(FrequencyAnalyzer())
    output, analysis = model(input_ids)          # output = base_model(input_ids)
    figures = reporting.instrument_figures.figures(analysis)   # drawn in the reporting package

With no instrument registered no hook is installed: the wrapper only forwards the call.
"""
from __future__ import annotations

import torch
import torch.nn as nn


class Instrument:
    """Base class. Subclasses add hooks in `attach`, store detached tensors while the model
    runs, and turn them into plain numbers in `summarise` (figures of them: reporting.instrument_figures)."""

    name = "instrument"

    def __init__(self):
        self.handles: list = []
        self.model = None

    def attach(self, model: nn.Module) -> None:
        self.model = model

    def detach(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []
        self.model = None

    def reset(self) -> None:
        """Forget what the last forward pass collected."""

    def hook(self, module: nn.Module, fn, pre: bool = False) -> None:
        reg = module.register_forward_pre_hook if pre else module.register_forward_hook
        self.handles.append(reg(fn))

    def summarise(self, idx: torch.Tensor, targets: torch.Tensor | None) -> dict:
        return {}


class InstrumentedTransformer(nn.Module):
    """Wraps a Standard or Resonator model without changing its outputs."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.instruments: dict[str, Instrument] = {}

    def register_instrument(self, instrument: Instrument) -> Instrument:
        if instrument.name in self.instruments:
            raise ValueError(f"an instrument named {instrument.name!r} is already registered")
        instrument.attach(self.model)
        self.instruments[instrument.name] = instrument
        return instrument

    def remove_instrument(self, name: str) -> None:
        self.instruments.pop(name).detach()

    def detach_all(self) -> None:
        for name in list(self.instruments):
            self.remove_instrument(name)

    def forward(self, idx, targets=None):
        if not self.instruments:
            return self.model(idx, targets), {}
        for inst in self.instruments.values():
            inst.reset()
        output = self.model(idx, targets)
        with torch.no_grad():
            analysis = {name: inst.summarise(idx, targets) for name, inst in self.instruments.items()}
        return output, analysis
