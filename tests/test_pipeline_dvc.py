"""Integration: `dvc repro` of the pipeline stages on the tiny profile, in a temporary
copy of the repository, exactly as a user would run them."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow


def dvc(cwd: Path, *args, check=True):
    env = dict(os.environ, DVC_NO_ANALYTICS="1", PYTHONHASHSEED="0")
    # the stages run `python -m pipeline...`; make sure it is this interpreter
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    r = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=1500)
    if check and r.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    return r


def set_params(repo: Path, **updates):
    path = repo / "params.yaml"
    raw = yaml.safe_load(path.read_text())
    for dotted, value in updates.items():
        node = raw
        *parents, last = dotted.split(".")
        for k in parents:
            node = node[k]
        node[last] = value
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


def test_data_stages_tiny(repo_copy):
    set_params(repo_copy, profile="tiny")
    dvc(repo_copy, "repro", "prepare", "tokenize", "phases")
    data = repo_copy / "data" / "tiny"
    for split in ("train", "val", "test"):
        assert (data / "corpus" / f"{split}.jsonl").stat().st_size > 0
        assert (data / "tokens" / f"{split}.bin").stat().st_size > 0
    assert (data / "tokenizer" / "tokenizer.json").exists()
    assert (data / "phases" / "classes.npy").exists()
    for name in ("prepare", "tokenize", "phases"):
        json.loads((repo_copy / "metrics" / "tiny" / f"{name}.json").read_text())
    # a second repro does nothing: every stage is cached
    r = dvc(repo_copy, "status", "prepare", "tokenize", "phases")
    assert "changed" not in r.stdout, r.stdout


def test_bad_params_stop_the_stage(repo_copy):
    set_params(repo_copy, profile="tiny")
    path = repo_copy / "params.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["profiles"]["tiny"]["data"]["split"]["val"] = "ten percent"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    r = subprocess.run([sys.executable, "-m", "pipeline.prepare"], cwd=repo_copy,
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert "profiles.tiny.data.split.val" in r.stderr and "params.yaml" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (repo_copy / "data" / "tiny" / "corpus").exists()


def test_full_pipeline_tiny(repo_copy):
    """data -> tokenizer -> phases -> train -> lm-eval -> stats -> paper, then only new runs rerun."""
    import shutil
    if shutil.which("latexmk") is None:
        pytest.skip("latexmk not installed: the paper stage needs it (./setup.sh installs it)")
    # a reduced plan that still holds every hypothesis the paper's text quotes (H0, H1a; H3 for the init)
    raw = yaml.safe_load((repo_copy / "params.yaml").read_text())
    kept = [h for h in raw["hypotheses"]["tests"] if h["id"] in ("H0", "H1a", "H3")]
    set_params(repo_copy, profile="tiny", **{"groups.core": ["standard_notebook", "standard", "resonator_phonetic"],
                                            "groups.ablation": [], "seeds.core": [0, 1], "seeds.ablation": [],
                                            "hypotheses.tests": kept, "hypotheses.design_check": "warn",
                                            # the paper's scale section: the draft ladder's plan, on this study
                                            "ladder.profile": "tiny", "ladder.hypotheses": ["H1a"],
                                            "ladder.variants": ["standard", "resonator_phonetic"]})
    dvc(repo_copy, "repro")
    stats = json.loads((repo_copy / "results" / "tiny" / "stats.json").read_text())
    assert [h["id"] for h in stats["hypotheses"]] == ["H0", "H1a", "H3"]
    h1a = stats["hypotheses"][1]
    assert h1a["comparison"]["n"] == 2 and h1a["verdict"] in ("better", "worse", "equivalent", "inconclusive")
    for v in ("standard", "resonator_phonetic"):
        run = repo_copy / "runs" / "tiny" / v / "s1"
        assert (run / "ckpt" / "final.pt").exists()
        assert json.loads((run / "eval.json").read_text())["metrics"]["lm_test/bits_per_byte"] > 0
    assert (repo_copy / "paper" / "paper.pdf").stat().st_size > 10_000
    assert "changed" not in dvc(repo_copy, "status", "--with-deps", "paper").stdout
    # adding a seed runs only the new (variant, seed) pairs and the stages downstream of all runs
    set_params(repo_copy, **{"seeds.core": [0, 1, 2]})
    out = dvc(repo_copy, "status", "--with-deps", "paper").stdout
    stale = {line.strip().rstrip(":") for line in out.splitlines() if line and not line.startswith((" ", "\t"))}
    assert {s for s in stale if s.startswith(("train_", "eval_"))} == {
        f"{stage}_core@{v}-2" for stage in ("train", "eval") for v in ("standard_notebook", "standard",
                                                                       "resonator_phonetic")}, out
