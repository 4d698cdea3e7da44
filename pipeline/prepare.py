"""DVC stage `prepare`: fetch the corpus and split it by document.

Reads profiles.<P>.data; writes data/<P>/corpus/{train,val,test}.jsonl and
metrics/<P>/prepare.json.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from resonator.atomic import atomic_dir, atomic_write_json, atomic_write_text
from resonator.cli import run_main
from resonator.data import BROWN, load_documents, split_documents
from resonator.params import load_for_stage


def run(cfg: dict, out_dir, metrics_path) -> dict:
    docs = load_documents(cfg)
    splits = split_documents(docs, cfg["split"])
    out_dir = Path(out_dir)
    metrics = {"source": describe_source(cfg), "splits": {}}
    with atomic_dir(out_dir) as staged:  # replaces the old corpus only when every split is written
        for name, part in splits.items():
            atomic_write_text(staged / f"{name}.jsonl", "".join(json.dumps(d) + "\n" for d in part))
            metrics["splits"][name] = {
                "documents": len(part),
                "words": sum(len(d["text"].split()) for d in part),
                "characters": sum(len(d["text"]) for d in part),
                "bytes": sum(len(d["text"].encode("utf-8")) for d in part),
            }
    atomic_write_json(metrics_path, metrics)
    return metrics


def describe_source(cfg: dict) -> dict:
    if cfg["source"] == "brown":
        return {"source": "brown", "package": f"{BROWN['name']}@{BROWN['version']}", "sha256": BROWN["sha256"],
                "max_documents": cfg.get("max_documents")}
    if cfg["source"] == "hf":
        return {"source": "hf", **cfg["hf"]}
    return {"source": "files", "glob": cfg["files"]["glob"]}


def main(argv=None) -> int:
    p = load_for_stage()
    m = run(p.active["data"], p.layout.corpus, p.layout.stage_metrics("prepare"))
    print(json.dumps(m["splits"]))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
