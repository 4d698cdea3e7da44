"""lm-evaluation-harness adapter: any checkpoint of ours as an lm-eval model named `resonator`.

    lm_eval.simple_evaluate(model="resonator",
                            model_args="checkpoint=runs/small/standard/s0/ckpt/final.pt,"
                                       "tokenizer=data/small/tokenizer/tokenizer.json", ...)
"""
from __future__ import annotations

import functools

import lm_eval.utils
import torch
from lm_eval.api.model import TemplateLM
from lm_eval.api.registry import register_model

from evals.run import check_batch_size
from evals.scoring import greedy_generate, rolling_windows, score_requests
from resonator.allocator import keep_freed_memory
from resonator.checkpoint import load_model
from resonator.tokenizer import TokenizerError, eot_id, load_tokenizer


def _compile_templates_once() -> None:
    """lm-eval compiles a task's Jinja template anew for every document (3,500 compilations,
    a quarter of an evaluation's time here); compiling each distinct template once renders
    exactly the same text."""
    utils = lm_eval.utils
    if getattr(utils.apply_template, "_compiled_once", False):
        return
    compiled = functools.lru_cache(maxsize=256)(utils.env.from_string)

    def apply_template(template: str, doc: dict) -> str:
        return compiled(template).render(**doc)
    apply_template._compiled_once = True
    utils.apply_template = apply_template


_compile_templates_once()


@register_model("resonator")
class ResonatorLM(TemplateLM):
    def __init__(self, checkpoint: str, tokenizer: str, batch_size: int | str = 16, device: str = "cpu",
                 max_length: int | None = None, rolling_context: int | None = None, **kwargs):
        super().__init__()
        keep_freed_memory()
        self.batch_size = check_batch_size(batch_size, "batch_size",
                                           "pass a positive integer batch size to the resonator model, e.g. 16")
        self.model = load_model(checkpoint, map_location=device)
        self.tok = load_tokenizer(tokenizer)
        if self.tok.get_vocab_size() != self.model.config.vocab_size:
            raise TokenizerError(tokenizer, f"has {self.tok.get_vocab_size()} tokens but checkpoint {checkpoint} "
                                            f"was trained with {self.model.config.vocab_size}",
                                 "pass the tokenizer the checkpoint was trained with")
        self._device = torch.device(device)
        self.max_length = int(max_length or self.model.config.max_seq_len)
        # Rolling log-likelihood: each window after the first keeps half a context of
        # history, so every token is scored once with at least max_length/2 tokens of context.
        self.rolling_context = int(rolling_context or self.max_length // 2)
        self._eot = eot_id(self.tok)

    @property
    def eot_token_id(self) -> int:
        return self._eot

    @property
    def device(self):
        return self._device

    def tok_encode(self, string: str, add_special_tokens=None, **kwargs) -> list[int]:
        return self.tok.encode(string, add_special_tokens=False).ids

    def tok_decode(self, ids) -> str:
        return self.tok.decode(list(ids))

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, **kwargs):
        return score_requests(self.model, [(ctx, cont) for _, ctx, cont in requests], self.max_length,
                              self.batch_size, self._device)

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        flat, owner = [], []
        for i, req in enumerate(requests):
            (text,) = req.args
            for window in rolling_windows(self.tok_encode(text), self._eot, self.max_length, self.rolling_context):
                flat.append(window)
                owner.append(i)
        scores = score_requests(self.model, flat, self.max_length, self.batch_size, self._device)
        totals = [0.0] * len(requests)
        for i, (lp, _) in zip(owner, scores, strict=True):
            totals[i] += lp
        return totals

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        out = []
        for req in requests:
            context, gen_kwargs = req.args
            until = gen_kwargs.get("until", []) or []
            if isinstance(until, str):
                until = [until]
            max_new = int(gen_kwargs.get("max_gen_toks", 32))

            def stop(ids, until=until):
                text = self.tok_decode(ids)
                return any(u in text for u in until)
            ids = greedy_generate(self.model, self.tok_encode(context) or [self._eot], self.max_length, max_new,
                                  stop, self._device)
            text = self.tok_decode(ids)
            for u in until:
                text = text.split(u)[0]
            out.append(text)
        return out
