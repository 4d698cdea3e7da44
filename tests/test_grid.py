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
