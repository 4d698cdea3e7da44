"""tools.grid: the no-DVC runner selects, shards and skips runs correctly."""
import json

from tools.grid import done, select

RUNS = [(v, s) for v in ("a", "b", "c") for s in range(4)]


def test_select_filters_and_shards():
    assert select(RUNS, ["b"], None, None) == [("b", s) for s in range(4)]
    assert select(RUNS, None, [0], None) == [("a", 0), ("b", 0), ("c", 0)]
    shards = [select(RUNS, None, None, f"{k}/3") for k in range(3)]
    assert sorted(sum(shards, [])) == sorted(RUNS)            # every run exactly once
    assert all(not set(x) & set(y) for i, x in enumerate(shards) for y in shards[i + 1:])


def test_done_needs_a_readable_marker(tmp_path):
    assert not done(tmp_path, "train")
    (tmp_path / "train.json").write_text('{"variant": "a"')       # torn write
    assert not done(tmp_path, "train")
    (tmp_path / "train.json").write_text(json.dumps({"variant": "a"}))
    assert done(tmp_path, "train")


def test_run_study_jobs_are_seed_major_and_cover_the_plan(repo_root):
    """tools.run_study: every planned (variant, seed) once, whole seeds first."""
    from resonator.params import load_params
    from tools.run_study import jobs
    p = load_params(repo_root / "params.yaml")
    todo = jobs(p)
    assert sorted((v, s) for _, v, s in todo) == sorted(p.runs())
    seeds = [s for _, _, s in todo]
    assert seeds == sorted(seeds)
    assert all(v in p.groups[g] for g, v, _ in todo)
