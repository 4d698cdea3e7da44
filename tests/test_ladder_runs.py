"""Ladder runs at tiny scale (seconds): tuning never needs the test split, learning-rate
selection by the stage, the draft gate, chained lengths bit-identical to one long run, and
every length scored."""
import json
import shutil
from pathlib import Path

import pytest
import torch

from pipeline.eval_rung import main as eval_rung
from pipeline.select_lr import main as select_lr
from pipeline.train_rung import main as train_rung
from resonator import ladder_train as lt
from resonator.errors import ProjectError
from resonator.ladder import Ladder
from resonator.layout import LadderLayout
from resonator.params import load_params
from tests.conftest import make_stage
from tests.fabricate_ladder import fabricate_tuning

GRID = [5.0e-4, 1.0e-3, 2.0e-3, 4.0e-3, 8.0e-3]   # the tests' own grid, not the repo's
RUNGS = {"r16": {"model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32, "max_seq_len": 32},
                 "lengths": [0.1, 0.2], "tune_length": 0.1, "lr_grid": GRID},
         "r32": {"model": {"d_model": 32, "n_layers": 2, "n_heads": 2, "d_ff": 64, "max_seq_len": 32},
                 "lengths": [0.1], "tune_length": 0.1, "lr_grid": GRID}}
LADDER = {"ladder.profile": "tiny", "ladder.seeds": [0, 1], "ladder.tune_seeds": [100], "ladder.checks": "warn",
          "ladder.variants": ["standard", "resonator_phonetic"], "ladder.hypotheses": ["H1a"], "ladder.rungs": RUNGS,
          "profiles.tiny.train.max_steps": None, "profiles.tiny.eval.tasks": ["lm_test", "rhyme"],
          # a draft, whatever the repository registers; `run` is tools.run_study's list, unused here
          "ladder.status": "draft", "ladder.registered": "YYYY-MM-DD", "ladder.run": [],
          "ladder.lr_grid": GRID, "ladder.revisions": []}   # the repository's revisions name its own rungs
