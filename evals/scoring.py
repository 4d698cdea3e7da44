"""Scoring of token requests with our model: the arithmetic behind the lm-eval adapter.

lm-eval builds the requests (contexts, continuations, rolling windows); this module only runs
the model over them in batches.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window


def rolling_windows(tokens: list[int], prefix: int, max_len: int, context_len: int) -> list[tuple[list, list]]:
    """lm-eval's disjoint rolling windows over `tokens` (get_rolling_token_windows +
    make_disjoint_window, as lm-eval's own models score loglikelihood_rolling): every token is
    predicted exactly once; each window after the first carries `context_len - 1` tokens of
    context (plus the token before the window)."""
    return [make_disjoint_window(w) for w in get_rolling_token_windows(tokens, prefix, max_len, context_len)]


@torch.no_grad()
def score_requests(model, requests: list[tuple[list[int], list[int]]], max_len: int, batch_size: int = 16,
                   device="cpu") -> list[tuple[float, bool]]:
    """Log-probability of each continuation given its context, and whether it is the greedy
    continuation. Requests are sorted by length for batching and returned in input order.
    Right padding: the model is causal, so padding never changes a scored position."""
    order = sorted(range(len(requests)), key=lambda i: -(len(requests[i][0]) + len(requests[i][1])))
    out: list[tuple[float, bool] | None] = [None] * len(requests)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        rows, spans = [], []
        for i in idx:
            ctx, cont = requests[i]
            if not cont:
                raise ValueError("empty continuation")
            whole = (ctx + cont)[-(max_len + 1):]
            inp = whole[:-1]
            rows.append(inp)
            spans.append((len(inp) - len(cont), len(inp), cont))
        width = max(len(r) for r in rows)
        x = torch.zeros(len(rows), width, dtype=torch.long)
        for j, r in enumerate(rows):
            x[j, : len(r)] = torch.tensor(r, dtype=torch.long)
        logits, _ = model(x.to(device))
        logp = F.log_softmax(logits.float(), dim=-1)
        for j, (a, b, cont) in enumerate(spans):
            lp = logp[j, a:b]
            target = torch.tensor(cont, device=lp.device)
            total = lp.gather(1, target[:, None]).sum().item()
            greedy = bool((lp.argmax(-1) == target).all().item())
            out[idx[j]] = (total, greedy)
    return out


@torch.no_grad()
def greedy_generate(model, context: list[int], max_len: int, max_new: int, stop=None, device="cpu") -> list[int]:
    """Greedy decoding; `stop(generated_ids) -> bool` ends early."""
    ids, new = list(context), []
    for _ in range(max_new):
        x = torch.tensor([ids[-max_len:]], dtype=torch.long, device=device)
        logits, _ = model(x)
        nxt = int(logits[0, -1].argmax())
        ids.append(nxt)
        new.append(nxt)
        if stop and stop(new):
            break
    return new
