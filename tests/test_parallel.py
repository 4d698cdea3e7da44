"""A run as data-parallel CPU processes: the batch split, determinism, and resumption after
a SIGKILL of the launcher (its ranks die with it; the rerun continues bit for bit)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from resonator.batching import auto_micro_batch, resolve
from resonator.config import ModelConfig, TrainConfig
from resonator.errors import ProjectError
from tests.conftest import make_stage

P = "tiny"
TRAIN = {"profiles.tiny.train.batch": 8, "profiles.tiny.train.micro_batch": None,
         "profiles.tiny.train.grad_accum": None, "profiles.tiny.train.processes": 2,
         "profiles.tiny.train.max_steps": 30, "profiles.tiny.train.ckpt_interval": 2,
         "profiles.tiny.train.eval_interval": 10}


def test_batch_split():
    mc = ModelConfig(kind="standard", vocab_size=300, max_seq_len=32, d_model=32, n_layers=2, n_heads=2, d_ff=64)
    legacy = resolve(TrainConfig(micro_batch=8, grad_accum=4), mc, world=1)
    assert (legacy.batch, legacy.micro_batch, legacy.grad_accum) == (32, 8, 4)
    auto = resolve(TrainConfig(batch=32), mc, world=2)               # plenty of memory: no accumulation
    assert (auto.micro_batch, auto.grad_accum) == (16, 2)            # grad_accum counts all processes
    tight = resolve(TrainConfig(batch=32, memory_budget_mb=0.3), mc, world=1)
    assert tight.micro_batch < 32 and 32 % tight.micro_batch == 0 and tight.micro_batch * tight.grad_accum == 32
    with pytest.raises(ProjectError, match="do not split over 3 processes"):
        resolve(TrainConfig(batch=32), mc, world=3)
    with pytest.raises(ProjectError, match="needs `batch`"):
        resolve(TrainConfig(), mc, world=1)
    assert auto_micro_batch(32, 10, 95) == 8 and auto_micro_batch(32, 10, 5) == 1


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_stage(tmp_path_factory.mktemp("parallel"), P, **TRAIN)


def copy_of(template, tmp_path, name):
    import shutil
    d = tmp_path / name
    shutil.copytree(template, d)
    return d


def train_cmd(stage, **kw):
    env = dict(os.environ, OMP_NUM_THREADS="1", RESONATOR_SLOTS_DIR=str(stage / "slots"))
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "RESONATOR_PROFILE"):
        env.pop(k, None)
    return dict(args=[sys.executable, "-m", "pipeline.train", "--variant", "standard", "--seed", "0"],
                cwd=stage, env=env, **kw)


def live_in_session(sid: int) -> list[str]:
    """Processes of a session that are not zombies."""
    out = subprocess.run(["ps", "-o", "pid=,stat=", "-s", str(sid)], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.split() and not line.split()[1].startswith("Z")]


def weights(stage):
    sd = torch.load(stage / "runs" / P / "standard" / "s0" / "ckpt" / "final.pt", weights_only=True)["model"]
    return {k: v.clone() for k, v in sd.items()}


def test_two_processes_deterministic_and_recorded(template, tmp_path):
    finals = []
    for name in ("a", "b"):
        stage = copy_of(template, tmp_path, name)
        r = subprocess.run(**train_cmd(stage, capture_output=True, text=True, timeout=300))
        assert r.returncode == 0, r.stderr
        assert "training as 2 processes x 1 thread(s)" in r.stdout
        m = json.loads((stage / "runs" / P / "standard" / "s0" / "train.json").read_text())["metrics"]
        assert (m["world_size"], m["num_threads"], m["batch"], m["micro_batch"], m["grad_accum"]) == (2, 1, 8, 4, 2)
        finals.append(weights(stage))
    assert finals[0].keys() == finals[1].keys() and all(torch.equal(finals[0][k], finals[1][k]) for k in finals[0])


def test_sigkill_of_the_launcher_then_resume_is_identical(template, tmp_path):
    full = copy_of(template, tmp_path, "full")
    assert subprocess.run(**train_cmd(full, capture_output=True, timeout=300)).returncode == 0
    stage = copy_of(template, tmp_path, "killed")
    last = stage / "runs" / P / "standard" / "s0" / "ckpt" / "last.pt"
    proc = subprocess.Popen(**train_cmd(stage, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True))
    deadline = time.time() + 120
    while not last.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert last.exists()
    os.kill(proc.pid, signal.SIGKILL)          # the launcher only: its ranks must not outlive it
    proc.wait()
    ranks = live_in_session(proc.pid)
    deadline = time.time() + 10
    while ranks and time.time() < deadline:   # the kernel delivers the death signal; reaping takes a moment
        time.sleep(0.1)
        ranks = live_in_session(proc.pid)
    assert ranks == [], f"ranks still running after the launcher died: {ranks}"
    assert not (stage / "runs" / P / "standard" / "s0" / "ckpt" / "final.pt").exists()
    r = subprocess.run(**train_cmd(stage, capture_output=True, text=True, timeout=300))
    assert r.returncode == 0, r.stderr
    assert "resumed from" in r.stdout
    a, b = weights(full), weights(stage)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # the records and checkpoints hold no stamp (wall time, provenance): the same bytes as the run that
    # was never killed; the stamps sit apart, in stamps.json
    run = Path("runs") / P / "standard" / "s0"
    for rel in ("train.json", "curve.tsv", "ckpt/final.pt", "ckpt/last.pt"):
        assert (full / run / rel).read_bytes() == (stage / run / rel).read_bytes(), rel
    stamps = json.loads((stage / run / "stamps.json").read_text())["train"]
    assert stamps["wall_time_s"] > 0 and stamps["tokens_per_s"] > 0 and stamps["provenance"]["utc"]
    assert "elapsed" not in torch.load(stage / run / "ckpt" / "last.pt", weights_only=False)