REGISTERED = {"ladder.status": "registered", "ladder.registered": "2026-12-01"}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A tiny-profile stage directory with tokens, phases and evaluation sets."""
    import os

    from pipeline.evalsets import main as evalsets
    from pipeline.phases import run as phases
    d = make_stage(tmp_path_factory.mktemp("ladder"), "tiny", **LADDER)
    p = load_params(d / "params.yaml")
    phases(p.active["phases"], d / p.layout.tokenizer, d / p.layout.phases, d / p.layout.stage_metrics("phases"))
    cwd = os.getcwd()
    os.chdir(d)
    try:
        assert evalsets([]) == 0
    finally:
        os.chdir(cwd)
    return d


def stage_copy(template: Path, tmp_path: Path, name: str, **updates) -> Path:
    import yaml
    d = tmp_path / name
    shutil.copytree(template, d)
    raw = yaml.safe_load((d / "params.yaml").read_text())
    for dotted, value in updates.items():
        node = raw
        *parents, last = dotted.split(".")
        for k in parents:
            node = node[k]
        node[last] = value
    (d / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return d


def ladder_of(d: Path) -> tuple[Ladder, LadderLayout]:
    lad = Ladder(load_params(d / "params.yaml"))
    return lad, LadderLayout(lad.profile, root=d)


def test_tuning_runs_without_the_test_split(template, tmp_path, monkeypatch):
    d = stage_copy(template, tmp_path, "tune")
    for f in (d / "data/tiny/tokens/test.bin", d / "data/tiny/corpus/test.jsonl"):
        f.unlink()                                           # the test split is absent
    monkeypatch.chdir(d)
    lad, lay = ladder_of(d)
    for lr in lad.lr_grid:
        assert train_rung(["--rung", "r16", "--variant", "standard", "--lr", str(lr), "--seed", "100"]) == 0
    rec = json.loads(lay.tune_run("r16", "standard", 0.002, 100).train_json.read_text())
    assert rec["tuning"] and rec["selection"]["windows"] == "every validation window"
    assert rec["selection"]["val_loss"] > 0 and not lay.tune_run("r16", "standard", 0.002, 100).ckpt.exists()
    assert select_lr(["--rung", "r16", "--variant", "standard"]) == 0       # checks: warn takes an edge best
    choice = json.loads(lay.lr_file("r16", "standard").read_text())
    table = json.loads(lay.tuning_table("r16", "standard").read_text())
    assert choice["lr"] == table["lr"] in lad.lr_grid and len(table["rows"]) == len(lad.lr_grid)
    with pytest.raises(ProjectError, match="does not hold seed 0"):   # final seeds never tune
        train_rung(["--rung", "r16", "--variant", "standard", "--lr", "0.002", "--seed", "0"])


def test_a_tuning_stage_runs_each_rate_and_tuning_seed_as_its_own_run(template, tmp_path, monkeypatch):
    """The tune stage's command (--tune) runs every rate of the rung's own grid on every tuning
    seed, each the run that --lr and --seed give alone (byte-identical record and curve); a rate
    outside the rung's grid is refused by its key; a final run still needs its seed."""
    d = stage_copy(template, tmp_path, "stage", **{"ladder.tune_seeds": [100, 101],
                                                   "ladder.rungs.r16.lr_grid": [2.0e-3, 4.0e-3]})
    monkeypatch.chdir(d)
    lad, lay = ladder_of(d)
    assert train_rung(["--rung", "r16", "--variant", "standard", "--tune"]) == 0
    trained = sorted(p.relative_to(lay.runs / "tune").as_posix() for p in (lay.runs / "tune").glob("*/*/*/*"))
    assert trained == [f"r16/standard/lr{lr}/s{s}" for lr in ("0.002", "0.004") for s in (100, 101)]
    last = lay.tune_run("r16", "standard", 0.004, 101)
    kept = (last.train_json.read_bytes(), last.curve.read_bytes())
    shutil.rmtree(last.dir)
    assert train_rung(["--rung", "r16", "--variant", "standard", "--lr", "0.004", "--seed", "101"]) == 0
    assert (last.train_json.read_bytes(), last.curve.read_bytes()) == kept
    with pytest.raises(ProjectError, match="ladder.rungs.r16.lr_grid"):
        train_rung(["--rung", "r16", "--variant", "standard", "--lr", "0.001", "--seed", "100"])
    with pytest.raises(SystemExit):
        train_rung(["--rung", "r16", "--variant", "standard", "--tune", "--lr", "0.002"])
    runs = [lay.tune_run("r16", "standard", 0.002, s) for s in (100, 101)]
    stage = [(r.train_json.read_bytes(), r.curve.read_bytes()) for r in runs]
    assert all(json.loads(t)["selection"]["val_loss"] > 0 for t, _ in stage) and stage[0] != stage[1]
    # a rerun of the stage keeps the runs trained with this config by this code, and trains again
    # a run whose stamps name other code (DVC reruns a stage when its code changed)
    stamps = json.loads(runs[0].stamps.read_text())
    assert stamps["train"]["provenance"]["code"] == lt.code_version()
    stamps["train"]["provenance"]["code"] = "older code"
    runs[0].stamps.write_text(json.dumps(stamps))
    before = [r.train_json.stat().st_mtime_ns for r in runs]
    assert train_rung(["--rung", "r16", "--variant", "standard", "--lr", "0.002"]) == 0
    after = [r.train_json.stat().st_mtime_ns for r in runs]
    assert after[0] != before[0] and after[1] == before[1]
    assert (runs[0].train_json.read_bytes(), runs[0].curve.read_bytes()) == stage[0]
    with pytest.raises(SystemExit) as e:
        train_rung(["--rung", "r16", "--variant", "standard"])
    assert e.value.code == 2                                       # argparse: a final run needs --seed


def test_select_lr_names_the_tuning_stage_of_a_missing_run(template, tmp_path, monkeypatch):
    d = stage_copy(template, tmp_path, "missing")
    monkeypatch.chdir(d)
    with pytest.raises(ProjectError) as e:
        select_lr(["--rung", "r16", "--variant", "standard"])
    assert "dvc repro -s ladder/dvc.yaml:tune@r16-standard`" in e.value.line()


def test_select_lr_refuses_an_edge_with_the_value_to_add(template, tmp_path, monkeypatch):
    d = stage_copy(template, tmp_path, "edge", **{"ladder.checks": "refuse"})
    monkeypatch.chdir(d)
    lad, lay = ladder_of(d)
    fabricate_tuning(lad, lay, best_index=2)
    assert select_lr(["--rung", "r16", "--variant", "standard"]) == 0
    assert json.loads(lay.lr_file("r16", "standard").read_text())["lr"] == 0.002
    fabricate_tuning(lad, lay, best_index=4)
    lay.lr_file("r16", "standard").unlink()
    with pytest.raises(ProjectError) as e:
        select_lr(["--rung", "r16", "--variant", "standard"])
    line = e.value.line()
    assert "ladder.lr_grid" in line and "add 0.016" in line and "\n" not in line
    assert not lay.lr_file("r16", "standard").exists()


