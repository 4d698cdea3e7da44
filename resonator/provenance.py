"""Where a result came from: code version, library versions, hardware, time."""
from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess

CODE_PATHS = ("resonator", "pipeline", "evals", "params.yaml", "dvc.yaml", "pyproject.toml")


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
