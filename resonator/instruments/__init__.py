"""Signal-analysis instruments for our transformers (see base.py for the interface)."""
from resonator.instruments.analyzers import (
    ComplexityAnalyzer,
    FrequencyAnalyzer,
    ResonanceAnalyzer,
    attention_entropy,
    band_shares,
    compression_ratio,
    effective_rank,
    participation_ratio,
    power_spectrum,
    resonance_spread,
    spectral_entropy,
)
from resonator.instruments.base import Instrument, InstrumentedTransformer

__all__ = ["Instrument", "InstrumentedTransformer", "FrequencyAnalyzer", "ComplexityAnalyzer", "ResonanceAnalyzer",
           "power_spectrum", "spectral_entropy", "band_shares", "effective_rank", "participation_ratio",
           "attention_entropy", "compression_ratio", "resonance_spread"]
