"""The ladder's registration (issue 18): schema and references named by dotted key, the main
study's stamps untouched, the plan, learning-rate selection and the trend test."""
import copy
import datetime as dt
import math

import numpy as np
import pytest
import yaml

from evals.trend import fit, trend
from evals.tuning import extension, select, selection_value
from resonator.errors import ProjectError
from resonator.ladder import Ladder, epochs_tokens
from resonator.params import ParamsError, load_params
from tests.test_params import check_error


@pytest.fixture
def raw(repo_root):
    """params.yaml with its ladder turned back into a draft: the checks below start from one."""
    raw = yaml.safe_load((repo_root / "params.yaml").read_text())
    raw["ladder"].update(status="draft", registered="YYYY-MM-DD", run=[])
    return raw


# ---------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------

def test_registered_ladder_meets_the_issue(repo_root):
    p = load_params(repo_root / "params.yaml")
    lad = Ladder(p)
    # registered (2026-11-28) after throughput was measured; every defined rung is to be trained
    assert lad.raw["status"] == "registered" and dt.date.fromisoformat(lad.raw["registered"])
    assert lad.raw["run"] == list(lad.rungs)
    assert lad.unmet_requirements(2048) == []
    sizes = [lad.scale_params(r, 2048) for r in lad.rungs]
    assert sizes == sorted(sizes) and sizes[-1] >= 10 * sizes[0]
    assert not set(lad.seeds) & set(lad.tune_seeds)
    # d64 is the small profile's model
    assert lad.rung_params("d64").active["model"] == p.raw["profiles"]["small"]["model"]


def test_bad_rung_key_names_the_dotted_key(raw, tmp_path):
    raw["ladder"]["rungs"]["d128"]["model"]["d_modle"] = 128
    check_error(raw, tmp_path, "key 'ladder.rungs.d128.model'", "unknown key 'd_modle'", "did you mean 'd_model'?")
    del raw["ladder"]["rungs"]["d128"]["model"]["d_modle"]
    raw["ladder"]["rungs"]["d128"]["lenghts"] = [1.0]
    check_error(raw, tmp_path, "key 'ladder.rungs.d128'", "unknown key 'lenghts'", "did you mean 'lengths'?")
    del raw["ladder"]["rungs"]["d128"]["lenghts"]
    raw["ladder"]["rungs"]["d128"]["model"]["n_heads"] = 3
    check_error(raw, tmp_path, "ladder.rungs.d128.model", "not divisible by n_heads 3")


def test_bad_values_name_the_dotted_key(raw, tmp_path):
    bad = copy.deepcopy(raw)
    bad["ladder"]["lr_grid"] = [1.0e-3, 2.0e-3, 5.0e-3]
    check_error(bad, tmp_path, "ladder", "not log-spaced")
    bad = copy.deepcopy(raw)
    bad["ladder"]["lr_grid"][0] = "5e-4"
    check_error(bad, tmp_path, "ladder.lr_grid[0]", "YAML reads 5e-4 as a string")
    bad = copy.deepcopy(raw)
    bad["ladder"]["rungs"]["d64"]["lengths"] = [2.4, 0.5]
    check_error(bad, tmp_path, "ladder.rungs.d64", "not strictly ascending")
    bad = copy.deepcopy(raw)
    bad["ladder"]["rungs"]["d64"]["tune_length"] = 2.4
    check_error(bad, tmp_path, "ladder.rungs.d64", "not the shortest length")
    bad = copy.deepcopy(raw)
    bad["ladder"]["tune_seeds"] = [9, 100]
    check_error(bad, tmp_path, "ladder", "tune_seeds [9] are also final seeds")
    bad = copy.deepcopy(raw)
    bad["ladder"]["status"] = "registered"
    check_error(bad, tmp_path, "ladder", "status is registered but registered is 'YYYY-MM-DD'")
    bad = copy.deepcopy(raw)
    bad["ladder"]["status"] = "final"
    check_error(bad, tmp_path, "ladder.status", "'final' is not one of")
    bad = copy.deepcopy(raw)
    bad["ladder"]["run"] = ["d64"]
    check_error(bad, tmp_path, "ladder", "run lists ['d64'] while status is draft")
    bad = copy.deepcopy(raw)
    bad["ladder"]["status"], bad["ladder"]["registered"], bad["ladder"]["run"] = "registered", "2026-12-01", ["d512"]
    check_error(bad, tmp_path, "ladder", "run lists ['d512'], which rungs does not define")


