"""Integration: `dvc repro` of the pipeline stages on the tiny profile, in a temporary
copy of the repository, exactly as a user would run them."""
import json
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.conftest import SHARES_TINY_STUDY, dvc, set_params

pytestmark = pytest.mark.slow


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


@SHARES_TINY_STUDY
def test_full_pipeline_tiny(study_copy):
    """data -> tokenizer -> phases -> train -> lm-eval -> stats -> paper (one `dvc repro` of the
    shared tiny study, conftest.tiny_study), then only new runs rerun."""
    if shutil.which("latexmk") is None:
        pytest.skip("latexmk not installed: the paper stage needs it (./setup.sh installs it)")
    repo = study_copy
    data = repo / "data" / "tiny"
    for split in ("train", "val", "test"):
        assert (data / "corpus" / f"{split}.jsonl").stat().st_size > 0
        assert (data / "tokens" / f"{split}.bin").stat().st_size > 0
    assert (data / "tokenizer" / "tokenizer.json").exists()
    assert (data / "phases" / "classes.npy").exists()
    for name in ("prepare", "tokenize", "phases"):
        json.loads((repo / "metrics" / "tiny" / f"{name}.json").read_text())
    stats = json.loads((repo / "results" / "tiny" / "stats.json").read_text())
    assert [h["id"] for h in stats["hypotheses"]] == ["H0", "H1a", "H3"]
    h1a = stats["hypotheses"][1]
    assert h1a["comparison"]["n"] == 2 and h1a["verdict"] in ("better", "worse", "equivalent", "inconclusive")
    for v in ("standard", "resonator_phonetic"):
        run = repo / "runs" / "tiny" / v / "s1"
        assert (run / "ckpt" / "final.pt").exists()
        assert json.loads((run / "eval.json").read_text())["metrics"]["lm_test/bits_per_byte"] > 0
    assert (repo / "paper" / "paper.pdf").stat().st_size > 10_000
    # a second repro does nothing: every stage, the data stages included, is cached
    assert "changed" not in dvc(repo, "status", "--with-deps", "paper").stdout
    # adding a seed runs only the new (variant, seed) pairs and the stages downstream of all runs
    set_params(repo, **{"seeds.core": [0, 1, 2]})
    out = dvc(repo, "status", "--with-deps", "paper").stdout
    stale = {line.strip().rstrip(":") for line in out.splitlines() if line and not line.startswith((" ", "\t"))}
    assert {s for s in stale if s.startswith(("train_", "eval_"))} == {
        f"{stage}_core@{v}-2" for stage in ("train", "eval") for v in ("standard_notebook", "standard",
                                                                       "resonator_phonetic")}, out