def test_draft_refuses_final_runs(template, tmp_path, monkeypatch):
    d = stage_copy(template, tmp_path, "draft")
    monkeypatch.chdir(d)
    for main in (train_rung, eval_rung):
        with pytest.raises(ProjectError, match="ladder.status.*is draft"):
            main(["--rung", "r16", "--variant", "standard", "--seed", "0"])


def final_weights(lay: LadderLayout, length: float) -> dict:
    path = lay.final_run("r16", "standard", 0).length(length).final
    return torch.load(path, weights_only=True)["model"]


def test_chained_lengths_equal_one_long_run_and_every_length_is_scored(template, tmp_path, monkeypatch):
    runs = {}
    for name, lengths in (("chained", [0.1, 0.2]), ("straight", [0.2])):
        rungs = json.loads(json.dumps(RUNGS))
        rungs["r16"]["lengths"], rungs["r16"]["tune_length"] = lengths, lengths[0]
        d = stage_copy(template, tmp_path, name, **REGISTERED, **{"ladder.rungs": rungs})
        monkeypatch.chdir(d)
        lad, lay = ladder_of(d)
        lay.lr_file("r16", "standard").parent.mkdir(parents=True)
        lay.lr_file("r16", "standard").write_text(json.dumps({"lr": 0.004}))
        assert train_rung(["--rung", "r16", "--variant", "standard", "--seed", "0"]) == 0
        runs[name] = (d, lay)
    (dc, chained), (_, straight) = runs["chained"], runs["straight"]
    a, b = final_weights(chained, 0.2), final_weights(straight, 0.2)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rec = json.loads(chained.final_run("r16", "standard", 0).train_json.read_text())
    assert set(rec["lengths"]) == {"0.1", "0.2"} and rec["lr"] == 0.004
    assert rec["lengths"]["0.2"]["metrics"]["steps"] > rec["lengths"]["0.1"]["metrics"]["steps"]
    # a rerun keeps what was trained with the same config by the same code
    monkeypatch.chdir(dc)
    before = chained.final_run("r16", "standard", 0).length(0.2).final.stat().st_mtime_ns
    assert train_rung(["--rung", "r16", "--variant", "standard", "--seed", "0"]) == 0
    assert chained.final_run("r16", "standard", 0).length(0.2).final.stat().st_mtime_ns == before
    assert not lt.finished_record(chained.final_run("r16", "standard", 0).length(0.2),
                                  json.loads(chained.final_run("r16", "standard", 0).length(0.2).train_json
                                             .read_text())["config"], "other code")
    # every length's final weights are scored on the test split
    assert eval_rung(["--rung", "r16", "--variant", "standard", "--seed", "0"]) == 0
    ev = json.loads(chained.final_run("r16", "standard", 0).eval_json.read_text())["lengths"]
    assert set(ev) == {"0.1", "0.2"}
    assert all(ev[k]["metrics"]["lm_test/bits_per_byte"] > 0 for k in ev)
    assert ev["0.1"]["checkpoint_sha256"] != ev["0.2"]["checkpoint_sha256"]
    assert chained.final_run("r16", "standard", 0).length(0.1).items.exists()


def test_a_rerun_after_a_code_change_chains_the_lengths_again(template, tmp_path, monkeypatch, capsys):
    # DVC reruns a final run when its code changed, over its persisted lengths: the longer length
    # must start again from the shorter one's new state, not from its own finished one (which
    # training refuses to resume, so it trained from step 0 and the curve lost the row where the
    # shorter length ended)
    from resonator.provenance import read_stamps, write_stamps
    d = stage_copy(template, tmp_path, "rerun", **REGISTERED)
    monkeypatch.chdir(d)
    lad, lay = ladder_of(d)
    lay.lr_file("r16", "standard").parent.mkdir(parents=True)
    lay.lr_file("r16", "standard").write_text(json.dumps({"lr": 0.004}))
    run = lay.final_run("r16", "standard", 0)
    assert train_rung(["--rung", "r16", "--variant", "standard", "--seed", "0"]) == 0
    curve, weights = run.curve.read_text(), final_weights(lay, 0.2)
    for x in (0.1, 0.2):                      # as if trained by other code
        stamps = read_stamps(run.length(x).stamps)["train"]
        write_stamps(run.length(x).stamps, "train", stamps | {"provenance": stamps["provenance"] | {"code": "old"}})
    capsys.readouterr()
    assert train_rung(["--rung", "r16", "--variant", "standard", "--seed", "0"]) == 0
    assert "continues from" in capsys.readouterr().out
    assert run.curve.read_text() == curve
    again = final_weights(lay, 0.2)
    assert all(torch.equal(again[k], weights[k]) for k in weights)
