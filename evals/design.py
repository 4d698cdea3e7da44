"""Design checks for design version 2: how many seeds the registered tests need.

Everything here is about the tests of evals/stats.py as they will be run: the exact
two-sided sign-flip test over seeds, Holm-adjusted within a family of m hypotheses, and
the sign-flip TOST. Two facts drive the number of seeds:

* resolution: with n seeds the exact sign-flip test has 2^n equally likely sign
  patterns, so its smallest two-sided p is 2/2^n and its smallest one-sided p (each
  half of TOST) 1/2^n. Holm's first step tests at alpha/m, so nothing in the family can
  be rejected unless 2/2^n < alpha/m (design_check);
* power: the smallest true mean difference detected with 80% power (mde_signflip), and
  the smallest margin within which a true zero difference is shown equivalent with 80%
  power (mde_equivalence_signflip), by simulation of normal differences.

The simulations use the duality of test and interval: the sign-flip interval of
sd * z + delta is sd * [L(z), U(z)] + delta (the subset means move with the data), so
for each simulated z the interval is computed once (evals.stats._SignFlips.interval's
order statistics of subset means), and the power at ANY effect is a count over the
simulated intervals. The simulated power curve is then solved exactly for the effect
(or margin) where it reaches the target power, with no bisection error; it is
deterministic given the seed (numpy default_rng(seed)).
"""
from __future__ import annotations

import math
import sys

import numpy as np

from evals.stats import EXACT_MAX_N, MC_RESAMPLES, holm_adjust

DESIGN_RULE = (
    "With n seeds the exact sign-flip test has 2^n equally likely sign patterns, so its smallest "
    "two-sided p-value is 2/2^n and the smallest p-value of each one-sided half of the sign-flip TOST "
    "is 1/2^n. Holm's first step tests at alpha/m in a family of m hypotheses, so no hypothesis can be "
    "rejected unless 2/2^n is below alpha/m, and no equivalence can be declared unless 1/2^n is below "
    "alpha/m (e.g. alpha = 0.05 and m = 8: at least 9 seeds to reject, at least 8 to declare equivalence)."
)

SIM_RESAMPLES = 5_000     # Monte Carlo sign patterns per simulated data set above EXACT_MAX_N
_MEANS_BUDGET = 1 << 22   # subset means held at once in the simulations (32 MB of float64)


def min_attainable_p(n: int, sides: int = 2, n_resamples: int = MC_RESAMPLES) -> float:
    """Smallest p-value the sign-flip test can give with n seeds: 2/2^n two-sided and
    1/2^n one-sided (sides=1) when exact (n <= EXACT_MAX_N); 1/(1 + n_resamples) for the
    Monte Carlo test above (its add-one estimate)."""
    if n < 1 or sides not in (1, 2):
        raise ValueError(f"need n >= 1 and sides in (1, 2), got n={n}, sides={sides}")
    if n <= EXACT_MAX_N:
        return sides / 2 ** n
    return 1 / (1 + n_resamples)


def min_seeds(level: float, sides: int = 2, n_resamples: int = MC_RESAMPLES) -> int | None:
    """Smallest n whose min_attainable_p is strictly below `level` (a test rejects when
    p < level); None if no n does (Monte Carlo resolution too coarse for the level)."""
    for n in range(1, EXACT_MAX_N + 2):
        if min_attainable_p(n, sides, n_resamples) < level:
            return n
    return None


def design_check(ns, alpha: float = 0.05, m: int | None = None, m_equivalence: int | None = None,
                 n_resamples: int = MC_RESAMPLES) -> list[dict]:
    """Whether each hypothesis of a Holm family can be decided at all with its seed count.

    ns: {id: n} or a sequence of n (ids 0, 1, ...); m: the Holm family size of the
    primary tests (default len(ns); a larger m means ns is part of a bigger family, the
    other members counted as best case, p = 0); m_equivalence: the size of the family of
    equivalence tests (default m).

    Per hypothesis: id, n, min_p (2/2^n), holm_first_level (alpha/m), n_min (smallest n
    with 2/2^n < alpha/m: enough to reject whatever the other hypotheses do),
    can_reject_first_step (n >= n_min), can_reject (Holm rejects this hypothesis when
    every hypothesis of the family reaches its smallest p -- the best case; False means
    no data whatever can make it significant; it can be True below n_min when the other
    hypotheses have more seeds and are rejected first). The same for the sign-flip TOST
    with one-sided p's: min_p_equivalence (1/2^n), n_min_equivalence,
    can_declare_equivalent_first_step, can_declare_equivalent.
    """
    items = list(ns.items()) if isinstance(ns, dict) else list(enumerate(ns))
    if not items:
        return []
    m = len(items) if m is None else int(m)
    m_eq = m if m_equivalence is None else int(m_equivalence)
    if m < len(items) or m_eq < len(items):
        raise ValueError(f"family size m={m}, m_equivalence={m_eq} smaller than the {len(items)} hypotheses given")
    n_min, n_min_eq = min_seeds(alpha / m, 2, n_resamples), min_seeds(alpha / m_eq, 1, n_resamples)
    min_p = [min_attainable_p(n, 2, n_resamples) for _, n in items]
    min_p_eq = [min_attainable_p(n, 1, n_resamples) for _, n in items]
    best = holm_adjust(min_p + [0.0] * (m - len(items)))[:len(items)] < alpha
    best_eq = holm_adjust(min_p_eq + [0.0] * (m_eq - len(items)))[:len(items)] < alpha
    return [{"id": key, "n": int(n), "alpha": alpha, "m": m, "min_p": min_p[i], "holm_first_level": alpha / m,
             "n_min": n_min, "can_reject_first_step": bool(min_p[i] < alpha / m), "can_reject": bool(best[i]),
             "m_equivalence": m_eq, "min_p_equivalence": min_p_eq[i], "n_min_equivalence": n_min_eq,
             "can_declare_equivalent_first_step": bool(min_p_eq[i] < alpha / m_eq),
             "can_declare_equivalent": bool(best_eq[i])}
            for i, (key, n) in enumerate(items)]


