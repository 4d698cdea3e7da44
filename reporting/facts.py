"""Facts about the study, read from the files that hold them, as LaTeX for the paper.

Nothing here is typed by hand: the corpus comes from the prepare stage's metrics (its
package, documents and words), the phase coverage from the phases stage's metrics, the
recipe and pairing from params.yaml, the original's recipe from the `paper` profile
(the faithful one), and the unigram baseline from the token files. The paper's setup
paragraph, scale notice and limitations are built from these; their words are in
paper/sentences.yaml (`paper:`).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from reporting.latex import tex_escape
from reporting.sentences import say


def read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def thousands(n: int) -> str:
    return f"{n:,}".replace(",", "{,}")


def corpus_phrase(prof: dict, prepare: dict | None) -> str:
    """The corpus in words: source, documents and words of all splits, from the prepare stage."""
    d = prof["data"]
    if d["source"] == "brown":
        name = say("paper.corpus.brown")
    elif d["source"] == "hf":
        name = say("paper.corpus.hf", path=tex_escape(d.get("hf", {}).get("path", "?")))
    else:
        name = say("paper.corpus.local")
    if not prepare:
        return name
    splits = prepare["splits"].values()
    docs, words = sum(s["documents"] for s in splits), sum(s["words"] for s in splits)
    package = prepare.get("source", {}).get("package")
    src = ""
    if package:
        # \path (typewriter, taken verbatim) may break at '@' and '.'; an unbreakable \texttt name
        # left the setup paragraph underfull. npm names never hold what \path cannot take.
        verbatim_ok = not set(package) & set("{}%#\\")
        shown = f"\\path{{{package}}}" if verbatim_ok else f"\\texttt{{{tex_escape(package)}}}"
        src = say("paper.corpus.package", package=shown)
    return say("paper.corpus.counted", name=name, docs=thousands(docs), words=thousands(words), source=src)


def tokenizer_phrase(prof: dict, meta: dict | None) -> str:
    tok = prof["tokenizer"]
    vocab = meta["vocab_size"] if meta else tok.get("vocab_size")
    kind = say("paper.tokenizer.gpt2" if tok["kind"] == "gpt2" else "paper.tokenizer.trained")
    return say("paper.tokenizer.sized", kind=kind, vocab=thousands(vocab)) if vocab else kind


def recipe_phrase(prof: dict) -> str:
    m, t = prof["model"], prof["train"]
    batch = t.get("batch") or (t["micro_batch"] or 1) * (t["grad_accum"] or 1)
    micro = (say("paper.recipe.micro", micro=t["micro_batch"], accum=t["grad_accum"]) if t.get("micro_batch")
             else say("paper.recipe.auto"))
    return say("paper.recipe.phrase", width=m["d_model"], layers=m["n_layers"], heads=m["n_heads"], ff=m["d_ff"],
               context=m["max_seq_len"], lr=f"{t['lr']:g}", wd=f"{t['weight_decay']:g}", clip=f"{t['grad_clip']:g}",
               batch=batch, micro=micro, epochs=f"{t['epochs']:g}", dtype=t["dtype"])


def describe(prof: dict, prepare: dict | None = None, meta: dict | None = None) -> str:
    return f"{corpus_phrase(prof, prepare)}, {tokenizer_phrase(prof, meta)}; {recipe_phrase(prof)}"


def unigram_bits_per_byte(train_ids: np.ndarray, test_ids: np.ndarray, vocab_size: int, test_bytes: int) -> float:
    """Bits per byte on the test tokens of a model that knows only the training split's token
    frequencies (add-one smoothed): the floor any language model must get below."""
    counts = np.bincount(np.asarray(train_ids, dtype=np.int64), minlength=vocab_size).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    nats = -float(logp[np.asarray(test_ids, dtype=np.int64)].sum())
    return nats / (math.log(2) * test_bytes)


def unigram_baseline(tokens_dir: Path) -> float | None:
    meta = read(Path(tokens_dir) / "meta.json")
    if not meta:
        return None
    from resonator.tokenizer import load_tokens
    return unigram_bits_per_byte(load_tokens(tokens_dir, "train"), load_tokens(tokens_dir, "test"),
                                 meta["vocab_size"], meta["splits"]["test"]["bytes"])


def coverage_sentence(phases: dict | None) -> str:
    if not phases:
        return ""
    hist = phases.get("class_size_histogram", {})
    single = hist.get("1-1", 0)
    orig = phases.get("original_gpt2")
    s = say("paper.coverage", with_class=thousands(phases["tokens_with_class"]),
            vocab=thousands(phases["vocab_size"]), classes=thousands(phases["classes"]), single=thousands(single))
    if orig:
        s += " " + say("paper.coverage_original", with_class=thousands(orig["tokens_with_class"]),
                       vocab=thousands(orig["vocab_size"]), classes=thousands(orig["classes"]))
    return s + "\n"


def recipe_sentence(active: dict, paper: dict | None, profile: str) -> str:
    if not paper or profile == "paper":
        return ""
    t, o = active["train"], paper["train"]
    parts = []
    if t["lr"] != o["lr"]:
        parts.append(say("paper.recipe.lr", ratio=f"{t['lr'] / o['lr']:.3g}", lr=f"{t['lr']:g}",
                         original=f"{o['lr']:g}"))
    if t["epochs"] != o["epochs"]:
        parts.append(say("paper.recipe.epochs", epochs=f"{t['epochs']:g}", original=f"{o['epochs']:g}"))
    if active["model"]["d_model"] != paper["model"]["d_model"]:
        parts.append(say("paper.recipe.width", width=active["model"]["d_model"], original=paper["model"]["d_model"]))
    if not parts:
        return ""
    return say("paper.recipe.sentence", profile=tex_escape(profile), parts="; ".join(parts)) + "\n"


def pairing_sentence(active: dict) -> str:
    per_parameter = active["model"].get("init_pairing") == "per_parameter"
    return say("paper.pairing_per_parameter" if per_parameter else "paper.pairing_shared") + "\n"


def baseline_sentence(notebook_bpb: float | None, unigram_bpb: float | None) -> str:
    if notebook_bpb is None or unigram_bpb is None:
        return ""
    digits = 3 if round(notebook_bpb, 3) != round(unigram_bpb, 3) else 4
    return say("paper.baseline", notebook=f"{notebook_bpb:.{digits}f}", unigram=f"{unigram_bpb:.{digits}f}",
               relation=say("paper.above" if notebook_bpb > unigram_bpb else "paper.below")) + "\n"
