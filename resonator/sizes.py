"""Model size by formula: parameters, training FLOPs per token, activation memory per sequence.

Plain arithmetic on a ModelConfig, without torch, so that a process that only needs the numbers
(the run launcher choosing a micro-batch, the parameter-matched controls, the reports) does not
pay torch's import; tests check each formula against the modules of resonator.model.
"""
from __future__ import annotations

from resonator.config import ModelConfig


def count_params(cfg: ModelConfig) -> int:
    """Parameter count by formula (checked against the module in tests)."""
    d, L, V = cfg.d_model, cfg.n_layers, cfg.vocab_size
    per_block = 4 * d * d + (d * cfg.d_ff + cfg.d_ff) + (cfg.d_ff * d + d) + 2 * 2 * d  # attn, mlp, 2 LN
    n = V * d + cfg.max_seq_len * d + L * per_block + 2 * d  # tied head adds nothing; final LN
    if cfg.resonator:
        n += V * cfg.n_phases
        if cfg.use_blend:
            n += cfg.n_phases * d + d  # phase_proj, blend
        if cfg.use_resonance:
            n += L * cfg.n_heads       # lambda
    return n


def flops_per_token(cfg: ModelConfig, seq_len: int | None = None) -> float:
    """Training (forward + backward) FLOPs per token, the PaLM / nanoGPT estimate
        6 * N_matmul + 12 * L * d * S
    N_matmul = weights used in matmuls (Q, K, V, out, MLP, the tied LM head, phase_proj;
    embedding lookups, biases and norms excluded); 12 L d S = QK^T and AV over all S keys,
    with no discount for the causal mask (the usual convention, so MFU is comparable).
    The fused resonance adds 2F dims to every head's QK^T: 12 * L * S * H * F more.
    The naive path does the same model arithmetic less efficiently: same count."""
    S = seq_len or cfg.max_seq_len
    d, L = cfg.d_model, cfg.n_layers
    n_matmul = L * (4 * d * d + 2 * d * cfg.d_ff) + d * cfg.vocab_size
    attn = 12 * L * d * S
    if cfg.resonator and cfg.use_blend:
        n_matmul += cfg.n_phases * d
    if cfg.resonator and cfg.use_resonance:
        attn += 12 * L * S * cfg.n_heads * cfg.n_phases
    return 6.0 * n_matmul + float(attn)


def activation_bytes_per_sequence(cfg: ModelConfig, bytes_per_value: int = 4) -> int:
    """Rough training-memory cost of one sequence (activations kept for the backward pass plus
    the logits and their gradient): the quantity the automatic micro-batch divides a memory
    budget by. Per block ~ S (20 d + 4 d_ff) values for the attention/MLP intermediates plus
    3 H S^2 for scores, probabilities and dropout masks (the math attention path); the head
    holds 3 S V (logits, log-softmax, gradient). An estimate, deliberately on the high side."""
    S, d, L, H, V = cfg.max_seq_len, cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.vocab_size
    per_block = S * (20 * d + 4 * cfg.d_ff) + 3 * H * S * S
    if cfg.resonator:
        per_block += S * H * 4 * cfg.n_phases      # q/k widened by the phase features
    return bytes_per_value * (L * per_block + 3 * S * V + 4 * S * d)
