"""Reading the project's JSON inputs: a missing, truncated or corrupt file is an
`InputError` that names the file and what rebuilds it, never a JSONDecodeError."""
from __future__ import annotations

import json
from pathlib import Path

from resonator.errors import InputError


def _text(path: Path, fix: str, missing_fix: str | None) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, "does not exist", missing_fix or fix) from None
    except UnicodeDecodeError:
        raise InputError(path, "is not UTF-8 text (corrupt)", fix) from None


def read_json(path, fix: str, missing_fix: str | None = None):
    """The JSON document at `path`; `fix` says what rebuilds it (`missing_fix`, if given, when it is absent)."""
    path = Path(path)
    text = _text(path, fix, missing_fix)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        what = "is empty" if not text.strip() else f"is truncated or corrupt (not valid JSON at line {e.lineno})"
        raise InputError(path, what, fix) from None


def read_jsonl(path, fix: str, missing_fix: str | None = None) -> list:
    """One JSON value per non-blank line; a line cut short (a torn write) names its number."""
    path = Path(path)
    out = []
    for n, line in enumerate(_text(path, fix, missing_fix).splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            raise InputError(path, f"line {n} is truncated or corrupt (not valid JSON)", fix) from None
    return out


def read_tokens_meta(profile: str, path=None) -> tuple[dict, Path]:
    """The tokenize stage's record of the token files (per split: tokens, documents, bytes), and
    where it was read from: `path`, or the profile's data/<profile>/tokens/meta.json."""
    from resonator.layout import Layout
    path = Path(path) if path else Layout(profile).tokens_meta
    return read_json(path, "rerun `dvc repro tokenize`", missing_fix="run `dvc repro tokenize` first"), path
