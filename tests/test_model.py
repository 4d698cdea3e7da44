"""Models: faithfulness to docs/original.md, fused == naive attention, determinism, checkpoints."""
import dataclasses
import math

import pytest
import torch

from resonator import ModelConfig, build_model, count_params
from resonator.checkpoint import CheckpointError, load_config, load_model, save_model
from resonator.model import resonance
from resonator.sizes import flops_per_token


def cfg(kind="resonator", **kw):
    base = dict(kind=kind, vocab_size=64, max_seq_len=16, d_model=32, n_layers=2, n_heads=2, d_ff=64,
                n_phases=8, dropout=0.0)
    return ModelConfig(**{**base, **kw})


def model(c, seed=0, table=None):
    return build_model(c, table, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", ["standard", "resonator"])
def test_causal(kind):
    m = model(cfg(kind)).eval()
    x = torch.randint(0, 64, (2, 16), generator=torch.Generator().manual_seed(1))
    y = x.clone()
    y[:, 9:] = (y[:, 9:] + 7) % 64
    with torch.no_grad():
        a, _ = m(x)
        b, _ = m(y)
    assert torch.equal(a[:, :9], b[:, :9])
    assert not torch.allclose(a[:, 9:], b[:, 9:])


@pytest.mark.parametrize("kw", [
    dict(kind="standard"), dict(kind="resonator"), dict(kind="resonator", use_blend=False),
    dict(kind="resonator", use_resonance=False), dict(kind="resonator", use_blend=False, use_resonance=False),
    dict(kind="standard", d_ff=100, n_heads=4), dict(kind="resonator", n_phases=3, n_layers=3),
])
def test_param_count_formula(kw):
    c = cfg(**kw)
    assert count_params(c) == model(c).num_params()


def test_original_parameter_counts():
    # docs/original.md: 123.81M (Standard), 125.45M (A/B), 52.69M (C) with GPT-2's vocabulary.
    std = ModelConfig(kind="standard")
    res = ModelConfig(kind="resonator")
    small = ModelConfig(kind="resonator", d_model=512, n_layers=8, n_heads=8, d_ff=2048)
    assert round(count_params(std) / 1e6, 2) == 123.81
    assert round(count_params(res) / 1e6, 2) == 125.45
    assert round(count_params(small) / 1e6, 2) == 52.69
    assert (count_params(std), count_params(res)) == (123_813_120, 125_446_832)
    assert model(small).num_params() == count_params(small)


@pytest.mark.parametrize("kw", [dict(), dict(use_blend=False), dict(n_phases=3, n_heads=4)])
def test_fused_equals_naive_outputs_and_gradients(kw):
    fused = model(cfg(attn_impl="fused", **kw))
    naive = model(cfg(attn_impl="naive", **kw))
    with torch.no_grad():  # non-trivial lambda so the resonance term matters
        for blk in fused.blocks:
            blk.attn.lam.copy_(torch.linspace(1.5, -0.7, blk.attn.n_heads))
    naive.load_state_dict(fused.state_dict())
    x = torch.randint(0, 64, (3, 16), generator=torch.Generator().manual_seed(2))
    t = torch.randint(0, 64, (3, 16), generator=torch.Generator().manual_seed(3))
    lf, Lf = fused(x, t)
    ln, Ln = naive(x, t)
    assert (lf - ln).abs().max() < 1e-5
    Lf.backward()
    Ln.backward()
    for (name, pf), (_, pn) in zip(fused.named_parameters(), naive.named_parameters(), strict=True):
        assert pf.grad is not None, name
        assert torch.allclose(pf.grad, pn.grad, atol=1e-6, rtol=1e-4), name
    assert fused.blocks[0].attn.lam.grad.abs().sum() > 0 and fused.phase.grad.abs().sum() > 0


def test_fused_equals_naive_in_eval_mode_with_dropout():
    # dropout > 0 in the config but eval mode: both paths are deterministic and must agree
    fused = model(cfg(attn_impl="fused", dropout=0.1)).eval()
    naive = model(cfg(attn_impl="naive", dropout=0.1)).eval()
    x = torch.randint(0, 64, (2, 16), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert (fused(x)[0] - naive(x)[0]).abs().max() < 1e-5


def test_resonance_term_matches_definition():
    # The folded q'k'^T equals qk^T*scale + lambda_h * mean_f cos(phi_i - phi_j), and R is that mean.
    m = model(cfg())
    attn = m.blocks[0].attn
    g = torch.Generator().manual_seed(4)
    q, k = torch.randn(2, 2, 5, 16, generator=g), torch.randn(2, 2, 5, 16, generator=g)
    phase = torch.randn(2, 5, 8, generator=g)
    scale = 0.25
    q2, k2 = attn.fold_resonance(q, k, phase, scale)
    R = torch.tensor([[[sum(math.cos(phase[b, i, f] - phase[b, j, f]) for f in range(8)) / 8
                        for j in range(5)] for i in range(5)] for b in range(2)])
    assert torch.allclose(resonance(phase), R, atol=1e-6)
    want = q @ k.transpose(-2, -1) * scale + attn.lam.view(1, 2, 1, 1) * R.unsqueeze(1)
    assert torch.allclose(q2 @ k2.transpose(-2, -1) * scale, want, atol=1e-5)


def test_naive_standard_equals_fused_standard():
    a, b = model(cfg("standard")), model(cfg("standard", attn_impl="naive"))
    x = torch.randint(0, 64, (2, 16))
    assert (a(x)[0] - b(x)[0]).abs().max() < 1e-5


def test_loss_ignores_minus_one_targets():
    m = model(cfg()).eval()
    x = torch.randint(0, 64, (2, 16), generator=torch.Generator().manual_seed(5))
    t = x.roll(-1, 1)
    t[:, -1] = -1
    logits, loss = m(x, t)
    want = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 64), t[:, :-1].reshape(-1))
    assert torch.allclose(loss, want)


