"""The generated prose's words, from paper/sentences.yaml: `say("study.meaning.trivial", fields)`.

The template file holds every sentence; the reporting modules choose which one a result calls
for and fill in its fields (str.format_map). A sentence or field that is missing is an error
naming the file and the key, never a silently shorter paragraph.
"""
from __future__ import annotations

import functools
from collections import ChainMap
from collections.abc import Mapping
from pathlib import Path

import yaml

from resonator.errors import ProjectError

PATH = Path(__file__).resolve().parents[1] / "paper" / "sentences.yaml"


@functools.cache
def _load(path: Path) -> dict:
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ProjectError(path, f"cannot be read ({type(e).__name__})", "restore it from git") from e
    if not isinstance(doc, dict):
        raise ProjectError(path, "is not a mapping of sentences", "restore it from git")
    return doc


def template(key: str, path: Path = PATH) -> str:
    node = _load(path)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ProjectError(path, f"has no sentence {key!r}", "add it (see the file's header) or restore the file")
        node = node[part]
    if not isinstance(node, str):
        raise ProjectError(path, f"{key!r} is not one sentence", "make it a string")
    return node


def say(key: str, fields: Mapping | None = None, /, **given) -> str:
    """Sentence `key` with its fields from `fields` (any mapping, e.g. one that looks numbers up)
    and the keywords."""
    text = template(key)
    values = ChainMap(given, fields or {})   # the keywords first, then the mapping
    try:
        return text.format_map(values)
    except KeyError as e:
        raise ProjectError(PATH, f"{key!r} names the field {e.args[0]!r}, which this sentence is not given",
                           "use only the fields the sentence had") from None