def ladder_error(raw, tmp_path, *needles):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    p = load_params(path)                      # the main study loads: only ladder users stop
    with pytest.raises(ParamsError) as e:
        Ladder(p)
    for n in (str(path), *needles):
        assert n in str(e.value), str(e.value)


def test_references_name_the_dotted_key_where_the_ladder_is_used(raw, tmp_path):
    bad = copy.deepcopy(raw)
    bad["ladder"]["variants"][0] = "standrd"
    ladder_error(bad, tmp_path, "ladder.variants[0]", "unknown variant 'standrd'", "did you mean 'standard'?")
    bad = copy.deepcopy(raw)
    bad["ladder"]["hypotheses"].append("H0")
    ladder_error(bad, tmp_path, "ladder.hypotheses[5]", "H0 compares 'standard_notebook'")
    bad = copy.deepcopy(raw)
    bad["ladder"]["hypotheses"][0] = "H1x"
    ladder_error(bad, tmp_path, "ladder.hypotheses[0]", "'H1x' is not a registered hypothesis")
    bad = copy.deepcopy(raw)
    bad["ladder"]["profile"] = "huge"
    ladder_error(bad, tmp_path, "ladder.profile", "no entry under 'profiles'")
    # a main study trimmed for a test or a dry run is not stopped by the ladder's references
    trimmed = copy.deepcopy(raw)
    trimmed["hypotheses"]["tests"] = [t for t in trimmed["hypotheses"]["tests"] if t["id"] in ("H0", "H1a", "H3")]
    ladder_error(trimmed, tmp_path, "ladder.hypotheses[1]", "'H1b' is not a registered hypothesis")


def test_the_ladder_leaves_the_main_study_stamps_alone(raw, tmp_path):
    """Registering or growing the ladder must not change what the main study's runs record."""
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with_ladder = load_params(path)
    grown = copy.deepcopy(raw)
    grown["ladder"]["rungs"]["d512"] = {"model": {"d_model": 512, "n_layers": 4, "n_heads": 8, "d_ff": 2048,
                                                  "max_seq_len": 128}, "lengths": [0.5], "tune_length": 0.5,
                                        "lr_grid": [5.0e-4, 1.0e-3, 2.0e-3, 4.0e-3, 8.0e-3]}
    path.write_text(yaml.safe_dump(grown))
    grown_p = load_params(path)
    del raw["ladder"]
    path.write_text(yaml.safe_dump(raw))
    without = load_params(path)
    assert with_ladder.hash == grown_p.hash == without.hash
    assert with_ladder.prereg_hash == without.prereg_hash
    assert with_ladder.ladder_hash != grown_p.ladder_hash and without.ladder_hash is None


