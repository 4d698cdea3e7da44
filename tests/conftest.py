"""Shared test fixtures. Tests run on one thread: the machine has two cores and
determinism tests must not depend on thread scheduling."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

try:
    import torch
    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo_root() -> Path:
    return ROOT


def make_repo_copy(dst: Path) -> Path:
    """Copy the repository's tracked (and untracked, not ignored) sources to `dst` and make it
    a fresh git repository with one commit. DVC artifacts are not copied."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        src = ROOT / f
        if src.is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / f)
    subprocess.run(["git", "init", "-q"], cwd=dst, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dst, check=True)
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "copy"],
                   cwd=dst, check=True)
    return dst


@pytest.fixture
def repo_copy(tmp_path) -> Path:
    """A throwaway git+DVC copy of the repository's tracked sources (no artifacts)."""
    return make_repo_copy(tmp_path / "repo")
