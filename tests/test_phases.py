"""Rhyme classes and phase tables."""
import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models

from resonator.phases import class_stats, phase_table, rhyme_classes, shuffle_classes

WORDS = ["<|endoftext|>", "cat", "hat", "dog", " bat", "the", "a", "7", "Log", "fog"]


@pytest.fixture(scope="module")
def tok():
    t = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="a"))
    return t


def test_known_rhyme_classes(tok):
    classes, names = rhyme_classes(tok)
    c = dict(zip(WORDS, classes, strict=True))
    assert c["cat"] == c["hat"] == c[" bat"] >= 0
    assert c["cat"] != c["dog"] and c["Log"] >= 0    # case is folded before the lookup
    assert c["a"] == -1 and c["7"] == -1 and c["<|endoftext|>"] == -1     # too short / no letters / special
    assert names[c["cat"]] == "AE1 T"


def big_classes(n_tokens=20000, n_classes=500, seed=0):
    rng = np.random.default_rng(seed)
    cls = rng.integers(0, n_classes, n_tokens).astype(np.int32)
    cls[rng.random(n_tokens) < 0.3] = -1
    return cls


def test_random_table_spread():
    t = phase_table(big_classes(), "random", 32, seed=1)
    assert t.shape == (20000, 32)
    assert abs(t.std().item() - 0.3) < 0.005          # 640k draws: sd of the sd estimate ~ 0.0003


def test_phonetic_table_spread():
    cls = big_classes()
    t = phase_table(cls, "phonetic", 32, seed=1)
    members = torch.from_numpy(cls == 7)
    within = t[members].std(0).mean().item()
    assert abs(within - 0.03) < 0.005                   # members differ by the jitter only
    centres = torch.stack([t[torch.from_numpy(cls == c)].mean(0) for c in range(50)])
    assert abs(centres.std().item() - 0.3) < 0.02       # class bases spread like random phases
    assert abs(t[torch.from_numpy(cls < 0)].std().item() - 0.3) < 0.01


def test_shuffled_keeps_class_sizes_and_classed_tokens():
    cls = big_classes()
    sh = shuffle_classes(cls, seed=3)
    assert np.array_equal(np.sort(sh), np.sort(cls))
    assert np.array_equal(sh >= 0, cls >= 0)
    assert (sh != cls).mean() > 0.5
    t = phase_table(cls, "shuffled", 8, seed=3)
    assert t.shape == (len(cls), 8)


def test_tables_deterministic_per_seed():
    cls = big_classes(2000, 50)
    for kind in ("random", "phonetic", "shuffled", "uniform"):
        assert torch.equal(phase_table(cls, kind, 8, seed=5), phase_table(cls, kind, 8, seed=5))
        assert not torch.equal(phase_table(cls, kind, 8, seed=5), phase_table(cls, kind, 8, seed=6))


def pair_resonance(t, n=4000, seed=0):
    """R_ij = mean_f cos(phi_if - phi_jf) over n random token pairs i != j."""
    g = torch.Generator().manual_seed(seed)
    i, j = torch.randint(0, len(t), (2, n), generator=g)
    keep = i != j
    return torch.cos(t[i[keep]] - t[j[keep]]).mean(-1)


def test_uniform_table_spreads_resonance():
    cls = big_classes(4000, 50)
    u = phase_table(cls, "uniform", 32, seed=2)
    assert u.min() >= -np.pi and u.max() <= np.pi and abs(u.std().item() - np.pi / 3 ** 0.5) < 0.02
    r_uni, r_rand = pair_resonance(u), pair_resonance(phase_table(cls, "random", 32, seed=2))
    assert abs(r_rand.mean().item() - 0.915) < 0.01 and r_rand.std().item() < 0.03   # nearly constant
    assert abs(r_uni.mean().item()) < 0.02 and abs(r_uni.std().item() - (1 / 64) ** 0.5) < 0.01
    assert r_uni.std() > 4 * r_rand.std()


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown phase init 'rhymes'"):
        phase_table(big_classes(10, 2), "rhymes")


def test_class_stats():
    s = class_stats(np.array([0, 0, 1, -1, 2, 2, 2], dtype=np.int32))
    assert s["tokens_with_class"] == 6 and s["classes"] == 3
    assert s["class_size_histogram"]["1-1"] == 1 and s["class_size_histogram"]["2-2"] == 1


def test_run_phase_table_is_the_training_stage_table():
    """resonator.phases.run_phase_table: what pipeline.train, the ladder, analyze and the tools
    build for a run: None for a standard model, else phase_table at the run's phase seed."""
    import dataclasses

    import numpy as np
    import torch

    from resonator.config import ModelConfig
    from resonator.phases import phase_seed, phase_table, run_phase_table
    classes = np.array([0, 1, -1, 0, 2, -1], dtype=np.int32)
    ph = {"sigma": 0.3, "jitter": 0.03}
    res = ModelConfig(kind="resonator", vocab_size=6, n_phases=4, phase_init="phonetic")
    assert run_phase_table(dataclasses.replace(res, kind="standard"), classes, 3, ph) is None
    want = phase_table(classes, "phonetic", n_phases=4, seed=phase_seed(3), sigma=0.3, jitter=0.03)
    assert torch.equal(run_phase_table(res, classes, 3, ph), want)
    assert not torch.equal(run_phase_table(res, classes, 4, ph), want)
