"""The ladder in the DAG: the matrices expand to one tuning stage per (rung, variant) (every rate
of the rung's grid, its tuning seeds in turn), one selection per (rung, variant) and one final
run and evaluation per (rung, variant, seed); end to end, `dvc repro ladder_stats` of a 2-rung tiny
ladder; adding a rung leaves every existing ladder stage up to date."""
import json
from pathlib import Path

import pytest
import yaml

from resonator.layout import ladder_stage
from tests.conftest import dvc, make_repo_copy, set_params

RUNGS = {"r16": {"model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32, "max_seq_len": 32},
                 "lengths": [0.05, 0.1], "tune_length": 0.05, "lr_grid": [0.002, 0.004]},
         "r32": {"model": {"d_model": 32, "n_layers": 2, "n_heads": 2, "d_ff": 64, "max_seq_len": 32},
                 "lengths": [0.05], "tune_length": 0.05, "lr_grid": [0.002, 0.004]}}
TINY_LADDER = {"profile": "tiny", "ladder.profile": "tiny", "ladder.status": "registered",
               "ladder.registered": "2026-12-01", "ladder.checks": "warn",
               "ladder.variants": ["standard", "resonator_phonetic"], "ladder.seeds": [0, 1],
               "ladder.tune_seeds": [100, 101], "ladder.lr_grid": [0.002, 0.004], "ladder.hypotheses": ["H1a"],
               "ladder.rungs": RUNGS, "ladder.run": ["r16", "r32"], "profiles.tiny.train.max_steps": None,
               "ladder.revisions": []}   # the repository's revisions name its own rungs


def stage_names(repo: Path) -> set[str]:
    out = dvc(repo, "stage", "list", "--all", "--name-only").stdout
    return {line.strip() for line in out.splitlines() if line.strip()}


def expected(rungs) -> set[str]:
    v, s = ("standard", "resonator_phonetic"), (0, 1)
    return ({ladder_stage(f"tune@{r}-{x}") for r in rungs for x in v}
            | {ladder_stage(f"select_lr@{r}-{x}") for r in rungs for x in v}
            | {ladder_stage(f"{st}@{r}-{x}-{k}") for st in ("train_rung", "eval_rung") for r in rungs for x in v
               for k in s}
            | {"ladder_stats"})


def stale(repo: Path) -> set[str]:
    """The stages `dvc status` calls out of date, from one call without targets: with targets,
    DVC collects the pipeline once per target (29 targets: 87 s of CPU against 12 s here)."""
    return set(json.loads(dvc(repo, "status", "--json").stdout))


def ladder_stages(names: set[str]) -> set[str]:
    return {n for n in names if n.rpartition(":")[2].split("@")[0] in
            ("tune", "select_lr", "train_rung", "eval_rung", "ladder_stats")}


def test_matrix_expands_to_one_tuning_stage_per_variant_and_per_final_run(repo_copy):
    set_params(repo_copy, **TINY_LADDER)
    assert ladder_stages(stage_names(repo_copy)) == expected(["r16", "r32"])


def test_a_draft_ladder_adds_no_run_to_dvc_repro(repo_copy):
    """A draft (what make_repo_copy makes of the ladder): ladder_stats, which writes the plan, is
    the ladder's only stage."""
    assert yaml.safe_load((repo_copy / "params.yaml").read_text())["ladder"]["status"] == "draft"
    assert ladder_stages(stage_names(repo_copy)) == {"ladder_stats"}


def test_the_registered_ladder_expands_to_its_rungs_runs(tmp_path):
    """The committed registration: every stage of the rungs in ladder.run, nothing else."""
    repo = make_repo_copy(tmp_path / "repo", registered_ladder=True)
    raw = yaml.safe_load((repo / "params.yaml").read_text())["ladder"]
    per_rung = len(raw["variants"]) * (1 + 1 + 2 * len(raw["seeds"]))   # tune, select_lr, then per seed
    names = ladder_stages(stage_names(repo))
    assert len(names) == len(raw["run"]) * per_rung + 1
    assert {n.split("@")[1].split("-")[0] for n in names if "@" in n} == set(raw["run"])


@pytest.mark.slow
def test_ladder_end_to_end_and_a_new_rung_runs_alone(repo_copy):
    """From a fresh copy: `dvc repro ladder_stats` runs the tiny profile's data stages, then the
    ladder (not the main study: the ladder's stages never wait on it). Its own copy, not the shared
    tiny study, so that pytest-xdist runs it beside the tests that share that study."""
    repo = repo_copy
    set_params(repo, **TINY_LADDER)
    dvc(repo, "repro", "ladder_stats")
    res = repo / "results" / "tiny" / "ladder"
    doc = json.loads((res / "ladder.json").read_text())
    assert [c["label"] for c in doc["cells"]] == ["r16 e0.05", "r16 e0.1", "r32 e0.05"]
    assert all(c["n_runs"] == 4 for c in doc["cells"])
    assert {r for r in doc["tuning"]} == {"r16", "r32"}
    assert all(doc["tuning"][r][v]["lr"] in (0.002, 0.004) for r in doc["tuning"] for v in doc["tuning"][r])
    assert (res / "figures" / "ladder.pdf").exists() and (res / "tex" / "table_verdicts.tex").exists()
    train = json.loads((repo / "runs/ladder/tiny/final/r16/standard/s1/train.json").read_text())
    assert set(train["lengths"]) == {"0.05", "0.1"}
    assert not stale(repo) & expected(["r16", "r32"])
    # a third rung: only its stages (and the ladder's statistics) are out of date
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    raw["ladder"]["rungs"]["r24"] = {"model": {"d_model": 24, "n_layers": 1, "n_heads": 2, "d_ff": 48,
                                               "max_seq_len": 32},
                                     "lengths": [0.05], "tune_length": 0.05, "lr_grid": [0.002, 0.004]}
    raw["ladder"]["run"].append("r24")
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    assert stale(repo) & expected(["r16", "r32", "r24"]) == expected(["r24"])
