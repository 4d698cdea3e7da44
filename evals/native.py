"""The local tasks scored without lm-eval (torch, numpy and tokenizers only), for GPU nodes that
lack lm-eval. Requests are built exactly as lm-eval builds them for our task YAMLs, and the
scores come from the same scorer as the adapter; tests/test_native.py checks every per-item
score against lm-eval's own output.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from evals.scoring import rolling_windows, score_requests


class NativeScorer:
    def __init__(self, model, tok, eot: int, batch_size: int = 16, device="cpu", rolling_context: int | None = None):
        self.model, self.tok, self.eot = model, tok, eot
        self.max_len = model.config.max_seq_len
        self.rolling_context = rolling_context or self.max_len // 2
        self.batch_size, self.device = batch_size, device

    def enc(self, s: str) -> list[int]:
        return self.tok.encode(s, add_special_tokens=False).ids

    def pair(self, context: str, continuation: str):
        """lm-eval's TemplateLM.loglikelihood + _encode_pair for a causal model."""
        if context == "":
            cont = self.enc(continuation)
            return ([self.eot], cont) if cont[0] != self.eot else (cont[:1], cont[1:])
        n = len(context) - len(context.rstrip())
        if n:
            continuation, context = context[-n:] + continuation, context[:-n]
        whole, ctx = self.enc(context + continuation), self.enc(context)
        return ctx, whole[len(ctx):]

    def loglikelihood(self, pairs):
        return score_requests(self.model, [self.pair(c, x) for c, x in pairs], self.max_len, self.batch_size,
                              self.device)

    # -- tasks ---------------------------------------------------------------------------

    def lm_test(self, docs):
        flat, owner = [], []
        for i, d in enumerate(docs):
            for w in rolling_windows(self.enc(d["text"]), self.eot, self.max_len, self.rolling_context):
                flat.append(w)
                owner.append(i)
        scores = score_requests(self.model, flat, self.max_len, self.batch_size, self.device)
        ll = [0.0] * len(docs)
        for i, (s, _) in zip(owner, scores, strict=True):
            ll[i] += s
        words = [len(re.split(r"\s+", d["text"])) for d in docs]
        nbytes = [len(d["text"].encode("utf-8")) for d in docs]
        items = [{"doc_id": i, "word_perplexity": [ll[i], words[i]], "byte_perplexity": [ll[i], nbytes[i]],
                  "bits_per_byte": [ll[i], nbytes[i]]} for i in range(len(docs))]
        metrics = {"word_perplexity": math.exp(-sum(ll) / sum(words)),
                   "byte_perplexity": math.exp(-sum(ll) / sum(nbytes)),
                   "bits_per_byte": -sum(ll) / sum(nbytes) / math.log(2)}
        return metrics, items

    def multiple_choice(self, docs, context_fn, choices_fn, gold_fn):
        pairs, spans = [], []
        for d in docs:
            ch = choices_fn(d)
            spans.append((len(pairs), ch))
            pairs += [(context_fn(d), " " + c) for c in ch]
        lls = [s for s, _ in self.loglikelihood(pairs)]
        items = []
        for i, (d, (start, ch)) in enumerate(zip(docs, spans, strict=True)):
            ll = np.array(lls[start:start + len(ch)])
            norm = ll / np.array([float(len(c)) for c in ch])
            gold = gold_fn(d)
            items.append({"doc_id": i, "acc": float(np.argmax(ll) == gold), "acc_norm": float(np.argmax(norm) == gold)})
        return {"acc": float(np.mean([x["acc"] for x in items])),
                "acc_norm": float(np.mean([x["acc_norm"] for x in items]))}, items

    def cloze(self, docs):
        res = self.loglikelihood([(d["context"], " " + d["target"]) for d in docs])
        items = [{"doc_id": i, "perplexity": ll, "acc": float(g)} for i, (ll, g) in enumerate(res)]
        return {"perplexity": math.exp(-np.mean([ll for ll, _ in res])),
                "acc": float(np.mean([g for _, g in res]))}, items

    def run(self, task: str, docs):
        if task == "lm_test":
            return self.lm_test(docs)
        if task == "rhyme":
            return self.multiple_choice(docs, lambda d: f'Rhymes with "{d["word"]}":', lambda d: d["choices"],
                                        lambda d: d["label"])
        if task == "agreement":
            return self.multiple_choice(docs, lambda d: "", lambda d: [d["sentence_good"], d["sentence_bad"]],
                                        lambda d: 0)
        if task == "cloze":
            return self.cloze(docs)
        raise ValueError(f"task {task!r} has no native scorer")


def read_docs(data_dir, task):
    path = Path(data_dir) / f"{task}.jsonl"
    from resonator.inputs import read_jsonl
    return read_jsonl(path, "rebuild it: `dvc repro -f evalsets`",
                      missing_fix="build it with `python -m pipeline.evalsets` (DVC stage evalsets)")