# ---------------------------------------------------------------------------
# Power by simulation
# ---------------------------------------------------------------------------

def simulated_intervals(n: int, confidence: float, n_sim: int = 2_000, seed: int = 0,
                        n_resamples: int = SIM_RESAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed sign-flip intervals (evals.stats.signflip_ci at `confidence`) of
    n_sim simulated data sets z ~ N(0, 1)^n, z = default_rng(seed).standard_normal((n_sim, n)).
    Returns (low, high) arrays; +-inf where the test cannot reach the level.

    n <= EXACT_MAX_N: exact (all 2^n - 1 non-empty flipped subsets); above, one set of
    n_resamples Monte Carlo patterns drawn after z from the same generator, shared by
    all simulated data sets. n = 20 costs about 2^20 * 20 operations per data set.
    """
    if n < 1 or n_sim < 1 or not 0 < confidence < 1:
        raise ValueError(f"need n >= 1, n_sim >= 1 and 0 < confidence < 1, got {n}, {n_sim}, {confidence}")
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n_sim, n))
    tail = (1 - confidence) / 2
    if n <= EXACT_MAX_N:
        denominator, n_subsets = 1 << n, (1 << n) - 1
        sizes = np.bitwise_count(np.arange(1, 1 << n, dtype=np.int64)).astype(float)[:, None]
    else:
        flipped = rng.choice((0.0, 1.0), size=(n_resamples, n))
        flipped = flipped[flipped.sum(axis=1) > 0]
        denominator, n_subsets = 1 + n_resamples, flipped.shape[0]
        sizes = flipped.sum(axis=1, keepdims=True)
    k = math.ceil(tail * denominator - (denominator - n_subsets) - 1e-9)
    if k <= 0:
        return np.full(n_sim, -math.inf), np.full(n_sim, math.inf)
    low, high = np.empty(n_sim), np.empty(n_sim)
    per = max(1, _MEANS_BUDGET // n_subsets)
    for s0 in range(0, n_sim, per):
        zc = z[s0:s0 + per].T
        if n <= EXACT_MAX_N:
            sums = np.zeros((1, zc.shape[1]))
            for j in range(n):   # subset sums by doubling: row index bit j = element j in the subset
                sums = np.concatenate([sums, sums + zc[j]])
            means = sums[1:] / sizes
        else:
            means = (flipped @ zc) / sizes
        part = np.partition(means, [k - 1, n_subsets - k], axis=0)
        low[s0:s0 + per], high[s0:s0 + per] = part[k - 1], part[n_subsets - k]
    return low, high


def power_signflip(effect: float, n: int, sd: float, alpha: float = 0.05, n_sim: int = 2_000, seed: int = 0,
                   n_resamples: int = SIM_RESAMPLES) -> float:
    """Simulated power of the two-sided sign-flip test at level alpha (reject: p < alpha)
    when the n per-seed differences are N(effect, sd^2): the share of simulated data sets
    whose (1 - alpha) sign-flip interval sd * [L, U] + effect excludes 0."""
    low, high = simulated_intervals(n, 1 - alpha, n_sim, seed, n_resamples)
    return float(np.mean((sd * low + effect > 0) | (sd * high + effect < 0)))


def mde_signflip(n: int, sd: float, alpha: float = 0.05, power: float = 0.8, n_sim: int = 2_000, seed: int = 0,
                 n_resamples: int = SIM_RESAMPLES) -> float:
    """Minimal detectable |mean difference| of the exact two-sided sign-flip test at level
    alpha (pass the Holm level, e.g. alpha/m, for a family) with n seeds: the smallest
    effect > 0 at which power_signflip (same n_sim, seed) reaches `power`, for normal
    differences with standard deviation sd. The simulated power is a step function of
    the effect, jumping where an effect first pushes a simulated interval off 0, so the
    smallest effect is found exactly among those jump points (the infimum: any larger
    effect up to the next jump has at least that power). inf when the test cannot reach
    alpha at this n (2/2^n >= alpha) or the power is never reached."""
    if sd < 0 or not 0 < power < 1:
        raise ValueError(f"need sd >= 0 and 0 < power < 1, got sd={sd}, power={power}")
    low, high = simulated_intervals(n, 1 - alpha, n_sim, seed, n_resamples)
    if not np.isfinite(low).all():
        return math.inf
    up = np.sort(-sd * low)      # the effect rejects data set i (above 0) once effect > -sd * low_i
    down = np.sort(-sd * high)   # ... (below 0) while effect < -sd * high_i
    cand = up[up >= 0]
    # power just above each candidate c: #{up_i <= c} + #{down_i > c}
    counts = np.searchsorted(up, cand, side="right") + (n_sim - np.searchsorted(down, cand, side="right"))
    hit = np.flatnonzero(counts >= power * n_sim - 1e-9)
    return float(cand[hit[0]]) if hit.size else math.inf


def mde_equivalence_signflip(n: int, sd: float, alpha: float = 0.05, power: float = 0.8, true_diff: float = 0.0,
                             n_sim: int = 2_000, seed: int = 0, n_resamples: int = SIM_RESAMPLES) -> float:
    """Smallest equivalence margin that the sign-flip TOST at level alpha (pass the Holm
    level for a family) declares with probability `power` when the true mean difference
    is true_diff (default 0) and the n differences are normal with sd. TOST declares
    equivalence exactly when the (1 - 2 alpha) sign-flip interval lies inside
    (-margin, margin), i.e. when margin > max(-(sd L + true_diff), sd U + true_diff); the
    result is the `power` quantile of that bound over the simulated data sets (an
    order statistic: any larger margin has at least that power). A registered margin
    below this value is unlikely to give "equivalent" even when nothing differs. inf when
    1/2^n >= alpha (TOST cannot reject at this n)."""
    if sd < 0 or not 0 < power < 1 or not 0 < alpha < 0.5:
        raise ValueError(f"need sd >= 0, 0 < power < 1 and 0 < alpha < 0.5, got {sd}, {power}, {alpha}")
    low, high = simulated_intervals(n, 1 - 2 * alpha, n_sim, seed, n_resamples)
    if not np.isfinite(low).all():
        return math.inf
    bound = np.sort(np.maximum(-(sd * low + true_diff), sd * high + true_diff))
    return float(bound[math.ceil(power * n_sim - 1e-9) - 1])


# ---------------------------------------------------------------------------
# The registered design, checked before any run
# ---------------------------------------------------------------------------

def registered_design(tests, planned_seeds, alpha: float) -> list[dict]:
    """design_check for every family of the registration: tests are dicts with id, a, b
    and family; planned_seeds(variant) the seeds a variant is trained on. A hypothesis's
    n is the number of seeds both its variants are planned on (its pairs)."""
    families: dict[str, dict[str, int]] = {}
    for t in tests:
        n = len(set(planned_seeds(t["a"])) & set(planned_seeds(t["b"])))
        families.setdefault(t["family"], {})[t["id"]] = n
    rows = []
    for family, ns in families.items():
        rows += [r | {"family": family} for r in design_check(ns, alpha=alpha)]
    return rows


def require_decidable(p) -> list[dict]:
    """Refuse a registration in which some hypothesis cannot reject its null, or cannot be
    declared equivalent, at its family's Holm level with its planned seeds, whatever the
    data: the error names the hypothesis and the seeds it needs. Called by every stage
    that trains, evaluates or analyses, so an undecidable design never costs a run. The
    tests of hypotheses.amendments are checked the same way, each in its own family."""
    from resonator.amendment_config import all_tests, list_key_of
    from resonator.errors import ProjectError

    h = p.hypotheses
    keys = list_key_of(h)
    rows = registered_design(all_tests(h), p.planned_seeds, h["alpha"])
    for r in rows:
        if not (r["can_reject_first_step"] and r["can_declare_equivalent_first_step"]):
            need = max(r["n_min"] or 0, r["n_min_equivalence"] or 0)
            err = ProjectError(
                f"params.yaml: key '{keys[r['id']]}' ({r['id']}, family {r['family']})",
                f"{r['n']} paired seeds cannot decide it: the smallest sign-flip p-value is {r['min_p']:.3g}, "
                f"not below Holm's first level alpha/m = {r['holm_first_level']:.3g} for the {r['m']} tests of "
                "its family",
                f"plan at least {need} seeds common to both of its variants in `seeds`, or shrink the family")
            if h.get("design_check", "refuse") == "refuse":
                raise err
            print(f"warning: {err.line()}; continuing because hypotheses.design_check is 'warn'", file=sys.stderr)
    return rows
