"""Where a result came from: code version, library versions, hardware, time; and the stamps
file that keeps these apart from the results.

A record (train.json, eval.json, stats.json) holds what was computed; how fast, when, where and
with which commit it was computed goes to the stamps.json beside it (`split_stamps`,
`write_stamps`). .dvcignore hides every stamps.json from DVC, so a reproduction that computes the
same numbers leaves the records, the cached outputs and dvc.lock unchanged; git keeps the stamps
as the record of how each result was made.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from pathlib import Path

from resonator.atomic import atomic_write_json
from resonator.layout import STAMPS_NAME  # noqa: F401  (re-exported: where stamps go)

# record keys whose values are stamps, at the top level or in the record's "metrics"
STAMP_KEYS = frozenset({"provenance", "wall_time_s", "tokens_per_s", "mfu", "eval_seconds", "lm_eval_version",
                        "train_hardware"})


def split_stamps(record: dict) -> tuple[dict, dict]:
    """(the record without its stamps, the stamps), looking at the top level and in "metrics"."""
    rec = {k: v for k, v in record.items() if k not in STAMP_KEYS}
    stamps = {k: v for k, v in record.items() if k in STAMP_KEYS}
    if isinstance(record.get("metrics"), dict):
        rec["metrics"] = {k: v for k, v in record["metrics"].items() if k not in STAMP_KEYS}
        stamps.update({k: v for k, v in record["metrics"].items() if k in STAMP_KEYS})
    return rec, stamps


def write_stamps(path: Path, section: str, stamps: dict) -> None:
    """stamps.json's `section` (train, eval, stats, ...) replaced by `stamps`; the others kept."""
    # stamps are never an input to a result: an unreadable file is rewritten
    atomic_write_json(Path(path), {**read_stamps(path), section: stamps})


def read_stamps(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return {}

CODE_PATHS = ("resonator", "pipeline", "evals", "params.yaml", "dvc.yaml", "ladder/dvc.yaml", "pyproject.toml")


def git_commit() -> dict:
    def git(*args):
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    commit = git("rev-parse", "HEAD") or None
    # Dirty means uncommitted changes to what can change a result (code, params, stage
    # definitions), not to the results files the pipeline itself rewrites as it runs.
    dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS)) if commit else None
    return {"commit": commit, "dirty": dirty}


def versions() -> dict:
    import numpy
    out = {"python": platform.python_version(), "numpy": numpy.__version__}
    try:
        import torch
        out["torch"] = torch.__version__
    except ImportError:
        pass
    return out


def cpu_model() -> str | None:
    """The CPU's marketing name: results are bitwise-reproducible only on the same CPU model."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def hardware() -> dict:
    hw = {"machine": platform.machine(), "cpu": cpu_model(), "cpu_count": os.cpu_count(), "gpu": None}
    try:
        import torch
        if torch.cuda.is_available():
            hw["gpu"] = torch.cuda.get_device_name(0)
        hw["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return hw


def provenance() -> dict:
    return {**git_commit(), "versions": versions(), "hardware": hardware(),
            "utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
