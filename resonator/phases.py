"""Rhyme classes of tokens and the initial phase tables drawn from them.

A token's rhyme class (docs/original.md): decode it, strip, lowercase, keep letters only;
if at least `min_letters` remain and the CMU Pronouncing Dictionary knows the word,
the class is the rhyming part (last stressed vowel onward) of its first pronunciation.

Phase tables (V x F angles), drawn per run seed:
  random    every angle ~ N(0, sigma^2)
  phonetic  a base vector ~ N(0, sigma^2) per class, members = base + N(0, jitter^2);
            tokens without a class ~ N(0, sigma^2)
  shuffled  phonetic, with class membership permuted among the tokens that have a
            class: the same class sizes and the same classed tokens, but rhymes no
            longer share a class (the control for "does rhyme matter")
  uniform   every angle ~ U[-pi, pi] (sigma and jitter unused): with N(0, 0.3^2) angles
            R_ij = mean_f cos(phi_if - phi_jf) is 0.915 +- 0.02 for every pair, so the
            resonance term is nearly a constant per head; uniform angles spread R over
            pairs (mean 0, sd sqrt(1 / 2F)), the ablation asking whether R can do anything
            when it actually varies across keys
"""
from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import torch

KINDS = ("random", "phonetic", "shuffled", "uniform")
NON_LETTERS = re.compile(r"[^a-z]")


def cmu_dict() -> dict[str, list[str]]:
    """word -> pronunciations, from the cmudict data the `pronouncing` package ships."""
    import pronouncing
    pronouncing.init_cmu()
    return pronouncing.lookup


def rhyme_key(text: str, cmu: dict, min_letters: int = 2) -> str | None:
    import pronouncing
    word = NON_LETTERS.sub("", text.strip().lower())
    if len(word) < min_letters or word not in cmu:
        return None
    return pronouncing.rhyming_part(cmu[word][0])


def rhyme_classes(tokenizer, min_letters: int = 2) -> tuple[np.ndarray, list[str]]:
    """Class id per token id (-1 = none) and the sorted rhyme strings the ids index."""
    cmu = cmu_dict()
    V = tokenizer.get_vocab_size()
    special = {tokenizer.token_to_id(t) for t in ("<|endoftext|>",)} - {None}
    keys = []
    for i in range(V):
        text = "" if i in special else tokenizer.decode([i], skip_special_tokens=False)
        keys.append(None if "\ufffd" in text else rhyme_key(text, cmu, min_letters))
    names = sorted({k for k in keys if k is not None})
    index = {k: j for j, k in enumerate(names)}
    classes = np.array([-1 if k is None else index[k] for k in keys], dtype=np.int32)
    return classes, names


def shuffle_classes(classes: np.ndarray, seed: int) -> np.ndarray:
    """Permute class labels among the tokens that have one (class sizes are kept exactly)."""
    out = classes.copy()
    has = np.flatnonzero(classes >= 0)
    out[has] = classes[has][np.random.default_rng(seed).permutation(len(has))]
    return out


def phase_table(classes: np.ndarray, kind: str, n_phases: int = 32, seed: int = 0,
                sigma: float = 0.3, jitter: float = 0.03) -> torch.Tensor:
    """Initial phases (V x F). One torch.Generator seeded with `seed` draws everything,
    in a fixed order, so (classes, kind, seed) always gives the same table."""
    if kind not in KINDS:
        raise ValueError(f"unknown phase init {kind!r}; expected one of {list(KINDS)}")
    g = torch.Generator().manual_seed(seed)
    V = len(classes)
    if kind == "uniform":
        return (torch.rand(V, n_phases, generator=g) * 2 - 1) * math.pi
    table = torch.randn(V, n_phases, generator=g) * sigma        # random, and the unclassed tokens
    if kind == "random":
        return table
    if kind == "shuffled":
        classes = shuffle_classes(classes, seed)
    cls = torch.from_numpy(np.asarray(classes, dtype=np.int64))
    n_classes = int(cls.max().item()) + 1 if (cls >= 0).any() else 0
    base = torch.randn(n_classes, n_phases, generator=g) * sigma
    noise = torch.randn(V, n_phases, generator=g) * jitter
    has = cls >= 0
    table[has] = base[cls[has]] + noise[has]
    return table


def class_stats(classes: np.ndarray) -> dict:
    sizes = Counter(int(c) for c in classes if c >= 0)
    hist_edges = [(1, 1), (2, 2), (3, 4), (5, 8), (9, 16), (17, 64), (65, 10**9)]
    hist = {f"{lo}-{hi}" if hi < 10**9 else f"{lo}+": sum(1 for s in sizes.values() if lo <= s <= hi)
            for lo, hi in hist_edges}
    return {"vocab_size": int(len(classes)), "tokens_with_class": int((classes >= 0).sum()),
            "classes": len(sizes), "class_size_histogram": hist,
            "largest_classes": [[c, n] for c, n in sizes.most_common(10)]}


def phase_seed(seed: int) -> int:
    """Seed of a run's phase table: derived from the run seed, independent of init/dropout/data."""
    return int(np.random.SeedSequence([seed, 0x9A5E]).generate_state(1)[0])


def run_phase_table(model_config, classes: np.ndarray | None, seed: int, phases: dict) -> torch.Tensor | None:
    """The phase table a run starts from (None for a standard model): the one place that maps
    (model config, rhyme classes, run seed, the profile's `phases` section) to it, for training,
    the ladder, the analysis and the tools."""
    if model_config.kind != "resonator" or classes is None:
        return None
    return phase_table(classes, model_config.phase_init, n_phases=model_config.n_phases, seed=phase_seed(seed),
                       sigma=phases["sigma"], jitter=phases["jitter"])