def test_draft_refuses_final_runs_in_one_line(raw, tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    lad = Ladder(load_params(path))
    with pytest.raises(ProjectError) as e:
        lad.require_registered(2048)
    assert "ladder.status" in e.value.line() and "draft" in e.value.line() and "\n" not in e.value.line()


def test_unmet_requirements_are_named(raw, tmp_path):
    raw["ladder"]["lr_grid"] = [1.0e-3, 2.0e-3]
    raw["ladder"]["tune_seeds"] = [100]
    raw["ladder"]["rungs"] = {k: {**raw["ladder"]["rungs"][k], "lr_grid": [1.0e-3, 2.0e-3]} for k in ("d64", "d128")}
    raw["ladder"]["revisions"] = []
    raw["ladder"]["status"], raw["ladder"]["registered"] = "registered", "2026-12-01"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    lad = Ladder(load_params(path))
    unmet = " | ".join(lad.unmet_requirements(2048))
    for needle in ("ladder.rungs.d64.lr_grid has 2 learning rates (tuned at d64)", "tune_seeds has 1", "2 rungs",
                   "span 4.6x"):
        assert needle in unmet, unmet
    with pytest.raises(ProjectError, match="ladder.checks: warn"):
        lad.require_registered(2048)


def test_a_rung_grid_is_a_contiguous_run_of_the_ladder_grid(raw, tmp_path):
    raw["ladder"]["rungs"]["d64"]["lr_grid"] = [5.0e-4, 2.0e-3, 4.0e-3]          # skips 1e-3
    check_error(raw, tmp_path, "ladder", "rungs.d64.lr_grid", "not a contiguous run of lr_grid")
    raw["ladder"]["rungs"]["d64"]["lr_grid"] = [1.0e-3, 2.0e-3, 3.0e-3]          # 3e-3 is not in the grid
    check_error(raw, tmp_path, "ladder", "rungs.d64.lr_grid", "not a contiguous run of lr_grid")


def test_each_rung_tunes_its_own_grid_and_short_grids_are_named(raw, tmp_path):
    raw["ladder"]["rungs"]["d64"]["lr_grid"] = [1.0e-3, 2.0e-3, 4.0e-3]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    lad = Ladder(load_params(path))
    assert lad.rung_grid("d64") == [1.0e-3, 2.0e-3, 4.0e-3] and lad.rung_grid("d32") == lad.lr_grid
    assert {lr for r, _, lr, _ in lad.tuning_runs() if r == "d64"} == {1.0e-3, 2.0e-3, 4.0e-3}
    assert "ladder.rungs.d64.lr_grid has 3 learning rates (tuned at d64); at least 5" in lad.unmet_requirements(2048)
    del raw["ladder"]["rungs"]["d64"]["lr_grid"]                   # every rung names its grid
    check_error(raw, tmp_path, "ladder.rungs.d64.lr_grid")


def test_plan_counts_and_rung_models(repo_root):
    lad = Ladder(load_params(repo_root / "params.yaml"))
    n_var, n_tune = len(lad.variants), len(lad.tune_seeds)
    assert len(lad.tuning_runs()) == sum(len(lad.rung_grid(r)) for r in lad.rungs) * n_var * n_tune
    assert len(lad.final_runs()) == len(lad.rungs) * n_var * len(lad.seeds)
    # the parameter-matched control is matched at the rung's own size
    for r in lad.rungs:
        n = {v: lad.n_params(r, v, 2048) for v in ("standard_param_matched", "resonator_phonetic")}
        assert abs(n["standard_param_matched"] / n["resonator_phonetic"] - 1) < 0.01, (r, n)
    tc = lad.train_config("d128", 0.004, 2.4)
    assert (tc.lr, tc.epochs) == (0.004, 2.4)
    # a plain `dvc repro` log says where each run stands among the ladder's runs
    finals, tunes = lad.final_runs(), lad.tuning_runs()
    r, v, s = finals[6]
    assert lad.progress_tag(r, v, s) == f"[ladder final 7/{len(finals)}]"
    r, v, lr, s = tunes[-1]
    assert lad.progress_tag(r, v, s, lr * (1 + 1e-12)) == f"[ladder tuning {len(tunes)}/{len(tunes)}]"
    assert lad.progress_tag(r, v, 999) == f"[ladder final ?/{len(finals)}]"


def test_run_tokens_as_training_counts_them():
    # 1000 windows of 64, 32 per step: 31 steps per epoch; half an epoch is 15 steps
    assert epochs_tokens(64 * 1000 + 1, 64, 32, 0.5) == 15 * 32 * 64
    assert epochs_tokens(64 * 1000 + 1, 64, 32, 2.0, max_steps=10) == 10 * 32 * 64


# ---------------------------------------------------------------------------
# Learning-rate selection (validation loss only)
# ---------------------------------------------------------------------------

GRID = [5e-4, 1e-3, 2e-3, 4e-3, 8e-3]


def table(means, seeds=(100, 101, 102), spread=0.01):
    return {lr: {s: m + spread * (i - 1) for i, s in enumerate(seeds)} for lr, m in zip(GRID, means, strict=True)}


def test_interior_best_is_chosen_by_the_mean_over_seeds():
    losses = table([5.0, 4.8, 4.7, 4.75, 4.9])
    # seed 102 alone would pick 4e-3; the mean over seeds picks 2e-3
    losses[4e-3][102] = 4.65
    r = select(GRID, [100, 101, 102], losses)
    assert (r["lr"], r["index"], r["edge"], r["extend_with"]) == (2e-3, 2, None, None)
    assert math.isclose(r["rows"][2]["mean"], 4.7)


def test_edge_best_is_refused_with_the_value_to_add():
    up = select(GRID, [100, 101, 102], table([5.0, 4.9, 4.8, 4.7, 4.6]))
    assert (up["edge"], up["extend_with"]) == ("largest", 0.016)
    down = select(GRID, [100, 101, 102], table([4.5, 4.6, 4.7, 4.8, 4.9]))
    assert (down["edge"], down["extend_with"]) == ("smallest", 0.00025)
    assert extension([1e-3, 3e-3, 9e-3], "largest") == 0.027


def test_diverged_runs_count_as_worst_and_missing_runs_are_errors():
    losses = table([5.0, 4.8, 4.7, 4.75, 4.9])
    losses[2e-3][101] = math.inf
    r = select(GRID, [100, 101, 102], losses)
    assert r["lr"] == 4e-3 and r["rows"][2]["n_diverged"] == 1
    assert selection_value({"diverged": True}) == math.inf and selection_value(None) is None
    assert selection_value({"selection": {"val_loss": 4.2}}) == 4.2
    del losses[1e-3][100]
    with pytest.raises(KeyError):
        select(GRID, [100, 101, 102], losses)


# ---------------------------------------------------------------------------
# The trend test
# ---------------------------------------------------------------------------

def cells(slope_params=0.0, slope_tokens=0.0, sd=0.004, seed=1):
    rng = np.random.default_rng(seed)
    shared = {s: rng.normal(0, 0.003) for s in range(10)}          # a seed's effect in every cell
    out = []
    for lp, lengths in ((5.4, (5.9, 6.6)), (6.0, (5.9, 6.6)), (6.6, (5.9,))):
        for lt in lengths:
            d = [0.002 + slope_params * (lp - 6.0) + slope_tokens * (lt - 6.2) + shared[s] + rng.normal(0, sd)
                 for s in range(10)]
            out.append({"log10_params": lp, "log10_tokens": lt, "seeds": list(range(10)), "d": d})
    return out


def test_known_slope_is_recovered_within_its_interval():
    r = trend(cells(slope_params=0.02, slope_tokens=-0.01), ["params", "tokens"], margin=0.005, better="lower",
              confidence=0.99, resamples=4000, seed=3)
    sp, st_ = r["slopes"]["params"], r["slopes"]["tokens"]
    assert sp["ci_low"] < 0.02 < sp["ci_high"] and sp["verdict"] == "changes" and sp["favours"] == "b"
    assert st_["ci_low"] < -0.01 < st_["ci_high"] and st_["verdict"] == "changes" and st_["favours"] == "a"


def test_no_slope_is_not_called_a_change():
    for seed in range(3):
        r = trend(cells(seed=seed), ["params", "tokens"], margin=0.02, better="lower", confidence=0.99,
                  resamples=4000, seed=seed)
        for s in r["slopes"].values():
            assert s["ci_low"] < 0 < s["ci_high"] and s["verdict"] == "stable"


def test_sign_flip_interval_keeps_its_level_where_the_seed_bootstrap_does_not():
    """Why the verdict uses the sign-flip interval: with 10 seeds the percentile bootstrap over
    seeds is anti-conservative (measured here: about twice the nominal false-positive rate)."""
    n, flips, boots = 120, 0, 0
    for i in range(n):
        s = fit(cells(seed=1000 + i), ["params"], confidence=0.9, resamples=1000, seed=i)["slopes"]["params"]
        flips += not (s["ci_low"] <= 0 <= s["ci_high"])
        boots += not (s["boot_low"] <= 0 <= s["boot_high"])
    assert flips / n <= 0.15 and boots > flips


def test_trend_drops_a_term_the_ladder_does_not_vary_and_is_deterministic():
    one_length = [c for c in cells() if c["log10_tokens"] == 5.9]
    a = fit(one_length, ["params", "tokens"], resamples=2000, seed=5)
    assert a["terms"] == ["params"] and a["dropped"] == ["tokens"]
    assert a == fit(one_length, ["params", "tokens"], resamples=2000, seed=5)
    assert "note" in fit(one_length[:1], ["params"], resamples=100)


def doc_cells(slope=0.0, doc_slope_sd=0.0, seed_sd=0.002, doc_sd=0.05, n_docs=20, seed=1, n_seeds=10):
    """Cells with per-document differences: document i's own slope on log parameters is
    slope + v_i (v_i ~ N(0, doc_slope_sd), the same in every seed), plus seed and document noise;
    each cell's d is the mean over its documents, as lm_test's bits per byte is."""
    rng = np.random.default_rng(seed)
    v = rng.normal(0, doc_slope_sd, n_docs)
    ids = list(range(n_docs))
    out = []
    for lp in (5.4, 6.0, 6.6):
        docs = {}
        for s in range(n_seeds):
            docs[s] = (ids, (slope + v) * (lp - 6.0) + rng.normal(0, seed_sd) + rng.normal(0, doc_sd, n_docs))
        out.append({"log10_params": lp, "log10_tokens": 6.0, "seeds": list(range(n_seeds)),
                    "d": [float(docs[s][1].mean()) for s in range(n_seeds)], "docs": docs})
    return out


def test_multi_bootstrap_slope_is_the_slope_of_the_document_table():
    """Each seed's slope is the mean over documents of per-document slopes, so the Multi-Bootstrap's
    point is the trend's slope itself, and its interval covers it."""
    r = fit(doc_cells(slope=0.02), ["params"], resamples=2000, seed=4)
    s = r["slopes"]["params"]
    assert s["mb_slope"] == pytest.approx(s["slope"], abs=1e-12)
    assert s["mb_low"] < s["slope"] < s["mb_high"]
    assert r["multi_bootstrap"]["n_items"] == 20 and r["multi_bootstrap"]["seeds"] == list(range(10))
    assert r == fit(doc_cells(slope=0.02), ["params"], resamples=2000, seed=4)        # deterministic


def test_multi_bootstrap_counts_document_sampling_the_sign_flip_does_not():
    """Documents with slopes of their own: the sign-flip interval answers for these documents (its
    coverage of the population slope falls far below the level), the Multi-Bootstrap's for
    documents like them (it keeps roughly its level)."""
    n, flip_cover, mb_cover = 60, 0, 0
    for i in range(n):
        s = fit(doc_cells(slope=0.0, doc_slope_sd=0.05, seed_sd=0.001, doc_sd=0.01, seed=500 + i), ["params"],
                confidence=0.9, resamples=1000, seed=i)["slopes"]["params"]
        flip_cover += s["ci_low"] <= 0 <= s["ci_high"]
        mb_cover += s["mb_low"] <= 0 <= s["mb_high"]
    assert flip_cover / n < 0.5 and mb_cover / n >= 0.75


def test_multi_bootstrap_uses_seeds_with_the_same_documents_in_every_cell():
    c = doc_cells()
    del c[1]["docs"][3]                                       # seed 3 lacks its documents in one cell
    r = fit(c, ["params"], resamples=500)
    assert r["multi_bootstrap"]["lacking_seeds"] == [3] and 3 not in r["multi_bootstrap"]["seeds"]
    assert "mb_low" in r["slopes"]["params"]
    c[2]["docs"] = {s: (list(range(1, 21)), x) for s, (_, x) in c[2]["docs"].items()}   # other documents
    r = fit(c, ["params"], resamples=500)
    assert "note" in r["multi_bootstrap"] and "mb_low" not in r["slopes"]["params"]
    plain = fit([{k: v for k, v in x.items() if k != "docs"} for x in doc_cells()], ["params"], resamples=500)
    assert plain["multi_bootstrap"] == {"note": "no per-document scores given"}


def test_end_slope_is_the_fall_over_the_last_window(tmp_path):
    """Loss falling 0.1 nats per 1,000 tokens: over the last quarter of a 4,000-token epoch it fell
    0.1; a diverged run and a run without its curve are left out, and the count says so."""
    from evals.ladder import end_slope
    curve = tmp_path / "curve.tsv"
    rows = ["step\ttokens\ttrain_loss\tval_loss"] + [f"{i}\t{t}\t\t{5 - 1e-4 * t}" for i, t in
                                                   enumerate(range(0, 8001, 500))]
    curve.write_text("\n".join(rows) + "\n")
    ok = {"train": {"diverged": False}, "curve": curve}
    runs = {"a": {0: ok, 1: ok, 2: {"train": {"diverged": True}, "curve": curve}},
            "b": {0: {"train": {"diverged": False}, "curve": None}}}
    e = end_slope(runs, tokens_per_epoch=4000)
    assert e["window_epochs"] == 0.25 and set(e["variants"]) == {"a"}
    assert e["variants"]["a"]["n"] == 2 and e["variants"]["a"]["mean"] == pytest.approx(0.1)


def test_end_slope_says_whether_every_variant_has_flattened(tmp_path):
    """The pilot's criterion: a length is flat when every variant's mean fall over its last quarter
    epoch is under 0.01 nats; one variant still falling makes the cell not flat."""
    from evals.ladder import FLAT_NATS, end_slope

    def curve(name, per_token):
        path = tmp_path / name
        path.write_text("\n".join(["step\ttokens\ttrain_loss\tval_loss"] + [
            f"{i}\t{t}\t\t{5 - per_token * t}" for i, t in enumerate(range(0, 8001, 500))]) + "\n")
        return {"train": {"diverged": False}, "curve": path}
    flat, falling = curve("flat.tsv", FLAT_NATS / 2 / 1000), curve("falling.tsv", FLAT_NATS * 2 / 1000)
    assert end_slope({"a": {0: flat}, "b": {0: flat}}, tokens_per_epoch=4000)["flat"] is True
    assert end_slope({"a": {0: flat}, "b": {0: falling}}, tokens_per_epoch=4000)["flat"] is False
    assert end_slope({"a": {0: {"train": None, "curve": None}}}, tokens_per_epoch=4000)["flat"] is None


def test_a_revision_that_adds_lengths_keeps_the_trend_over_the_cells_before_it(monkeypatch):
    """Each revision with added_lengths gets the trend over the cells the design had before it:
    its own additions and every later revision's left out, earlier ones kept."""
    from evals import ladder as el
    monkeypatch.setattr(el, "trends", lambda lad, cells, view, docs: [c["label"] for c in cells])
    cells = [{"rung": r, "length": x, "label": f"{r} {x:g}"} for r, x in
             [("d32", 0.5), ("d32", 2.4), ("d32", 4.0), ("d64", 0.5), ("d64", 4.6)]]
    lad = type("L", (), {"raw": {"revisions": [
        {"date": "2026-12-07", "change": "grids", "reason": "r"},
        {"date": "2026-12-07", "change": "flat", "reason": "r", "added_lengths": {"d32": [4.0]}},
        {"date": "2026-12-08", "change": "more", "reason": "r", "added_lengths": {"d64": [4.6]}}]}})()
    out = el.earlier_trends(lad, cells, None, [{}] * len(cells))
    assert [e["revision"] for e in out] == [2, 3]
    assert out[0]["cells"] == out[0]["trends"] == ["d32 0.5", "d32 2.4", "d64 0.5"]
    assert out[1]["cells"] == ["d32 0.5", "d32 2.4", "d32 4", "d64 0.5"]
    lad.raw = {}
    assert el.earlier_trends(lad, cells, None, [{}] * len(cells)) == []


def test_a_revision_adds_only_lengths_its_rungs_have(raw, tmp_path):
    rev = raw["ladder"]["revisions"][-1]
    assert rev["added_lengths"] and all(set(xs) <= set(raw["ladder"]["rungs"][r]["lengths"])
                                        for r, xs in rev["added_lengths"].items())
    rev["added_lengths"] = {"d64": [9.9]}
    check_error(raw, tmp_path, "ladder", "added_lengths lists [9.9] for d64", "rungs.d64.lengths")
    rev["added_lengths"] = {"d65": [0.5]}
    check_error(raw, tmp_path, "ladder", "added_lengths names rung 'd65'")
