"""DVC stage `evalsets`: the data files of the local lm-eval tasks, built deterministically.

Reads profiles.<P>.eval, data/<P>/corpus and data/<P>/tokenizer; writes
data/<P>/evalsets/{lm_test,rhyme,cloze,agreement}.jsonl and metrics/<P>/evalsets.json.

  lm_test    the first `lm_max_documents` test-split documents (all if null)
  rhyme      word + 4 candidates (1 rhymes, 3 do not), from cmudict, over words that the
             training split contains at least 5 times and the tokenizer spells in <= 2 tokens
             (with a leading space, as they appear after the template)
  cloze      40 words of test-split context, then predict the next word (letters only, >= 3)
  agreement  'The N1 P the N2 V ...' minimal pairs: verb agrees with N1, not the attractor N2
"""
from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from resonator.atomic import atomic_dir, atomic_write_json, atomic_write_text
from resonator.cli import run_main
from resonator.errors import ProjectError
from resonator.inputs import read_jsonl as _read_jsonl
from resonator.params import load_for_stage
from resonator.phases import cmu_dict, rhyme_key
from resonator.tokenizer import load_tokenizer

SEED = 20261123
WORD = re.compile(r"^[a-z]{3,}$")


def read_jsonl(path: Path) -> list[dict]:
    return _read_jsonl(path, "rebuild the corpus: `dvc repro -f prepare`", missing_fix="run `dvc repro prepare` first")


def lm_test_items(test_docs, n):
    return [{"text": d["text"]} for d in (test_docs if n is None else test_docs[:n])]


def rhyme_items(train_docs, tok, n, seed=SEED):
    counts = Counter(w for d in train_docs for w in re.findall(r"[a-z]+", d["text"].lower()))
    cmu = cmu_dict()
    by_class: dict[str, list[str]] = {}
    for w, c in sorted(counts.items()):
        if c >= 5 and WORD.match(w) and len(tok.encode(" " + w, add_special_tokens=False).ids) <= 2:
            key = rhyme_key(w, cmu)
            if key:
                by_class.setdefault(key, []).append(w)
    rich = sorted(k for k, ws in by_class.items() if len(ws) >= 2)
    all_words = sorted((w, k) for k, ws in by_class.items() for w in ws)
    if len(rich) < 4:
        raise ProjectError("eval.rhyme_items", "too few rhyme classes with two eligible words to build the rhyme task",
                           "use a larger corpus or fewer rhyme items")
    rng = np.random.default_rng(seed)
    items = []
    for _ in range(n):
        key = rich[rng.integers(len(rich))]
        word, rhyme = rng.choice(by_class[key], size=2, replace=False).tolist()
        distractors = []
        while len(distractors) < 3:
            w, k = all_words[rng.integers(len(all_words))]
            if k != key and w not in distractors and not w.endswith(word[-2:]):
                distractors.append(w)
        choices = [rhyme] + distractors
        perm = rng.permutation(4).tolist()
        items.append({"word": word, "choices": [choices[i] for i in perm], "label": perm.index(0)})
    return items


def cloze_items(test_docs, n, context_words=40, seed=SEED):
    rng = np.random.default_rng(seed)
    candidates = []
    for di, d in enumerate(test_docs):
        words = d["text"].split()
        for i in range(context_words, len(words)):
            if WORD.match(words[i]):
                candidates.append((di, i))
    pick = sorted(rng.choice(len(candidates), size=min(n, len(candidates)), replace=False).tolist())
    items = []
    for c in pick:
        di, i = candidates[c]
        words = test_docs[di]["text"].split()
        items.append({"context": " ".join(words[i - context_words:i]), "target": words[i]})
    return items


SUBJECTS = [("author", "authors"), ("teacher", "teachers"), ("doctor", "doctors"), ("farmer", "farmers"),
            ("officer", "officers"), ("student", "students"), ("driver", "drivers"), ("senator", "senators"),
            ("painter", "painters"), ("writer", "writers"), ("manager", "managers"), ("soldier", "soldiers")]
PREPS = ["near", "behind", "beside", "with", "for", "of"]
VERBS = [("is", "are"), ("was", "were"), ("has", "have"), ("seems", "seem"), ("knows", "know")]
ENDINGS = {"is": "here.", "was": "late.", "has": "left.", "seems": "tired.", "knows": "the answer."}


def agreement_items(n, seed=SEED):
    rng = np.random.default_rng(seed)
    items = []
    for _ in range(n):
        s = SUBJECTS[rng.integers(len(SUBJECTS))]
        a = SUBJECTS[rng.integers(len(SUBJECTS))]
        plural_subject = bool(rng.integers(2))
        subj = s[1] if plural_subject else s[0]
        attractor = a[0] if plural_subject else a[1]          # the attractor has the other number
        v = VERBS[rng.integers(len(VERBS))]
        good, bad = (v[1], v[0]) if plural_subject else (v[0], v[1])
        prep = PREPS[rng.integers(len(PREPS))]
        tail = ENDINGS[v[0]]
        items.append({"sentence_good": f"The {subj} {prep} the {attractor} {good} {tail}",
                      "sentence_bad": f"The {subj} {prep} the {attractor} {bad} {tail}"})
    return items


def run(cfg: dict, corpus_dir, tokenizer_path, out_dir, metrics_path) -> dict:
    corpus_dir, out_dir = Path(corpus_dir), Path(out_dir)
    train_docs, test_docs = read_jsonl(corpus_dir / "train.jsonl"), read_jsonl(corpus_dir / "test.jsonl")
    tok = load_tokenizer(tokenizer_path)
    sets = {
        "lm_test": lm_test_items(test_docs, cfg.get("lm_max_documents")),
        "rhyme": rhyme_items(train_docs, tok, cfg["rhyme_items"]),
        "cloze": cloze_items(test_docs, cfg["cloze_items"]),
        "agreement": agreement_items(cfg["agreement_items"]),
    }
    with atomic_dir(out_dir) as staged:
        for name, items in sets.items():
            atomic_write_text(staged / f"{name}.jsonl", "".join(json.dumps(x) + "\n" for x in items))
    metrics = {name: {"items": len(items)} for name, items in sets.items()}
    metrics["lm_test"]["bytes"] = sum(len(x["text"].encode()) for x in sets["lm_test"])
    atomic_write_json(metrics_path, metrics)
    return metrics


def main(argv=None) -> int:
    p = load_for_stage()
    m = run(p.active["eval"], p.layout.corpus, p.layout.tokenizer, p.layout.evalsets,
            p.layout.stage_metrics("evalsets"))
    print(json.dumps(m))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
