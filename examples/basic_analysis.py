"""Instrument a tiny randomly initialised resonator and save the figures (a few seconds on a CPU).

    python examples/basic_analysis.py [--out examples/out]
"""
import argparse
import json
from pathlib import Path

import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")

from reporting.instrument_figures import figures as draw  # noqa: E402
from resonator import ModelConfig, build_model  # noqa: E402
from resonator.instruments import ComplexityAnalyzer, FrequencyAnalyzer, InstrumentedTransformer, ResonanceAnalyzer  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="examples/out")
    args = ap.parse_args(argv)
    cfg = ModelConfig(kind="resonator", vocab_size=128, max_seq_len=32, d_model=32, n_layers=2, n_heads=2,
                      d_ff=64, n_phases=8, dropout=0.0)
    base = build_model(cfg, generator=torch.Generator().manual_seed(0)).eval()
    classes = np.random.default_rng(0).integers(-1, 10, cfg.vocab_size)   # toy "rhyme classes"

    model = InstrumentedTransformer(base)
    model.register_instrument(FrequencyAnalyzer())
    model.register_instrument(ComplexityAnalyzer())
    model.register_instrument(ResonanceAnalyzer(classes))
    input_ids = torch.randint(0, cfg.vocab_size, (4, 32), generator=torch.Generator().manual_seed(1))
    output, analysis = model(input_ids)
    figures = draw(analysis)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, fig in figures.items():
        fig.savefig(out / (name.replace("/", "_") + ".png"), dpi=80, bbox_inches="tight")
    print(json.dumps({"logits": list(output[0].shape), "delta_loss": analysis["resonance"]["delta_loss"],
                      "figures": sorted(figures)}, indent=1))


if __name__ == "__main__":
    main()