def test_same_seed_same_init():
    a, b, c = model(cfg(), 5), model(cfg(), 5), model(cfg(), 6)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert not torch.equal(a.wte.weight, c.wte.weight)


@pytest.mark.parametrize("kind", ["standard", "resonator"])
def test_initial_loss_is_log_vocab(kind):
    c = cfg(kind, vocab_size=512, d_model=64, n_heads=4)
    x = torch.randint(0, 512, (4, 16), generator=torch.Generator().manual_seed(0))
    t = torch.randint(0, 512, (4, 16), generator=torch.Generator().manual_seed(1))
    _, loss = model(c).eval()(x, t)  # not x itself: the tied head favours the input token
    assert abs(loss.item() - math.log(512)) < 0.1


def test_tied_embedding_and_init_scales():
    m = model(cfg("standard", pos_init="notebook", max_seq_len=256, d_model=64))
    assert m.lm_head.weight is m.wte.weight
    assert abs(m.wpe.weight.std().item() - 1.0) < 0.05          # PyTorch's default, as the original
    assert abs(m.wte.weight.std().item() - 0.02) < 0.002
    matched = model(cfg("standard", max_seq_len=256, d_model=64))
    assert abs(matched.wpe.weight.std().item() - 0.02) < 0.002


def test_bias_layout():
    m = model(cfg())
    a = m.blocks[0].attn
    assert all(lin.bias is None for lin in (a.q, a.k, a.v, a.out))
    assert m.blocks[0].mlp.fc.bias is not None and m.blocks[0].mlp.proj.bias is not None
    assert torch.allclose(m.blend, torch.full((32,), 0.3)) and torch.allclose(a.lam, torch.full((2,), 0.1))


def test_no_resonance_and_frozen_switches():
    m = model(cfg(use_resonance=False, train_phases=False, train_lambda=False))
    assert not hasattr(m.blocks[0].attn, "lam")
    assert not m.phase.requires_grad
    m2 = model(cfg(train_lambda=False))
    assert not m2.blocks[0].attn.lam.requires_grad
    assert not hasattr(model(cfg(use_blend=False)), "blend")
    assert not hasattr(model(cfg(use_blend=False)), "phase_proj")


def test_use_resonance_false_is_lambda_zero():
    # Without resonance the attention is plain: same outputs as a resonant model whose lambda is 0.
    off = model(cfg(use_resonance=False))
    on = model(cfg())
    sd = on.state_dict()
    for k in [k for k in sd if k.endswith("attn.lam")]:
        sd.pop(k)
    off.load_state_dict(sd)
    with torch.no_grad():
        for blk in on.blocks:
            blk.attn.lam.zero_()
    x = torch.randint(0, 64, (2, 16))
    assert torch.allclose(off(x)[0], on(x)[0], atol=1e-6)
    with torch.no_grad():  # and lambda does matter when it is on
        for blk in on.blocks:
            blk.attn.lam.fill_(2.0)
    assert not torch.allclose(off(x)[0], on(x)[0], atol=1e-3)


