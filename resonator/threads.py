"""How many CPU threads a run may use, and how to share the cores with other runs.

Two processes that each run 2 OpenMP threads on 2 cores spin against each other and
train 10-30x slower. So a run takes its threads from the cores this process may
actually use (affinity mask and cgroup quota), divided among the runs that are
going at once on this machine (counted through lock files), and fixes that number
for its whole life: the thread count changes floating-point reduction order, so it
is part of a run's numerical identity and is recorded in train.json.
"""
from __future__ import annotations

import contextlib
import fcntl
import math
import os
import tempfile
from pathlib import Path

SLOTS = Path(os.environ.get("RESONATOR_SLOTS_DIR", Path(tempfile.gettempdir()) / "resonator-runs"))


def available_cores() -> int:
    """Cores this process may run on: the affinity mask, capped by a cgroup v2/v1 CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = cgroup_quota()
    if quota is not None:
        cores = min(cores, max(1, math.floor(quota)))
    return max(1, cores)


def cgroup_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs' worth of quota (cgroup v2 cpu.max, or v1 cfs_quota/period), or None if unlimited."""
    try:
        text = (root / "cpu.max").read_text().split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
        return None
    except (OSError, ValueError, IndexError):
        pass
    try:
        q = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        p = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return q / p if q > 0 and p > 0 else None
    except (OSError, ValueError):
        return None


def running_runs(slots: Path = SLOTS, exclude: Path | None = None) -> int:
    """Runs holding a slot on this machine right now (stale slots of dead processes are removed)."""
    if not slots.is_dir():
        return 0
    n = 0
    for f in slots.glob("slot-*"):
        if exclude is not None and f == exclude:
            continue
        try:
            with open(f, "rb") as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    n += 1          # held by a live run
                    continue
                f.unlink(missing_ok=True)   # its process is gone
        except OSError:
            continue
    return n


@contextlib.contextmanager
def run_slot(slots: Path = SLOTS):
    """Hold a slot while a run trains, so runs started later see it. Yields how many other
    runs were going when this one started."""
    try:
        slots.mkdir(parents=True, exist_ok=True)
        # Take our own slot before counting: two runs that start together then see each other.
        fd, path = tempfile.mkstemp(prefix="slot-", dir=slots)
        fcntl.flock(fd, fcntl.LOCK_EX)
        others = running_runs(slots, exclude=Path(path))
    except OSError:         # no shared temp dir: behave as if alone
        yield 0
        return
    try:
        yield others
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)


def threads_for_run(requested: int | None, others: int, cores: int | None = None) -> int:
    """Threads for a run: the cores it may use, shared with the `others` runs going now,
    never more than `requested` (params' train.num_threads; None = no cap)."""
    cores = available_cores() if cores is None else cores
    share = max(1, cores // (others + 1))
    return max(1, min(requested, share) if requested else share)
