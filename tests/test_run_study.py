"""tools.run_study --ladder: the order in which it hands stages to DVC (no DVC run here; the main
study's order is tested in tests/test_grid.py)."""
from tools.run_study import ladder_chains

L = "ladder/dvc.yaml:"     # the ladder's run stages are addressed by their dvc.yaml


def test_ladder_phases_tune_select_then_final_seed_major():
    tune, select, final = ladder_chains("d64", ["standard", "resonator_phonetic"], [0, 1])
    assert tune == [(L + "tune@d64-standard",), (L + "tune@d64-resonator_phonetic",)]
    assert select == [(L + "select_lr@d64-standard",), (L + "select_lr@d64-resonator_phonetic",)]
    assert final[:2] == [(L + "train_rung@d64-standard-0", L + "eval_rung@d64-standard-0"),
                         (L + "train_rung@d64-resonator_phonetic-0", L + "eval_rung@d64-resonator_phonetic-0")]
    assert final[-1] == (L + "train_rung@d64-resonator_phonetic-1", L + "eval_rung@d64-resonator_phonetic-1")



def _git(repo, *args):
    import subprocess
    return subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout


def test_commits_records_and_a_complete_lock_only(tmp_path, monkeypatch):
    import pytest
    import yaml

    from tools.run_study import Committer, lock_snapshot
    lock = {"schema": "2.0", "stages": {"a": {"cmd": "x"}, "b": {"cmd": "y"}}}
    _git(tmp_path, "init", "-q")
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    (tmp_path / "ladder").mkdir()
    (tmp_path / "ladder" / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": {"t": {"cmd": "x"}}}))
    _git(tmp_path, "add", "dvc.lock")
    _git(tmp_path, "-c", "commit.gpgsign=false", "commit", "-qm", "start")
    monkeypatch.chdir(tmp_path)
    # DVC mid-rewrite: an empty file is never taken for the lock
    (tmp_path / "dvc.lock").write_text("")
    with pytest.raises(RuntimeError, match="no complete copy"):
        lock_snapshot(tries=2)
    lock["stages"]["c"] = {"cmd": "z"}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    (tmp_path / "runs" / "s0").mkdir(parents=True)
    (tmp_path / "runs" / "s0" / "train.json").write_text("{}")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "t")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "t@t")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "t")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "t@t")
    c = Committer(60.0, ["runs"])
    c.maybe("not yet")                                  # within the interval: nothing
    assert _git(tmp_path, "rev-list", "--count", "HEAD").strip() == "1"
    c.maybe("phase done", force=True)
    assert _git(tmp_path, "log", "-1", "--format=%s").startswith("phase done")
    assert set(yaml.safe_load(_git(tmp_path, "show", "HEAD:dvc.lock"))["stages"]) == {"a", "b", "c"}
    assert set(yaml.safe_load(_git(tmp_path, "show", "HEAD:ladder/dvc.lock"))["stages"]) == {"t"}  # both locks
    assert "runs/s0/train.json" in _git(tmp_path, "show", "--name-only", "--format=", "HEAD")
    assert Committer(None, ["runs"]).every is None      # off by default
