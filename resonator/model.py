"""Standard and Resonator GPT models, in one readable file.

Faithful to the original proof of concept (see docs/original.md): pre-LN decoder,
tied token embedding, learned absolute positions, no bias on Q/K/V/out
projections, biased GELU MLP, dropout on embeddings, attention probabilities
and MLP output (and nowhere else: no residual dropout after the attention
out-projection, because the original had none).

The Resonator adds a per-token phase vector phi (F angles) that
  1. is projected to d_model and blended into the embedding:
       x = (1 - s(b)) * sem + s(b) * W_phi phi + pos,   s = sigmoid, b per dimension
  2. biases every attention layer by lambda_h * R_ij with
       R_ij = mean_f cos(phi_if - phi_jf)     (phases of the INPUT tokens, same at every layer).

Fused attention: cos(a - b) = cos a cos b + sin a sin b, so
  lambda_h R_ij = <(lambda_h / F) [cos phi_i, sin phi_i], [cos phi_j, sin phi_j]>.
Appending those 2F features to every head's q and k (q's copy scaled by
lambda_h / (F * scale), which undoes SDPA's scale) turns the whole score
QK^T * scale + lambda_h R into ONE scaled_dot_product_attention call: no
B x S x S x F tensor, and fused kernels stay usable. v keeps d_head; SDPA accepts
a v head dim different from q/k's (the math and CUDA memory-efficient kernels do;
flash kernels need equal dims, and padding v with zeros to get them was slower
on CPU: see tools/bench.py). `attn_impl="naive"` materialises R and the
softmax as the original did, and is the reference the tests compare against.

The embedding-matched control needs no code of its own. A resonator with use_resonance=False
and random phases IS a standard model with a second, trainable per-token table E (V x F,
init N(0, sigma^2), the same draw as random phases) blended in exactly like the phase stream:
    x = (1 - s(b)) * wte[t] + s(b) * W_phi E[t] + pos
No attention layer then has a lambda or reads E, and nothing takes cos/sin of E (only the
resonance does), so E is an ordinary embedding of width F that happens to be called "phase":
its parameters are the full resonator's minus the L*H lambdas. params.yaml's
standard_embedding_matched and resonator_no_resonance are therefore one model under two
names (equal ModelConfigs, checked in tests), asked different questions.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from resonator.config import ATTN_IMPLS, KINDS, PHASE_INITS, POS_INITS, ModelConfig  # noqa: F401


def phase_features(phase: torch.Tensor) -> torch.Tensor:
    """(..., F) angles -> (..., 2F) [cos, sin]: <feat_i, feat_j> / F = mean_f cos(phi_if - phi_jf)."""
    return torch.cat([phase.cos(), phase.sin()], dim=-1)


def resonance(phase: torch.Tensor) -> torch.Tensor:
    """R_ij = mean_f cos(phi_if - phi_jf), literally, as the original computed it: (B, S, F) -> (B, S, S)."""
    return torch.cos(phase.unsqueeze(2) - phase.unsqueeze(1)).mean(-1)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads, self.d_head = cfg.n_heads, cfg.d_model // cfg.n_heads
        self.q = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.k = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.v = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.out = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.dropout = cfg.dropout  # on the attention probabilities only
        self.impl = cfg.attn_impl
        self.resonant = cfg.resonator and cfg.use_resonance
        if self.resonant:
            self.lam = nn.Parameter(torch.full((cfg.n_heads,), float(cfg.lambda_init)),
                                    requires_grad=cfg.train_lambda)

    def heads(self, t):  # (B, S, d) -> (B, H, S, d_head)
        B, S, _ = t.shape
        return t.view(B, S, self.n_heads, self.d_head).transpose(1, 2)

    def forward(self, x, phase=None):
        """x: (B, S, d). phase: (B, S, F) input-token phases (resonator), else None."""
        q, k, v = self.heads(self.q(x)), self.heads(self.k(x)), self.heads(self.v(x))
        scale = 1.0 / math.sqrt(self.d_head)
        p = self.dropout if self.training else 0.0
        if self.impl == "naive":
            y = self.naive(q, k, v, phase, scale, p)
        else:
            if self.resonant:
                q, k = self.fold_resonance(q, k, phase, scale)
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True, scale=scale)
        B, H, S, D = y.shape
        return self.out(y.transpose(1, 2).reshape(B, S, H * D))

    def fold_resonance(self, q, k, phase, scale):
        """Append [cos, sin] phase features so that (q' k'^T) * scale = (q k^T) * scale + lambda_h R."""
        # Expanding separately for q and k (not once, shared) fixes the backward's summation
        # order; the committed runs were trained with exactly this graph.
        B, H, S, _ = q.shape
        n_phases = phase.shape[-1]
        feats = phase_features(phase).unsqueeze(1).to(q.dtype)  # (B, 1, S, 2F)
        lam = (self.lam / (n_phases * scale)).to(q.dtype).view(1, H, 1, 1)
        # two expand views, not one shared: autograd then sums their gradients in the order the
        # committed runs were trained with (sharing one view changes the last bits of training)
        return (torch.cat([q, lam * feats.expand(B, H, S, -1)], dim=-1),
                torch.cat([k, feats.expand(B, H, S, -1)], dim=-1))

    def naive(self, q, k, v, phase, scale, p):
        """Reference path: explicit scores (+ lambda_h R_ij materialised as in the original),
        causal mask, softmax, dropout."""
        S = q.shape[2]
        scores = (q @ k.transpose(-2, -1)) * scale
        if self.resonant:
            scores = scores + self.lam.view(1, -1, 1, 1) * resonance(phase).unsqueeze(1)
        mask = torch.ones(S, S, dtype=torch.bool, device=q.device).tril()
        scores = scores.masked_fill(~mask, float("-inf"))
        att = F.dropout(scores.softmax(dim=-1), p=p, training=p > 0)
        return att.to(v.dtype) @ v


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, cfg.d_ff, bias=True)
        self.proj = nn.Linear(cfg.d_ff, cfg.d_model, bias=True)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x):
        return self.drop(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = Attention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)

    def forward(self, x, phase=None):
        x = x + self.attn(self.ln1(x), phase)
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """One class for both kinds; the resonator's extras exist only when cfg.kind == 'resonator'."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)     # the semantic stream
        self.wpe = nn.Embedding(cfg.max_seq_len, cfg.d_model)
        if cfg.resonator:
            # A plain Parameter (not nn.Embedding) so that requires_grad=False freezes it cleanly.
            self.phase = nn.Parameter(torch.zeros(cfg.vocab_size, cfg.n_phases), requires_grad=cfg.train_phases)
            if cfg.use_blend:
                self.phase_proj = nn.Linear(cfg.n_phases, cfg.d_model, bias=False)
                self.blend = nn.Parameter(torch.full((cfg.d_model,), float(cfg.blend_init)))
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied, as the original

    @torch.no_grad()
    def reset_parameters(self, phase_table=None, generator=None):
        """Initialise as the original did, drawing every random number from `generator`
        (in a fixed order, so one seed gives bit-identical weights)."""
        if self.config.init_pairing == "per_parameter":
            return self._reset_paired(phase_table, generator)
        cfg, g = self.config, generator
        for m in self.modules():
            # lm_head is included although its weight is wte's and is redrawn below: that keeps
            # the generator's draw order (hence every seed's weights) of the first version.
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.02, generator=g)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.wte.weight, 0.0, 0.02, generator=g)
        # The original Standard never re-initialised its position embedding, so it kept
        # nn.Embedding's default N(0, 1): fifty times the token embedding's scale.
        nn.init.normal_(self.wpe.weight, 0.0, self.pos_std, generator=g)
        self._init_phase_channel(phase_table, lambda: torch.randn(cfg.vocab_size, cfg.n_phases, generator=g))

    @property
    def pos_std(self) -> float:
        return 1.0 if self.config.pos_init == "notebook" else 0.02

    def _init_phase_channel(self, phase_table, standard_normal_table) -> None:
        """lambda and the blend at their initial constants; the phase table given, else the
        docs/original.md "random" init, N(0, 0.3^2) per angle, from `standard_normal_table()`."""
        cfg = self.config
        for block in self.blocks:
            if block.attn.resonant:
                block.attn.lam.fill_(cfg.lambda_init)
        if cfg.resonator:
            if cfg.use_blend:
                self.blend.fill_(cfg.blend_init)
            self.phase.copy_(phase_table if phase_table is not None else standard_normal_table() * 0.3)

    def _reset_paired(self, phase_table=None, generator=None):
        """The same distributions as reset_parameters, but every weight is drawn from its own
        generator seeded by (run's init seed, parameter name): two variants then start from the
        same values for every weight they share (same name and shape), whatever modules one of
        them adds, so seeds pair the variants fully (not only data order and dropout). Scaled
        standard normals: the notebook position embedding is the matched one times 50."""
        cfg = self.config
        base = generator.initial_seed() if generator is not None else torch.initial_seed()

        def z(name, shape):
            g = torch.Generator().manual_seed(param_seed(base, name))
            return torch.randn(shape, generator=g)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith(".weight") and p.dim() == 2 and name not in ("wpe.weight", "phase"):
                    p.copy_(0.02 * z(name, p.shape))
                elif name.endswith(".bias"):
                    p.zero_()
                elif p.dim() == 1 and name.endswith(".weight"):   # LayerNorm
                    p.fill_(1.0)
            self.wpe.weight.copy_(self.pos_std * z("wpe.weight", self.wpe.weight.shape))
            self._init_phase_channel(phase_table, lambda: z("phase", (cfg.vocab_size, cfg.n_phases)))

    def forward(self, idx, targets=None):
        """idx: (B, S) token ids. Returns (logits (B, S, V), mean cross-entropy over targets != -1 or None)."""
        B, S = idx.shape
        if S > self.config.max_seq_len:
            raise ValueError(f"sequence length {S} exceeds max_seq_len {self.config.max_seq_len}")
        pos = self.wpe(torch.arange(S, device=idx.device))
        x = self.wte(idx)
        phase = None
        if self.config.resonator:
            phase = self.phase[idx]                                   # (B, S, F), reused by every layer
            if self.config.use_blend:
                s = torch.sigmoid(self.blend)
                x = (1 - s) * x + s * self.phase_proj(phase)
        x = self.drop(x + pos)
        for block in self.blocks:
            x = block(x, phase)
        logits = self.lm_head(self.ln_f(x))
        loss = None
        if targets is not None:  # in fp32 even under autocast: the loss is what we compare
            loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    def num_params(self) -> int:
        """Unique parameters (the tied head counted once; frozen ones included)."""
        return sum(p.numel() for p in self.parameters())


def param_seed(base: int, name: str) -> int:
    """A parameter's own init seed: a function of the run's init seed and the parameter's name."""
    import hashlib
    return int.from_bytes(hashlib.sha256(f"{base}/{name}".encode()).digest()[:8], "little") & (2 ** 63 - 1)


def build_model(config: ModelConfig, phase_table: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> GPT:
    """A freshly initialised model on the CPU. The same generator seed gives bit-identical
    weights. `phase_table` (vocab_size, n_phases) sets the resonator's phases; the standard
    kind ignores it."""
    if not isinstance(config, ModelConfig):
        raise TypeError(f"build_model needs a ModelConfig, got {type(config).__name__}")
    if phase_table is not None and config.resonator:
        want = (config.vocab_size, config.n_phases)
        if tuple(phase_table.shape) != want:
            raise ValueError(f"phase table has shape {tuple(phase_table.shape)}, expected {want} "
                             f"(vocab_size, n_phases)")
    model = GPT(config)
    model.reset_parameters(phase_table, generator)
    return model
