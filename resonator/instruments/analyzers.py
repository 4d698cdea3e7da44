"""Frequency, complexity and resonance instruments, and the numerical cores they use."""
from __future__ import annotations

import math
import zlib

import numpy as np
import torch
from torch.func import functional_call

from resonator.instruments.base import Instrument

# ---------------------------------------------------------------------------
# Numerical cores (pure functions, tested against known answers)
# ---------------------------------------------------------------------------


def power_spectrum(x: torch.Tensor) -> torch.Tensor:
    """x: (B, S, C) activations. Power at each frequency along the sequence, averaged over
    batch and channels, after removing each channel's mean (so DC reflects nothing)."""
    x = x.float() - x.float().mean(dim=1, keepdim=True)
    return (torch.fft.rfft(x, dim=1).abs() ** 2).mean(dim=(0, 2))


def spectral_entropy(power: torch.Tensor) -> float:
    """Shannon entropy of the power distribution over non-DC frequencies, divided by its
    maximum (log of the number of frequencies): 0 = one frequency, 1 = white."""
    p = power[1:].double()
    if p.sum() <= 0 or len(p) < 2:
        return 0.0
    p = p / p.sum()
    h = -(p[p > 0] * p[p > 0].log()).sum().item()
    return h / math.log(len(p))


def band_shares(power: torch.Tensor) -> dict:
    p = power[1:].double()
    thirds = np.array_split(np.arange(len(p)), 3)
    total = p.sum().item() or 1.0
    return {name: p[idx].sum().item() / total for name, idx in zip(("low", "mid", "high"), thirds, strict=True)}


def effective_rank(h: torch.Tensor) -> float:
    """Roy & Vetterli (2007): exp of the entropy of the normalised singular values of h (N, d)."""
    s = torch.linalg.svdvals(h.double() - h.double().mean(0))
    p = s / s.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def participation_ratio(h: torch.Tensor) -> float:
    """(sum lambda)^2 / sum lambda^2 over the covariance eigenvalues of h (N, d)."""
    lam = torch.linalg.svdvals(h.double() - h.double().mean(0)) ** 2
    return float(lam.sum() ** 2 / (lam ** 2).sum())


def attention_entropy(probs: torch.Tensor) -> torch.Tensor:
    """probs: (B, H, S, S) causal attention. Mean entropy (nats) of each query's distribution, per head."""
    ent = -(probs * probs.clamp_min(1e-30).log()).sum(-1)
    return ent.mean(dim=(0, 2))


def compression_ratio(x: torch.Tensor) -> float:
    """zlib-compressed size / raw size of the activations quantised to 8 bits (per-tensor
    min-max scaling): lower = more regular, more compressible activations."""
    x = x.float().flatten()
    lo, hi = x.min(), x.max()
    q = ((x - lo) / (hi - lo + 1e-12) * 255).round().to(torch.uint8).numpy().tobytes()
    return len(zlib.compress(q, 9)) / len(q)


def attention_parts(attn, x: torch.Tensor, phase: torch.Tensor | None):
    """Recompute one attention module's scores from its input: (QK^T/sqrt(d), lambda*R or None, probs).
    The fused path never materialises probabilities, so instruments recompute them."""
    q, k = attn.heads(attn.q(x)), attn.heads(attn.k(x))
    S = q.shape[2]
    qk = (q @ k.transpose(-2, -1)) / math.sqrt(attn.d_head)
    lr = None
    scores = qk
    if getattr(attn, "resonant", False) and phase is not None:
        R = torch.cos(phase.unsqueeze(2) - phase.unsqueeze(1)).mean(-1)
        lr = attn.lam.view(1, -1, 1, 1) * R.unsqueeze(1)
        scores = qk + lr
    mask = torch.ones(S, S, dtype=torch.bool, device=x.device).tril()
    probs = scores.masked_fill(~mask, float("-inf")).softmax(-1)
    return qk, lr, probs, mask


class _AttentionInputs(Instrument):
    """Captures every attention module's input (x, phase) for later recomputation."""

    def attach(self, model):
        super().attach(model)
        self.inputs = [None] * len(model.blocks)
        for i, blk in enumerate(model.blocks):
            self.hook(blk.attn, lambda m, args, i=i: self._store(i, args), pre=True)

    def _store(self, i, args):
        x, phase = args[0], args[1] if len(args) > 1 else None
        self.inputs[i] = (x.detach(), None if phase is None else phase.detach())

    def reset(self):
        if self.model is not None:
            self.inputs = [None] * len(self.model.blocks)


# ---------------------------------------------------------------------------
# Instruments
# ---------------------------------------------------------------------------


class FrequencyAnalyzer(Instrument):
    """Spectra of the residual stream along the sequence after every block."""

    name = "frequency"

    def __init__(self, top_k: int = 3):
        super().__init__()
        self.top_k, self.states = top_k, {}

    def attach(self, model):
        super().attach(model)
        for i, blk in enumerate(model.blocks):
            self.hook(blk, lambda m, a, out, i=i: self.states.__setitem__(i, out.detach()))

    def reset(self):
        self.states = {}

    def summarise(self, idx, targets):
        out = {"layers": []}
        for i in sorted(self.states):
            p = power_spectrum(self.states[i])
            top = torch.topk(p[1:], min(self.top_k, len(p) - 1)).indices + 1
            out["layers"].append({"layer": i, "power": p.tolist(), "spectral_entropy": spectral_entropy(p),
                                  "dominant_frequencies": top.tolist(), "bands": band_shares(p)})
        return out



