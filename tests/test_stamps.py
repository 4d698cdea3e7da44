"""Stamps (how fast, when, where) live apart from results (resonator.provenance): records and
checkpoints hold none, stamps.json beside them holds them, DVC never sees it, and the one-off
migration (tools.migrate_stamps) turns an old record into what the code writes now."""
import json

import torch

from evals.reproduction import compare_file
from evals.run import split_run_info
from resonator.provenance import read_stamps, split_stamps, write_stamps
from tools import migrate_stamps

OLD_TRAIN = {"variant": "standard", "seed": 0, "config": {"lr": 0.002}, "diverged": False,
             "provenance": {"utc": "2026-11-27T10:00:00", "commit": "abc"},
             "metrics": {"val_loss": 4.25, "wall_time_s": 120.0, "tokens_per_s": 18000.0, "mfu": None,
                         "n_params": 1000}}


def test_split_moves_every_stamp_and_keeps_every_result():
    rec, stamps = split_stamps(OLD_TRAIN)
    assert rec == {"variant": "standard", "seed": 0, "config": {"lr": 0.002}, "diverged": False,
                   "metrics": {"val_loss": 4.25, "n_params": 1000}}
    assert stamps == {"provenance": OLD_TRAIN["provenance"], "wall_time_s": 120.0, "tokens_per_s": 18000.0,
                      "mfu": None}


def test_sections_of_a_stamps_file_are_kept(tmp_path):
    path = tmp_path / "stamps.json"
    write_stamps(path, "train", {"wall_time_s": 1.0})
    write_stamps(path, "eval", {"eval_seconds": 2.0})
    write_stamps(path, "train", {"wall_time_s": 3.0})
    assert read_stamps(path) == {"train": {"wall_time_s": 3.0}, "eval": {"eval_seconds": 2.0}}
    path.write_text("{torn")
    assert read_stamps(path) == {}                 # never an input to a result: unreadable = none


def test_lm_eval_results_lose_their_date_environment_and_machine_path(tmp_path):
    res = {"results": {"t": {"acc": 0.5}}, "date": 1.0, "git_hash": "x", "pretty_env_info": "torch",
           "configs": {"t": {"metadata": {"config_source": str(tmp_path / "evals" / "tasks" / "t.yaml")}}}}
    clean, info = split_run_info(res, tmp_path)
    assert clean == {"results": {"t": {"acc": 0.5}}, "configs": {"t": {"metadata": {"config_source":
                                                                                     "evals/tasks/t.yaml"}}}}
    assert info == {"date": 1.0, "git_hash": "x", "pretty_env_info": "torch"}


def test_stamps_files_are_never_compared():
    assert compare_file("runs/small/standard/s0/stamps.json", b'{"a": 1}', b'{"a": 2}') == ("unchecked", [])


def test_migration_of_an_old_run(tmp_path):
    run = tmp_path / "runs" / "small" / "standard" / "s0"
    (run / "ckpt").mkdir(parents=True)
    (run / "eval").mkdir()
    (run / "train.json").write_text(json.dumps(OLD_TRAIN))
    (run / "eval.json").write_text(json.dumps({"variant": "standard", "seed": 0, "metrics": {"x": 1.0},
                                               "eval_seconds": 9.0, "lm_eval_version": "0.4.13"}))
    (run / "eval" / "results.json").write_text(json.dumps({"results": {}, "date": 5.0}))
    opt = {"state": {0: {"step": torch.tensor(3.0)}}, "param_groups": [{"lr": 0.1, "params": [0]}]}
    torch.save({"format": "f", "fingerprint": "fp", "config_json": "{}", "code": {"resonator.train": "old"},
                "model": {"w": torch.ones(2)}, "optimizer": opt, "step": 3, "tokens_seen": 30, "elapsed": 12.5,
                "curve_json": "[]", "interval_losses_json": "[]", "rng_cpu": torch.get_rng_state(),
                "num_threads": 1}, run / "ckpt" / "last.pt")
    assert migrate_stamps.main(["--root", str(tmp_path), "--dry-run"]) == 0
    assert "elapsed" in torch.load(run / "ckpt" / "last.pt", weights_only=False)       # a dry run changes nothing
    assert migrate_stamps.main(["--root", str(tmp_path)]) == 0
    assert json.loads((run / "train.json").read_text()) == split_stamps(OLD_TRAIN)[0]
    assert json.loads((run / "eval.json").read_text()) == {"variant": "standard", "seed": 0, "metrics": {"x": 1.0}}
    assert json.loads((run / "eval" / "results.json").read_text()) == {"results": {}}
    stamps = read_stamps(run / "stamps.json")
    assert stamps["train"]["wall_time_s"] == 120.0 and stamps["train"]["provenance"]["commit"] == "abc"
    assert stamps["eval"] == {"eval_seconds": 9.0, "lm_eval_version": "0.4.13", "lm_eval_run": {"date": 5.0}}
    state = torch.load(run / "ckpt" / "last.pt", weights_only=False)
    assert "elapsed" not in state and state["step"] == 3 and state["code"] != {"resonator.train": "old"}
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert migrate_stamps.main(["--root", str(tmp_path)]) == 0                            # idempotent
    assert before == {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