def test_frozen_phases_and_lambda_get_no_gradient():
    m = model(cfg(train_phases=False, train_lambda=False))
    x = torch.randint(0, 64, (2, 16))
    m(x, x)[1].backward()
    assert m.phase.grad is None and m.blocks[0].attn.lam.grad is None
    assert m.phase_proj.weight.grad is not None and m.blend.grad is not None


def test_dropout_only_where_the_original_had_it():
    # embeddings + one per MLP; attention-probability dropout is inside the attention call.
    m = model(cfg(n_layers=3, dropout=0.1))
    assert sum(isinstance(x, torch.nn.Dropout) for x in m.modules()) == 1 + 3
    assert all(blk.attn.dropout == 0.1 for blk in m.blocks)


def test_standard_ignores_phase_settings():
    c = cfg("standard")
    m = model(c, table=torch.randn(3, 3))  # wrong shape, but unused
    assert not hasattr(m, "phase") and count_params(c) == count_params(dataclasses.replace(c, n_phases=99))


def test_phase_table_is_used_and_checked():
    table = torch.randn(64, 8)
    assert torch.equal(model(cfg(), table=table).phase.data, table)
    with pytest.raises(ValueError, match=r"shape \(64, 7\).*\(64, 8\)"):
        model(cfg(), table=torch.randn(64, 7))


@pytest.mark.parametrize("kw, field", [(dict(d_model=30, n_heads=4), "d_model"), (dict(kind="mamba"), "kind"),
                                       (dict(pos_init="xavier"), "pos_init"), (dict(n_layers=0), "n_layers"),
                                       (dict(attn_impl="flash"), "attn_impl"), (dict(phase_init="vowel"), "phase_init"),
                                       (dict(vocab_size=-5), "vocab_size"), (dict(dropout=1.0), "dropout"),
                                       (dict(use_blend="no"), "use_blend"),
                                       (dict(lambda_init=float("nan")), "lambda_init")])
def test_bad_config(kw, field):
    with pytest.raises(ValueError, match=rf"(?s)ModelConfig.*\b{field}\b"):
        cfg(**kw)


def test_checkpoint_round_trip(tmp_path):
    c = cfg()
    m = model(c).eval()
    save_model(tmp_path / "m.pt", m, c, extra={"step": 3})
    raw = torch.load(tmp_path / "m.pt", weights_only=True)
    assert raw["step"] == 3 and raw["model_config"] == dataclasses.asdict(c)
    assert raw["model"]["wte.weight"].data_ptr() == raw["model"]["lm_head.weight"].data_ptr()  # stored once
    back = load_model(tmp_path / "m.pt")
    assert not back.training and back.lm_head.weight is back.wte.weight
    assert load_config(tmp_path / "m.pt") == c
    x = torch.randint(0, 64, (2, 16))
    assert torch.equal(m(x)[0], back(x)[0])


