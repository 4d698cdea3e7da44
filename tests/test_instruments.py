"""Instruments: known answers, identical outputs, hooks removed, ablations that never edit the model."""
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from resonator import ModelConfig, build_model
from resonator.instruments import (
    ComplexityAnalyzer,
    FrequencyAnalyzer,
    InstrumentedTransformer,
    ResonanceAnalyzer,
    attention_entropy,
    effective_rank,
    participation_ratio,
    power_spectrum,
    spectral_entropy,
)


def tiny(kind="resonator", **kw):
    cfg = ModelConfig(kind=kind, vocab_size=64, max_seq_len=32, d_model=32, n_layers=2, n_heads=2, d_ff=64,
                      n_phases=8, dropout=0.0, **kw)
    return build_model(cfg, generator=torch.Generator().manual_seed(0)).eval()


X = torch.randint(0, 64, (3, 32), generator=torch.Generator().manual_seed(1))


def test_fft_finds_a_pure_sine():
    S, f = 64, 5
    t = torch.arange(S, dtype=torch.float32)
    x = torch.sin(2 * math.pi * f * t / S).view(1, S, 1).repeat(2, 1, 3)
    p = power_spectrum(x)
    assert int(p[1:].argmax()) + 1 == f
    assert spectral_entropy(p) < 0.01


def test_effective_rank_and_participation_of_rank_k():
    rng = np.random.default_rng(0)
    k = 4
    u, _ = np.linalg.qr(rng.normal(size=(200, k)))
    v, _ = np.linalg.qr(rng.normal(size=(16, k)))
    h = torch.tensor(u @ v.T)
    h = h - h.mean(0)                              # centred, so the instruments' own centring changes nothing
    u, s, vt = torch.linalg.svd(h, full_matrices=False)
    h = u[:, :k] @ vt[:k]                          # rank k with k equal singular values (still centred)
    assert effective_rank(h) == pytest.approx(k, rel=1e-6)
    assert participation_ratio(h) == pytest.approx(k, rel=1e-6)


def test_uniform_attention_has_entropy_log_n():
    n = 10
    probs = torch.full((1, 2, 1, n), 1.0 / n)
    assert attention_entropy(probs).tolist() == pytest.approx([math.log(n)] * 2)


@pytest.mark.parametrize("kind", ["standard", "resonator"])
def test_outputs_identical_and_hooks_removed(kind):
    base = tiny(kind)
    plain = base(X, X)
    wrapped = InstrumentedTransformer(base)
    out, analysis = wrapped(X, X)
    assert analysis == {} and torch.equal(out[0], plain[0])            # no instrument: a plain call
    for inst in (FrequencyAnalyzer(), ComplexityAnalyzer(), ResonanceAnalyzer(np.arange(64) % 5)):
        wrapped.register_instrument(inst)
    out, analysis = wrapped(X, X)
    assert torch.equal(out[0], plain[0]) and torch.equal(out[1], plain[1])
    assert set(analysis) == {"frequency", "complexity", "resonance"}
    assert len(analysis["frequency"]["layers"]) == 2
    assert all(0 < h <= math.log(32) + 1e-6 for r in analysis["complexity"]["layers"] for h in r["attention_entropy"])
    wrapped.detach_all()
    for m in base.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks


def test_resonance_ablations_leave_the_model_unchanged():
    base = tiny()
    before = {k: v.clone() for k, v in base.state_dict().items()}
    wrapped = InstrumentedTransformer(base)
    wrapped.register_instrument(ResonanceAnalyzer(np.arange(64) % 7))
    _, a = wrapped(X)
    r = a["resonance"]
    assert r["applicable"] and set(r["delta_loss"]) == {"base_loss", "lambda_zero", "blend_zero", "phases_shuffled"}
    assert 0 < r["lambda_r_share"][0] < 1
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())
    # a model whose lambda is already zero loses nothing when lambda is zeroed
    z = tiny(lambda_init=0.0)
    w2 = InstrumentedTransformer(z)
    w2.register_instrument(ResonanceAnalyzer())
    assert w2(X)[1]["resonance"]["delta_loss"]["lambda_zero"] == pytest.approx(0.0, abs=1e-6)


def test_resonance_not_applicable_to_standard():
    w = InstrumentedTransformer(tiny("standard"))
    w.register_instrument(ResonanceAnalyzer())
    assert w(X)[1]["resonance"] == {"applicable": False}


def test_example_script_runs(tmp_path, repo_root):
    r = subprocess.run([sys.executable, "examples/basic_analysis.py", "--out", str(tmp_path)], cwd=repo_root,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(list(tmp_path.glob("*.png"))) >= 4


def test_resonance_spread_known_tables():
    """Equal phases give R = 1 with no spread; phases at sigma 0.3 give R near 0.92 nearly constant
    across keys (the design-v2 finding: lambda R barely changes a query's attention); phases
    uniform on the circle give R near 0 with a spread about ten times larger."""
    from resonator.instruments import resonance_spread
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(0, 200, (4, 48), generator=g)
    flat = resonance_spread(torch.full((200, 32), 0.7), idx)
    assert flat["r_mean"] == pytest.approx(1.0) and flat["r_sd_keys"] == pytest.approx(0.0, abs=1e-6)
    narrow = resonance_spread(torch.randn(200, 32, generator=g) * 0.3, idx)
    wide = resonance_spread((torch.rand(200, 32, generator=g) * 2 - 1) * math.pi, idx)
    assert 0.88 < narrow["r_mean"] < 0.95 and narrow["r_sd_keys"] < 0.04
    assert abs(wide["r_mean"]) < 0.1 and wide["r_sd_keys"] > 5 * narrow["r_sd_keys"]
    # by hand for one query: the sd over its keys of mean_f cos(phi_i - phi_j)
    ph = torch.randn(200, 32, generator=g)
    one = idx[:1, :3]
    r = torch.cos(ph[one[0]].unsqueeze(1) - ph[one[0]].unsqueeze(0)).mean(-1)   # (3, 3)
    sds = [float(r[i, :i + 1].std()) for i in (1, 2)]
    assert resonance_spread(ph, one)["r_sd_keys"] == pytest.approx(sum(sds) / 2, rel=1e-5)


def test_figures_of_one_pass_are_drawn_in_the_reporting_package():
    """The library computes numbers only; reporting.instrument_figures draws them."""
    import matplotlib
    matplotlib.use("Agg")
    import numpy as np
    import torch

    from reporting.instrument_figures import figures
    from resonator import ModelConfig, build_model
    from resonator.instruments import ComplexityAnalyzer, FrequencyAnalyzer, InstrumentedTransformer, ResonanceAnalyzer
    cfg = ModelConfig(kind="resonator", vocab_size=64, max_seq_len=16, d_model=16, n_layers=2, n_heads=2,
                      d_ff=32, n_phases=4, dropout=0.0)
    model = InstrumentedTransformer(build_model(cfg, generator=torch.Generator().manual_seed(0)).eval())
    for inst in (FrequencyAnalyzer(), ComplexityAnalyzer(),
                 ResonanceAnalyzer(np.random.default_rng(0).integers(-1, 5, cfg.vocab_size))):
        model.register_instrument(inst)
    _, analysis = model(torch.randint(0, cfg.vocab_size, (2, 16), generator=torch.Generator().manual_seed(1)))
    figs = figures(analysis)
    assert set(figs) == {"frequency/spectra", "complexity/rank", "resonance/lambda", "resonance/blend"}
    assert all(hasattr(f, "savefig") for f in figs.values())
    assert not any(hasattr(i, "visualise") for i in model.instruments.values())
