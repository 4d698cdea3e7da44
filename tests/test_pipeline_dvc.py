"""Integration: `dvc repro` of the pipeline stages on the tiny profile, in a temporary
copy of the repository, exactly as a user would run them."""
import subprocess
import sys

import pytest
import yaml

from tests.conftest import set_params

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
