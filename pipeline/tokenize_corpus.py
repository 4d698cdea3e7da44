"""DVC stage `tokenize`: build the tokenizer and write the token memmaps.

Reads profiles.<P>.tokenizer and data/<P>/corpus; writes data/<P>/tokenizer/tokenizer.json,
data/<P>/tokens/{train,val,test}.bin + meta.json, and metrics/<P>/tokenize.json.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from resonator.atomic import atomic_dir, atomic_write_json
from resonator.cli import run_main
from resonator.errors import InputError
from resonator.inputs import read_jsonl
from resonator.params import load_for_stage
from resonator.tokenizer import (
    encode_documents,
    eot_id,
    file_record,
    gpt2_tokenizer,
    save_tokenizer,
    train_bpe,
    unigram_entropy,
    write_meta,
    write_tokens,
)

SPLITS = ("train", "val", "test")


def read_texts(corpus_dir: Path, split: str) -> list[str]:
    path = corpus_dir / f"{split}.jsonl"
    rows = read_jsonl(path, "rebuild the corpus: `dvc repro -f prepare`", missing_fix="run `dvc repro prepare` first")
    if not all(isinstance(r, dict) and isinstance(r.get("text"), str) for r in rows):
        raise InputError(path, "has a record without a \"text\" string", "rebuild the corpus: `dvc repro -f prepare`")
    return [r["text"] for r in rows]


def run(cfg: dict, corpus_dir, tokenizer_dir, tokens_dir, metrics_path) -> dict:
    corpus_dir, tokens_dir = Path(corpus_dir), Path(tokens_dir)
    texts = {s: read_texts(corpus_dir, s) for s in SPLITS}
    if cfg["kind"] == "bpe":
        tok = train_bpe(texts["train"], cfg["vocab_size"], cfg.get("min_frequency", 2))  # train split only
    else:
        tok = gpt2_tokenizer()
    vocab = tok.get_vocab_size()
    meta = {"vocab_size": vocab, "eot_id": eot_id(tok), "dtype": "uint16" if vocab <= 65535 else "uint32",
            "tokenizer": cfg["kind"], "splits": {},
            # what training and evaluation check before they start (resonator.tokenizer.verify_tokens)
            "files": {}}
    # both directories are replaced only when everything is written
    with atomic_dir(tokenizer_dir) as staged_tok, atomic_dir(tokens_dir) as staged_tokens:
        save_tokenizer(tok, staged_tok / "tokenizer.json")
        meta["tokenizer_file"] = file_record(staged_tok / "tokenizer.json")
        for s in SPLITS:
            ids = encode_documents(tok, texts[s])
            write_tokens(staged_tokens / f"{s}.bin", ids)
            nbytes = sum(len(t.encode("utf-8")) for t in texts[s])
            meta["splits"][s] = {"tokens": int(len(ids)), "documents": len(texts[s]), "bytes": nbytes}
            meta["files"][f"{s}.bin"] = file_record(staged_tokens / f"{s}.bin")
            if s == "train":
                train_ids = ids
        write_meta(staged_tokens, meta)
    metrics = {"vocab_size": vocab, "kind": cfg["kind"],
               "unigram_entropy_nats": unigram_entropy(train_ids, vocab),
               **{f"{s}_tokens": meta["splits"][s]["tokens"] for s in SPLITS},
               "bytes_per_token": meta["splits"]["train"]["bytes"] / max(1, meta["splits"]["train"]["tokens"])}
    atomic_write_json(metrics_path, metrics)
    return metrics


def main(argv=None) -> int:
    p = load_for_stage()
    lay = p.layout
    m = run(p.active["tokenizer"], lay.corpus, lay.tokenizer_dir, lay.tokens, lay.stage_metrics("tokenize"))
    print(json.dumps(m))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
