"""DVC stage `tokenize`: build the tokenizer and write the token memmaps.

Reads profiles.<P>.tokenizer and data/<P>/corpus; writes data/<P>/tokenizer/tokenizer.json,
data/<P>/tokens/{train,val,test}.bin + meta.json, and metrics/<P>/tokenize.json.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from resonator.atomic import atomic_dir, atomic_write_json
from resonator.npm import PackageFetchError
from resonator.params import load_for_stage
from resonator.tokenizer import (encode_documents, eot_id, gpt2_tokenizer, save_tokenizer, train_bpe,
                                 unigram_entropy, write_meta, write_tokens)

SPLITS = ("train", "val", "test")


def read_texts(corpus_dir: Path, split: str) -> list[str]:
    path = corpus_dir / f"{split}.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; run `dvc repro prepare` first")
    return [json.loads(line)["text"] for line in path.read_text().splitlines() if line.strip()]


def run(cfg: dict, corpus_dir, tokenizer_dir, tokens_dir, metrics_path) -> dict:
    corpus_dir, tokens_dir = Path(corpus_dir), Path(tokens_dir)
    texts = {s: read_texts(corpus_dir, s) for s in SPLITS}
    if cfg["kind"] == "bpe":
        tok = train_bpe(texts["train"], cfg["vocab_size"], cfg.get("min_frequency", 2))  # train split only
    else:
        tok = gpt2_tokenizer()
    vocab = tok.get_vocab_size()
    meta = {"vocab_size": vocab, "eot_id": eot_id(tok), "dtype": "uint16" if vocab <= 65535 else "uint32",
            "tokenizer": cfg["kind"], "splits": {}}
    # both directories are replaced only when everything is written
    with atomic_dir(tokenizer_dir) as staged_tok, atomic_dir(tokens_dir) as staged_tokens:
        save_tokenizer(tok, staged_tok / "tokenizer.json")
        for s in SPLITS:
            ids = encode_documents(tok, texts[s])
            write_tokens(staged_tokens / f"{s}.bin", ids)
            nbytes = sum(len(t.encode("utf-8")) for t in texts[s])
            meta["splits"][s] = {"tokens": int(len(ids)), "documents": len(texts[s]), "bytes": nbytes}
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
    P = Path("data") / p.profile
    try:
        m = run(p.active["tokenizer"], P / "corpus", P / "tokenizer", P / "tokens",
                Path("metrics") / p.profile / "tokenize.json")
    except (FileNotFoundError, PackageFetchError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(m))
    return 0


if __name__ == "__main__":
    sys.exit(main())