def test_corrupt_or_foreign_checkpoint(tmp_path):
    c = cfg()
    save_model(tmp_path / "m.pt", model(c), c)
    (tmp_path / "t.pt").write_bytes((tmp_path / "m.pt").read_bytes()[:200])
    with pytest.raises(CheckpointError, match="unreadable"):
        load_model(tmp_path / "t.pt")
    torch.save({"format": "other"}, tmp_path / "o.pt")
    with pytest.raises(CheckpointError, match="format"):
        load_model(tmp_path / "o.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="unreadable"):
        load_model(tmp_path / "junk.pt")


def test_checkpoint_that_does_not_fit_its_config(tmp_path):
    c = cfg()
    save_model(tmp_path / "m.pt", model(c), dataclasses.replace(c, d_ff=48))
    with pytest.raises(CheckpointError, match="do not match"):
        load_model(tmp_path / "m.pt")
    save_model(tmp_path / "s.pt", model(c), dataclasses.replace(c, kind="standard"))
    with pytest.raises(CheckpointError, match="do not match"):
        load_model(tmp_path / "s.pt")
    torch.save({"format": "resonator-ckpt-v1", "model_config": {"kind": "mamba"}, "model": {}}, tmp_path / "b.pt")
    with pytest.raises(CheckpointError, match="model_config"):
        load_config(tmp_path / "b.pt")


def test_flops_per_token():
    std, res = ModelConfig(kind="standard"), ModelConfig(kind="resonator")
    d, L, S, V = 768, 12, 256, 50257
    n_matmul = L * (4 * d * d + 2 * d * 3072) + V * d
    assert flops_per_token(std) == 6 * n_matmul + 12 * L * d * S          # PaLM / nanoGPT estimate
    assert flops_per_token(res) == flops_per_token(std) + 6 * 32 * d + 12 * L * S * 12 * 32
    assert 1.0 < flops_per_token(res) / flops_per_token(std) < 1.05


def test_pickled_object_checkpoint_is_refused(tmp_path):
    torch.save({"format": "resonator-ckpt-v1", "cfg": ModelConfig()}, tmp_path / "p.pt")  # needs unpickling code
    with pytest.raises(CheckpointError, match="weights_only"):
        load_model(tmp_path / "p.pt")


def test_per_parameter_init_pairs_every_shared_weight(repo_root):
    """Design v2: at the same seed, two variants start from the same values for every weight
    they share (name and shape), for every pair of variants the hypotheses compare."""
    import dataclasses

    from resonator.params import load_params
    p = load_params(repo_root / "params.yaml", overrides={"profile": "small"})
    built = {}
    for v in {h["a"] for h in p.hypotheses["tests"]} | {h["b"] for h in p.hypotheses["tests"]}:
        cfg = dataclasses.replace(p.model_config(v, 512), init_pairing="per_parameter")
        built[v] = build_model(cfg, generator=torch.Generator().manual_seed(7)).state_dict()
    for h in p.hypotheses["tests"]:
        a, b = built[h["a"]], built[h["b"]]
        shared = [k for k in a if k in b and a[k].shape == b[k].shape and k != "wpe.weight"]
        if a["wte.weight"].shape == b["wte.weight"].shape:  # H4's smaller resonator shares no shape at all
            assert len(shared) >= 5, h["id"]
        unequal = [k for k in shared if not torch.equal(a[k], b[k])]
        assert unequal == [], (h["id"], unequal)
    # the notebook position embedding is the matched one, 50 times larger
    assert torch.allclose(built["standard_notebook"]["wpe.weight"], 50 * built["standard"]["wpe.weight"])
    # and the sequential (design v1) init does not pair them: this is what the audit found
    seq = {v: build_model(dataclasses.replace(p.model_config(v, 512), init_pairing="sequential"),
                          generator=torch.Generator().manual_seed(7)).state_dict()
           for v in ("standard", "resonator_phonetic")}
    assert not torch.equal(seq["standard"]["blocks.1.attn.q.weight"],
                           seq["resonator_phonetic"]["blocks.1.attn.q.weight"])


def test_per_parameter_init_draws_the_registered_distributions():
    c = cfg(init_pairing="per_parameter", d_model=64, n_heads=2, vocab_size=4096)
    sd = build_model(c, generator=torch.Generator().manual_seed(0)).state_dict()
    assert abs(float(sd["wte.weight"].std()) - 0.02) < 0.001
    assert abs(float(sd["phase"].std()) - 0.3) < 0.01
    ln = [k for k in sd if k.endswith("ln1.weight")]
    assert ln and all(torch.equal(sd[k], torch.ones_like(sd[k])) for k in ln)
    again = build_model(c, generator=torch.Generator().manual_seed(0)).state_dict()
    assert all(torch.equal(sd[k], again[k]) for k in sd)


def test_embedding_matched_control_is_standard_plus_a_table():
    """Design v2's embedding-matched standard (a resonator without resonance) is the standard
    model plus a V x F table blended in like the phase stream: nothing more, nothing periodic."""
    std_c = cfg("standard", init_pairing="per_parameter")
    emb_c = cfg(use_resonance=False, init_pairing="per_parameter")
    V, F_, d, L, H = 64, 8, 32, 2, 2
    assert count_params(emb_c) == count_params(std_c) + V * F_ + F_ * d + d == count_params(cfg()) - L * H
    std, emb = model(std_c, seed=3).eval(), model(emb_c, seed=3).eval()
    s, e = std.state_dict(), emb.state_dict()
    assert set(e) - set(s) == {"phase", "phase_proj.weight", "blend"}
    assert all(torch.equal(s[k], e[k]) for k in s)          # paired init: every shared weight equal
    x = torch.randint(0, 64, (2, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        at_init = emb(x)[0]
        assert not torch.allclose(at_init, std(x)[0], atol=1e-3)  # the table is read
        emb.phase.add_(2 * math.pi)                       # read linearly: a full turn changes the output
        assert not torch.allclose(emb(x)[0], at_init, atol=1e-3)
        emb.blend.fill_(float("-inf"))                    # blend share 0: exactly the standard model
        assert torch.equal(emb(x)[0], std(x)[0])
        attn_only = model(cfg(use_blend=False)).eval()    # contrast: the resonance reads angles mod 2 pi
        before = attn_only(x)[0]
        attn_only.phase.add_(2 * math.pi)
        assert torch.allclose(attn_only(x)[0], before, atol=1e-5)
