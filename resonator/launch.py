"""Run one training run as `world` single-machine data-parallel CPU processes (gloo).

Why processes and not threads: one OpenMP team per process spins while it waits, so
two runs of 2 threads each on 2 cores slow each other 10-30x; single-threaded
processes that the kernel time-slices degrade gracefully. The processes are the same
command with RANK/WORLD_SIZE set (as torchrun would set them); each dies with the
launcher (PR_SET_PDEATHSIG), and when one fails the others are stopped, so a crash
never leaves a rank waiting forever in an all-reduce.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def under_launcher() -> bool:
    """True inside a rank started by launch() or torchrun."""
    return "WORLD_SIZE" in os.environ


def started_by_launch() -> bool:
    """True inside a rank started by launch() (not torchrun): the launching process ran the
    run's input checks before starting it, so a rank need not repeat the slow ones."""
    return os.environ.get("RESONATOR_LAUNCHED") == "1"


def launch(module: str, args: list[str], world: int, threads: int, poll_s: float = 0.2) -> int:
    """Run `python -m module *args` as `world` ranks with `threads` threads each; the exit code
    is the first failing rank's (0 if all succeed)."""
    port = free_port()
    procs = []
    for rank in range(world):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS=str(threads),
                   RESONATOR_THREADS=str(threads), RESONATOR_LAUNCHED="1")
        # rank 0 speaks for the run; the others print only their errors
        out = None if rank == 0 else subprocess.DEVNULL
        procs.append(subprocess.Popen([sys.executable, "-m", module, *args], env=env, stdout=out,
                                      preexec_fn=_die_with_parent))
    try:
        while True:
            codes = [p.poll() for p in procs]
            failed = [c for c in codes if c not in (None, 0)]
            if failed:
                return failed[0]
            if all(c == 0 for c in codes):
                return 0
            time.sleep(poll_s)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
