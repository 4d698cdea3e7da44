"""The DVC tests that start from the tiny study (conftest.tiny_study, one `dvc repro` to the
paper, built once per session and per pytest-xdist worker: this module is the only user of it,
and `--dist loadfile` keeps a module on one worker). Each test works on its own copy.

The full pipeline: data -> tokenizer -> phases -> train -> lm-eval -> stats -> paper, then only new
runs rerun. Fail-safe under DVC itself: a `dvc repro` that fails (bad params, bad hypothesis, bad
profile), is killed, or runs beside another one leaves every finished output as it was; a killed
training resumes from ckpt/last.pt and ends with the same weights."""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import dvc, set_params

pytestmark = pytest.mark.slow

TRAIN = "train_core@standard-0"
RUN = Path("runs/tiny/standard/s0")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def checksums(repo: Path) -> dict:
    """sha256 of every file under runs/, results/, metrics/, data/, and of dvc.lock."""
    out = {"dvc.lock": sha256(repo / "dvc.lock")}
    for top in ("runs", "results", "metrics", "data"):
        for f in sorted((repo / top).rglob("*")):
            if f.is_file() or f.is_symlink():
                out[str(f.relative_to(repo))] = sha256(f)
    return out


def edit_params(repo: Path, fn) -> None:
    path = repo / "params.yaml"
    raw = yaml.safe_load(path.read_text())
    fn(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


@pytest.fixture
def repo(study_copy) -> Path:
    """A private copy of the shared tiny study (conftest.tiny_study: 3 variants x 2 seeds, built up to the paper)."""
    assert (study_copy / RUN / "ckpt" / "final.pt").exists() and (study_copy / "results/tiny/stats.json").exists()
    return study_copy


def _variant_key(raw):
    raw["variants"]["standard"]["lamda_init"] = 0.01


def _hypothesis(raw):
    raw["hypotheses"]["tests"][0]["b"] = "standrad"


def _profile(raw):
    raw["profile"] = "tiyn"


def _train_key(raw):
    raw["profiles"]["tiny"]["train"]["max_step"] = 3


def _data_key(raw):
    raw["profiles"]["tiny"]["data"]["split"]["val"] = "ten percent"


def _undecidable(raw):
    raw["hypotheses"]["design_check"] = "refuse"   # 2 seeds cannot reject at alpha = 0.05


FAULTS = {
    "undecidable-design": (_undecidable, ["repro", "-f", "-s", TRAIN], "cannot decide"),
    "variant-key-stage": (_variant_key, ["repro", TRAIN], "lamda_init"),
    "variant-key-single": (_variant_key, ["repro", "-s", TRAIN], "lamda_init"),
    "variant-key-all": (_variant_key, ["repro", "stats"], "lamda_init"),
    "hypothesis-single": (_hypothesis, ["repro", "-s", "stats"], "standrad"),
    "hypothesis-stage": (_hypothesis, ["repro", "stats"], "standrad"),
    "profile": (_profile, ["repro"], "tiyn"),
    "train-key": (_train_key, ["repro", "-s", TRAIN], "max_step"),
    "data-single": (_data_key, ["repro", "-s", "prepare"], "split.val"),
    "data-stage": (_data_key, ["repro", "prepare"], "split.val"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_failed_repro_changes_nothing(repo, fault):
    edit, args, needle = FAULTS[fault]
    before = checksums(repo)
    original = (repo / "params.yaml").read_text()
    edit_params(repo, edit)
    r = dvc(repo, *args, check=False)
    assert r.returncode != 0, r.stdout + r.stderr
    assert needle in r.stdout + r.stderr
    after = checksums(repo)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"dvc {' '.join(args)} changed or deleted: {changed[:10]}"
    if fault == "variant-key-single":
        # with the params restored, DVC agrees that the kept outputs are the finished ones
        (repo / "params.yaml").write_text(original)
        assert "changed" not in run_dvc(repo, "status", TRAIN).stdout


def run_dvc(repo: Path, *args) -> subprocess.CompletedProcess:
    r = dvc(repo, *args, check=False)
    assert r.returncode == 0, f"dvc {' '.join(args)} exited with {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


def model_tensors_sha(path: Path) -> str:
    obj = torch.load(path, map_location="cpu", weights_only=True)
    h = hashlib.sha256()
    for k in sorted(obj["model"]):
        h.update(k.encode())
        h.update(obj["model"][k].contiguous().numpy().tobytes())
    return h.hexdigest()


def state_fingerprint(path: Path) -> str | None:
    """The run fingerprint a ckpt/last.pt was written for (None while there is none)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)["fingerprint"]
    except FileNotFoundError:
        return None


def dvc_popen(repo: Path, *args) -> subprocess.Popen:
    env = dict(os.environ, DVC_NO_ANALYTICS="1", PYTHONHASHSEED="0")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    return subprocess.Popen([sys.executable, "-m", "dvc", *args], cwd=repo, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(cond, proc, what, timeout=120):
    deadline = time.monotonic() + timeout
    while not cond():
        assert proc.poll() is None, f"dvc ended before {what}:\n{proc.stdout.read()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def running_stage(repo: Path, pid: int) -> bool:
    """DVC has recorded process `pid` in its stage lock (.dvc/tmp/rwlock): the stage command runs."""
    try:
        text = (repo / ".dvc" / "tmp" / "rwlock").read_text()
    except FileNotFoundError:
        return False
    return f'"pid": {pid}' in text.replace('"pid":{', '"pid": {')


def test_killed_repro_resumes_to_the_same_weights_and_a_second_repro_is_refused(repo):
    # long enough to be killed mid-way, checkpoints often
    # (the tiny model trains ~100 steps/s: 1,500 steps outlast the refused second `dvc repro`, whose
    # start-up takes seconds, and the kill below waits for the first checkpoint by content)
    set_params(repo, **{"profiles.tiny.train.epochs": 10.0, "profiles.tiny.train.max_steps": 1500,
                        "profiles.tiny.train.ckpt_interval": 10, "profiles.tiny.train.eval_interval": 500})
    last, final = repo / RUN / "ckpt" / "last.pt", repo / RUN / "ckpt" / "final.pt"
    old_fingerprint, old_final = state_fingerprint(last), sha256(final)
    others = {k: v for k, v in checksums(repo).items() if not k.startswith(str(RUN)) and k != "dvc.lock"}

    proc = dvc_popen(repo, "repro", TRAIN)
    wait_for(lambda: running_stage(repo, proc.pid), proc, "the stage to start")
    # freeze the whole process group (dvc and the stage) right after the new run's first checkpoint
    # (by content, not inode: the file system may give the new file the old one's inode number), so
    # that it cannot finish while the second dvc repro starts (seconds, more on a busy machine)
    wait_for(lambda: state_fingerprint(last) not in (None, old_fingerprint), proc, "a checkpoint")
    os.killpg(proc.pid, signal.SIGSTOP)
    assert proc.poll() is None, "training ended before the kill; raise max_steps"
    # the same dvc repro again while the first one holds the stage: DVC's stage lock
    # (.dvc/tmp/rwlock) refuses it at once ("... is busy, it is being blocked by: (PID ...)")
    second = dvc(repo, "repro", TRAIN, check=False)
    assert second.returncode != 0 and "is busy" in second.stdout + second.stderr, second.stdout + second.stderr
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    first_out = proc.stdout.read()
    assert "not resuming" in first_out and "different run config" in first_out, first_out
    assert sha256(final) == old_final          # the killed run did not touch the finished model
    assert {k: v for k, v in checksums(repo).items() if k in others} == others

    # DVC's stale stage-lock entries of the killed run are no obstacle (DVC removes them, with
    # a warning: "Process ... had been killed. Auto removed it from the lock file.")
    resumed = run_dvc(repo, "repro", TRAIN)
    out = resumed.stdout + resumed.stderr
    assert "resumed from" in out and "at step 0/" not in out, out
    resumed_sha = model_tensors_sha(final)
    resumed_curve = (repo / RUN / "curve.tsv").read_text()
    assert sha256(final) != old_final

    # the same run, uninterrupted: `dvc repro -f` trains from step 0 (the state is a finished one)
    forced = run_dvc(repo, "repro", "-f", "-s", TRAIN)
    assert "finished run (1500/1500 steps)" in forced.stdout and "resumed from" not in forced.stdout, forced.stdout
    assert model_tensors_sha(final) == resumed_sha
    assert (repo / RUN / "curve.tsv").read_text() == resumed_curve
    assert "changed" not in run_dvc(repo, "status", TRAIN).stdout


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