class ComplexityAnalyzer(_AttentionInputs):
    """Effective rank and participation ratio of hidden states, attention entropy per head,
    and compressibility of activations, per layer."""

    name = "complexity"

    def attach(self, model):
        super().attach(model)
        self.states = {}
        for i, blk in enumerate(model.blocks):
            self.hook(blk, lambda m, a, out, i=i: self.states.__setitem__(i, out.detach()))

    def reset(self):
        super().reset()
        self.states = {}

    def summarise(self, idx, targets):
        rows = []
        for i in sorted(self.states):
            h = self.states[i].reshape(-1, self.states[i].shape[-1])
            x, phase = self.inputs[i]
            _, _, probs, _ = attention_parts(self.model.blocks[i].attn, x, phase)
            rows.append({"layer": i, "effective_rank": effective_rank(h), "participation_ratio": participation_ratio(h),
                         "attention_entropy": attention_entropy(probs).tolist(),
                         "compression_ratio": compression_ratio(h)})
        return {"layers": rows, "max_entropy": math.log(idx.shape[1])}



class ResonanceAnalyzer(_AttentionInputs):
    """How much the phase channel is used: blend, lambda, the lambda*R share of attention
    logits, attention to rhyming pairs, and the loss change under three ablations computed
    with torch.func.functional_call on substituted parameters (the model is never edited)."""

    name = "resonance"

    def __init__(self, classes: np.ndarray | None = None, shuffle_seed: int = 0):
        super().__init__()
        self.classes = None if classes is None else torch.as_tensor(np.asarray(classes), dtype=torch.long)
        self.shuffle_seed = shuffle_seed
        self.last = {}

    def summarise(self, idx, targets):
        m = self.model
        if m.config.kind != "resonator":
            self.last = {"applicable": False}
            return self.last
        out = {"applicable": True}
        if m.config.use_blend:
            s = torch.sigmoid(m.blend)
            out["blend"] = {"mean": s.mean().item(), "sd": s.std().item(), "values": s.tolist()}
        lam = [blk.attn.lam.tolist() if blk.attn.resonant else None for blk in m.blocks]
        out["lambda"] = lam
        shares, rhyme, other = [], [], []
        for i, blk in enumerate(m.blocks):
            x, phase = self.inputs[i]
            qk, lr, probs, mask = attention_parts(blk.attn, x, phase)
            if lr is not None:
                causal = mask.expand_as(qk)
                a, b = qk.abs()[causal].mean().item(), lr.abs().expand_as(qk)[causal].mean().item()
                shares.append(b / (a + b) if a + b > 0 else 0.0)
            if self.classes is not None:
                c = self.classes[idx]                                       # (B, S)
                same = (c.unsqueeze(2) == c.unsqueeze(1)) & (c.unsqueeze(2) >= 0)
                strict = torch.ones_like(mask).tril(-1)                     # j < i
                pm = probs.mean(1)                                          # mean over heads
                rhyme.append(pm[same & strict].mean().item() if (same & strict).any() else float("nan"))
                other.append(pm[~same & strict].mean().item())
        out["lambda_r_share"] = shares
        if self.classes is not None:
            out["attention_rhyme_pairs"], out["attention_other_pairs"] = rhyme, other
        if targets is None:
            inp, tgt = idx[:, :-1], idx[:, 1:]
        else:
            inp, tgt = idx, targets
        out["delta_loss"] = self.ablations(inp, tgt)
        self.last = out
        return out

    def ablations(self, idx, targets) -> dict:
        m = self.model
        params = dict(m.named_parameters())
        base = functional_call(m, params, (idx, targets))[1].item()
        res = {"base_loss": base}
        lam = {k: torch.zeros_like(v) for k, v in params.items() if k.endswith("attn.lam")}
        if lam:
            res["lambda_zero"] = functional_call(m, {**params, **lam}, (idx, targets))[1].item() - base
        if "blend" in params:  # sigma(-1e4) = 0: the embedding is the semantic stream alone
            res["blend_zero"] = functional_call(m, {**params, "blend": torch.full_like(params["blend"], -1e4)},
                                                (idx, targets))[1].item() - base
        g = torch.Generator().manual_seed(self.shuffle_seed)
        perm = torch.randperm(params["phase"].shape[0], generator=g)
        res["phases_shuffled"] = functional_call(m, {**params, "phase": params["phase"][perm]},
                                                 (idx, targets))[1].item() - base
        return res



def resonance_spread(phase: torch.Tensor, idx: torch.Tensor) -> dict:
    """How much the resonance R_ij = mean_f cos(phi_if - phi_jf) varies across the keys a query
    sees: a term that is nearly constant across keys only shifts every attention logit of a query
    by the same amount, which softmax ignores. phase: (V, F) phase rows (an initial table or a
    trained model's `phase`); idx: (B, S) probe tokens. For each query i, the sd of R_ij over its
    causal keys j <= i (queries with at least two keys); returned as the mean over queries, with
    the mean of R itself over the same (query, key) pairs."""
    from resonator.model import resonance
    r = resonance(phase.detach().float()[idx])                         # (B, S, S)
    s = r.shape[-1]
    causal = torch.ones(s, s, dtype=torch.bool).tril()
    counts = causal.sum(-1)                                            # keys per query
    mean_q = (r * causal).sum(-1) / counts
    var_q = (((r - mean_q.unsqueeze(-1)) ** 2) * causal).sum(-1) / (counts - 1).clamp(min=1)
    rows = counts >= 2
    return {"r_mean": float(((r * causal).sum() / (causal.sum() * r.shape[0])).item()),
            "r_sd_keys": float(var_q[:, rows].sqrt().mean().item())}
