"""Figures: deterministic PDF output (the same data give the same bytes)."""
from __future__ import annotations

import os
from pathlib import Path

from resonator.atomic import atomic_write_bytes


def setup_matplotlib():
    os.environ.setdefault("SOURCE_DATE_EPOCH", "0")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"pdf.compression": 6, "svg.hashsalt": "resonator", "font.size": 8,
                         "figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.3})
    return plt


def savefig(fig, path: Path):
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format="pdf", bbox_inches="tight", metadata={"CreationDate": None, "ModDate": None})
    atomic_write_bytes(path, buf.getvalue())
