"""The reproduction verdict (evals.reproduction, pipeline.verify): stamps never count, numbers
do; new runs, retrained configs and a changed plan's aggregates are listed, not failed."""
import json
import subprocess
from pathlib import Path

from evals.reproduction import compare_file, diff_json, diff_text, strip_stamps
from pipeline.verify import verify

RUN = "runs/small/standard/s0"
RECORD = {"profile": "small", "variant": "standard", "seed": 0, "config": {"lr": 0.002},
          "provenance": {"utc": "2026-11-27T10:00:00", "commit": "abc"},
          "metrics": {"val_loss": 4.25, "wall_time_s": 120.0, "tokens_per_s": 18000.0}}


def test_stamps_are_left_out_at_any_depth():
    doc = {"a": 1, "provenance": {"x": 1}, "b": [{"wall_time_s": 3, "c": 2}]}
    assert strip_stamps(doc) == {"a": 1, "b": [{"c": 2}]}


def test_numbers_differ_beyond_the_tolerance_only():
    assert diff_json({"x": 1.0}, {"x": 1.0 + 1e-12}) == [("x", 1.0, 1.0 + 1e-12)]
    assert diff_json({"x": 1.0}, {"x": 1.0 + 1e-12}, atol=1e-9) == []
    assert diff_json({"x": 1.0}, {"x": 1.1}, rtol=0.05) == [("x", 1.0, 1.1)]
    assert diff_json({"v": "better"}, {"v": "worse"}) == [("v", "better", "worse")]
    assert diff_json({"x": [1, 2]}, {"x": [1, 2, 3]}) == [("x", [1, 2], [1, 2, 3])]
    assert diff_json({"x": 1}, {}) == [("x", 1, "<absent>")]


def test_tex_ignores_the_stamped_macros_only():
    old = "\\newcommand{\\resCommit}{abc}\n\\newcommand{\\resN}{10}\n"
    assert diff_text(old, old.replace("abc", "def")) == []
    assert diff_text(old, old.replace("10", "11")) == [("line 2", "\\newcommand{\\resN}{10}",
                                                        "\\newcommand{\\resN}{11}")]


def test_a_run_retrained_under_another_config_is_not_a_failure():
    old = json.dumps(RECORD).encode()
    new = json.dumps(RECORD | {"config": {"lr": 0.004}, "metrics": {"val_loss": 4.0}}).encode()
    assert compare_file(f"{RUN}/train.json", old, new) == ("other_config", [])
    stamped = json.dumps(RECORD | {"provenance": {"utc": "2030-01-01"},
                                   "metrics": RECORD["metrics"] | {"wall_time_s": 99.0}}).encode()
    assert compare_file(f"{RUN}/train.json", old, stamped) == ("identical", [])


def git(repo: Path, *args):
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=repo, check=True,
                   capture_output=True)


def write(repo: Path, rel: str, text: str) -> None:
    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    (repo / rel).write_text(text)


def committed_study(repo: Path) -> Path:
    repo.mkdir()
    git(repo, "init", "-q")
    write(repo, "params.yaml", "profile: small\n")
    write(repo, f"{RUN}/train.json", json.dumps(RECORD))
    write(repo, "results/small/stats.json", json.dumps({"H1a": {"verdict": "worse", "diff": 0.01}}))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "study")
    return repo


FOLDERS = ["runs/small", "runs/ladder/small", "metrics/small", "results/small"]


def test_verify_against_the_commit(tmp_path, monkeypatch):
    repo = committed_study(tmp_path / "repo")
    monkeypatch.chdir(repo)
    # a reproduction that changed only the stamps
    write(repo, f"{RUN}/train.json", json.dumps(RECORD | {"provenance": {"utc": "2030-01-01"}}))
    rep, plan_same = verify("HEAD", FOLDERS, 0.0, 0.0)
    assert rep.reproduced and plan_same and len(rep.identical) == 2
    # a new run is listed; a changed number fails
    write(repo, "runs/small/standard/s1/train.json", json.dumps(RECORD | {"seed": 1}))
    write(repo, "results/small/stats.json", json.dumps({"H1a": {"verdict": "worse", "diff": 0.02}}))
    rep, _ = verify("HEAD", FOLDERS, 0.0, 0.0)
    assert rep.new == ["runs/small/standard/s1/train.json"]
    assert [d.line() for d in rep.differences] == ["results/small/stats.json at H1a.diff: committed 0.01, now 0.02"]
    # ... unless the plan changed: then the aggregates are listed as not compared
    write(repo, "params.yaml", "profile: small\n# one more variant\n")
    rep, plan_same = verify("HEAD", FOLDERS, 0.0, 0.0)
    assert rep.reproduced and not plan_same and rep.unchecked == ["results/small/stats.json"]
    # a committed file that is gone is a difference
    (repo / RUN / "train.json").unlink()
    rep, _ = verify("HEAD", FOLDERS, 0.0, 0.0)
    assert [d.line() for d in rep.differences] == [f"{RUN}/train.json: committed 'a committed file', now 'missing'"]
