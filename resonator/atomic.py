"""Atomic writes: a reader never sees a half-written file, and a crash never
leaves one behind (write to a temporary file in the same directory, fsync, rename).

`atomic_dir` does the same for a directory output: the stage writes into a fresh
staging directory, which replaces the old directory only when the block succeeds.
Together with `persist: true` in dvc.yaml (DVC then does not delete outputs before
running a stage), a stage that fails leaves its previous outputs exactly as they were.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np


def atomic_write_bytes(path, data: bytes) -> None:
    """On any failure (a full disk, a read-only location) the old file, if any, is untouched,
    no temporary file is left, and the OSError names `path`, not the temporary file."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        e.filename = str(path)  # the file to be written, not mkstemp's random name
        raise
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError) and (e.filename is None or e.filename == tmp):
            e.filename = str(path)  # the file the user knows of, not our temporary one
        raise


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj, indent: int = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False, default=_jsonable) + "\n")


def atomic_save_npy(path, array: np.ndarray) -> None:
    import io
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def atomic_torch_save(path, obj) -> None:
    import io

    import torch
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


@contextlib.contextmanager
def atomic_dir(path):
    """Build a directory output in a staging directory beside `path`; swap it in on success.

        with atomic_dir("data/tiny/corpus") as d:
            atomic_write_text(d / "train.jsonl", ...)

    On success the old directory (if any) is renamed aside, the staging directory is
    renamed to `path`, and the old one is removed: `path` then holds exactly the files
    written in the block (no stale files from an earlier run). On an exception (or
    KeyboardInterrupt) the staging directory is removed and `path` is left untouched.
    Leftovers of a run killed mid-way (hidden `.<name>.tmp-*` / `.<name>.old-*`
    directories beside `path`) are removed the next time.
    """
    path = Path(path)
    parent = path.parent
    parent.mkdir(parents=True, exist_ok=True)
    for prefix in (f".{path.name}.tmp-", f".{path.name}.old-"):
        for stale in parent.glob(prefix + "*"):
            shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{path.name}.tmp-"))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes 0700 directories
        yield staging
        old = None
        if path.exists() or path.is_symlink():
            old = Path(tempfile.mkdtemp(dir=parent, prefix=f".{path.name}.old-"))
            os.replace(path, old / path.name)
        try:
            os.replace(staging, path)
        except BaseException:
            if old is not None:  # put the old directory back
                os.replace(old / path.name, path)
            raise
        if old is not None:
            shutil.rmtree(old)
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        # name the output the user knows, not the hidden staging directory
        if e.filename and str(e.filename).startswith(str(staging)):
            e.filename = str(path) + str(e.filename)[len(str(staging)):]
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _jsonable(x):
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")
