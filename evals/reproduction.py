"""Is a regenerated study the committed one? Each result file is compared with its committed
version, leaving out the stamps that say when, where and how fast a number was made (never
what the number is): wall times, throughput, provenance, dates, the commit.

A run is a reproduction unit: same config, same numbers. Aggregates (stats, tables, summary)
are compared only when the plan (params.yaml) is the committed one: adding a variant or a
hypothesis changes them on purpose, and that is not a failure to reproduce.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

from resonator.layout import STAMPS_NAME

# JSON keys whose values are stamps, anywhere in a document (train.json, eval.json, stats.json,
# the stage metrics, the ladder's records and throughput)
VOLATILE_KEYS = frozenset({
    "provenance", "utc", "wall_time_s", "tokens_per_s", "mfu", "eval_seconds", "train_hardware",
    "lm_eval_version", "load_average", "wall_s", "train_s", "eval_s", "start_s", "seconds",
})
# generated LaTeX macros that carry a stamp (reporting.macros.study_globals)
VOLATILE_MACROS = ("resCommit", "resProduced", "resHardware")
_MACRO_LINE = re.compile(r"\\newcommand\{\\(" + "|".join(VOLATILE_MACROS) + r")\}")
# a run's record: what decides whether two versions of it are the same run
RUN_IDENTITY = ("profile", "variant", "seed", "config")
# files whose bytes embed a stamp and are derived from files compared here
SKIPPED_SUFFIXES = (".pdf", ".png")
# the stamps themselves (resonator.provenance): how fast, when, where; never a result
STAMP_FILES = (STAMPS_NAME, "stamps.tex")


@dataclass
class Difference:
    path: str
    where: str          # a dotted key, a line number, or "" for the whole file
    committed: object
    now: object

    def line(self) -> str:
        where = f" at {self.where}" if self.where else ""
        return f"{self.path}{where}: committed {_short(self.committed)}, now {_short(self.now)}"


@dataclass
class Report:
    identical: list[str] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    new: list[str] = field(default_factory=list)            # not in the committed study
    other_config: list[str] = field(default_factory=list)   # a run retrained under a changed config
    unchecked: list[str] = field(default_factory=list)      # aggregates of a changed plan, or stamped binaries

    @property
    def reproduced(self) -> bool:
        return not self.differences


def _short(value, limit: int = 80) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def strip_stamps(doc):
    """`doc` without the VOLATILE_KEYS, at any depth."""
    if isinstance(doc, dict):
        return {k: strip_stamps(v) for k, v in doc.items() if k not in VOLATILE_KEYS}
    if isinstance(doc, list):
        return [strip_stamps(v) for v in doc]
    return doc


def _close(a, b, rtol: float, atol: float) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return a == b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= atol + rtol * abs(b)


def diff_json(old, new, rtol: float = 0.0, atol: float = 0.0, where: str = "") -> list[tuple[str, object, object]]:
    """(dotted key, committed, now) of every value that differs; numbers within atol + rtol*|committed|."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new), key=str):
            key = f"{where}.{k}" if where else str(k)
            if k not in new or k not in old:
                out.append((key, old.get(k, "<absent>"), new.get(k, "<absent>")))
            else:
                out += diff_json(old[k], new[k], rtol, atol, key)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            out += diff_json(a, b, rtol, atol, f"{where}[{i}]")
        return out
    return [] if _close(old, new, rtol, atol) else [(where, old, new)]


def diff_text(old: str, new: str) -> list[tuple[str, object, object]]:
    """Line by line, leaving out the lines that define a stamped macro."""
    def keep(text):
        return [(i + 1, line) for i, line in enumerate(text.splitlines()) if not _MACRO_LINE.search(line)]
    a, b = keep(old), keep(new)
    out = [(f"line {la}", ta, tb) for (la, ta), (_, tb) in zip(a, b, strict=False) if ta != tb]
    if len(a) != len(b):
        out.append(("length", f"{len(a)} lines", f"{len(b)} lines"))
    return out


def same_run(old: dict, new: dict) -> bool:
    """Two versions of a run record describe the same run (same identity and config)."""
    return all(old.get(k) == new.get(k) for k in RUN_IDENTITY)


def compare_file(path: str, committed: bytes, now: bytes, rtol: float = 0.0,
                 atol: float = 0.0) -> tuple[str, list[Difference]]:
    """("identical" | "different" | "other_config" | "unchecked", differences) for one file."""
    if committed == now:
        return "identical", []
    if path.endswith(SKIPPED_SUFFIXES) or path.rsplit("/", 1)[-1] in STAMP_FILES:
        return "unchecked", []
    if path.endswith(".json"):
        try:
            old, new = json.loads(committed), json.loads(now)
        except ValueError as e:
            return "different", [Difference(path, "", "valid JSON", f"unreadable ({e})")]
        if isinstance(old, dict) and isinstance(new, dict) and "variant" in old and "seed" in old \
                and not same_run(old, new):
            return "other_config", []
        found = diff_json(strip_stamps(old), strip_stamps(new), rtol, atol)
    else:
        found = diff_text(committed.decode(errors="replace"), now.decode(errors="replace"))
    return ("different" if found else "identical"), [Difference(path, w, a, b) for w, a, b in found]
