"""Progress of a training run: a tqdm bar on a terminal, one plain line per interval in a log.

Where the output is not a terminal (a log file, CI, `dvc repro` redirected, the per-stage logs
of tools.run_study) a bar would be a wall of carriage returns; there the run prints one line
per validation interval instead, with the same numbers (step, loss, tokens/s, time left).
`dvc repro` in a terminal passes the terminal through, so the bar shows there.
"""
from __future__ import annotations

import sys
import time


def fmt_duration(seconds: float) -> str:
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return "?"
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    def __init__(self, total: int, start: int, tokens_per_step: int, label: str = "", enabled: bool = True,
                 bar_stream=None, log_stream=None):
        self.total, self.step, self.tokens_per_step = total, start, tokens_per_step
        self.label, self.enabled = label, enabled
        self.log = log_stream or sys.stdout
        bar_stream = bar_stream or sys.stderr
        self.t0, self.start = time.perf_counter(), start
        self.bar = None
        if enabled and bar_stream.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=start, desc=label or "train", unit="step", file=bar_stream,
                            dynamic_ncols=True, leave=False)

    def rate(self) -> float:
        """Tokens per second since this process started training (resumed steps excluded)."""
        dt = time.perf_counter() - self.t0
        return (self.step - self.start) * self.tokens_per_step / dt if dt > 0 else 0.0

    def eta(self) -> float:
        done = self.step - self.start
        dt = time.perf_counter() - self.t0
        return (self.total - self.step) * dt / done if done else float("nan")

    def update(self, step: int, loss: float) -> None:
        self.step = step
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{self.rate():,.0f}", refresh=False)
            self.bar.update(step - self.bar.n)

    def line(self, text: str) -> None:
        """An interval line: in the log always, above the bar on a terminal."""
        if not self.enabled:
            return
        msg = (f"{self.label + ' ' if self.label else ''}step {self.step}/{self.total} {text} "
               f"{self.rate():,.0f} tok/s, {fmt_duration(self.eta())} left")
        if self.bar is not None:
            self.bar.clear()
        print(msg, file=self.log, flush=True)
        if self.bar is not None:
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
