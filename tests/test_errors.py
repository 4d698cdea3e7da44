"""Expected failures end as one line, `error: <file or key>: <what> (<fix>)`, exit code 2,
no traceback, and leave finished files alone. Small synthetic inputs in a temporary stage
directory (no DVC): each test breaks one thing and runs the stage's `main` through
`run_main` (a few through a real subprocess)."""
import errno
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from resonator.cli import run_main
from tests.conftest import make_stage

ROOT = Path(__file__).resolve().parents[1]
P = "tiny"
REBUILD = "(rebuild them: `dvc repro -f tokenize`)"


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A stage directory: params.yaml, a synthetic corpus, and the tokenize stage's real outputs."""
    return make_stage(tmp_path_factory.mktemp("stage"), P)


@pytest.fixture
def stage(template, tmp_path, monkeypatch):
    d = tmp_path / "stage"
    shutil.copytree(template, d)
    monkeypatch.chdir(d)
    return d


def cli(stage, *args):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    env.pop("RESONATOR_PROFILE", None)
    env.pop("RESONATOR_DEBUG", None)
    return subprocess.run([sys.executable, "-m", *args], cwd=stage, env=env, capture_output=True, text=True,
                          timeout=300)


def train_main(argv=("--variant", "standard", "--seed", "0")):
    from pipeline.train import main
    return run_main(main, list(argv))


def eval_main(argv=("--variant", "standard", "--seed", "0")):
    from pipeline.evaluate import main
    return run_main(main, list(argv))


# ---------------------------------------------------------------------------
# Training: missing or mismatched inputs, a corrupt checkpoint
# ---------------------------------------------------------------------------

def test_train_without_meta_json_cli(stage):
    (stage / "data" / P / "tokens" / "meta.json").unlink()
    r = cli(stage, "pipeline.train", "--variant", "standard", "--seed", "0")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.splitlines() == [
        f"error: data/{P}/tokens/meta.json: does not exist (run `dvc repro tokenize` first)"]
    r = cli(stage, "pipeline.train", "--variant", "standard", "--seed", "0", "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr and "TokenizerError" in r.stderr
    assert not (stage / "runs").exists()


def test_train_bin_cut_to_a_quarter_is_refused(stage, capsys):
    f = stage / "data" / P / "tokens" / "train.bin"
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 4 // 2 * 2])
    assert train_main() == 2
    assert one_line(capsys) == (f"error: data/{P}/tokens/train.bin: is {len(data) // 4 // 2 * 2} bytes but meta.json "
                                f"records {len(data)} (truncated or replaced since tokenizing) {REBUILD}")
    assert not (stage / "runs" / P / "standard" / "s0" / "train.json").exists()


def test_odd_sized_train_bin_is_refused(stage, capsys):
    f = stage / "data" / P / "tokens" / "train.bin"
    n = f.stat().st_size
    with open(f, "ab") as fh:
        fh.write(b"\0")
    assert train_main() == 2
    line = one_line(capsys)
    assert line.startswith(f"error: data/{P}/tokens/train.bin: is {n + 1} bytes but meta.json records {n} ")
    assert "multiple of the data-type" not in line


def test_train_bin_with_changed_content_is_refused(stage, capsys):
    f = stage / "data" / P / "tokens" / "val.bin"
    data = bytearray(f.read_bytes())
    data[10] ^= 1
    f.write_bytes(bytes(data))
    assert train_main() == 2
    assert one_line(capsys) == (f"error: data/{P}/tokens/val.bin: content differs from the sha256 meta.json records "
                                f"(changed since tokenizing) {REBUILD}")


def test_meta_json_without_records_is_refused(stage, capsys):
    meta_path = stage / "data" / P / "tokens" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta.pop("files", None), meta.pop("tokenizer_file", None)   # as the tokenize stage wrote it before the checks
    meta_path.write_text(json.dumps(meta))
    assert train_main() == 2
    assert one_line(capsys) == (f"error: data/{P}/tokens/meta.json: records no size and sha256 of train.bin "
                                f"(written before token files were checked) {REBUILD}")


def test_tokenize_records_sizes_and_hashes(stage):
    import hashlib
    meta = json.loads((stage / "data" / P / "tokens" / "meta.json").read_text())
    for name in ("train.bin", "val.bin", "test.bin", "../tokenizer/tokenizer.json"):
        f = stage / "data" / P / "tokens" / name
        rec = meta["tokenizer_file"] if name.endswith(".json") else meta["files"][name]
        assert rec == {"bytes": f.stat().st_size, "sha256": hashlib.sha256(f.read_bytes()).hexdigest()}


@pytest.mark.parametrize("damage", ["truncated", "junk"])
def test_corrupt_resume_checkpoint(stage, capsys, damage):
    import torch
    last = stage / "runs" / P / "standard" / "s0" / "ckpt" / "last.pt"
    last.parent.mkdir(parents=True)
    if damage == "truncated":
        torch.save({"format": "resonator-train-state-v1", "x": torch.zeros(1000)}, last)
        last.write_bytes(last.read_bytes()[:300])
    else:
        last.write_bytes(b"not a checkpoint at all")
    before = last.read_bytes()
    assert train_main() == 2
    line = one_line(capsys)
    assert line == (f"error: runs/{P}/standard/s0/ckpt/last.pt: checkpoint is unreadable (truncated or corrupt) "
                    f"(delete it and rerun the training stage (`dvc repro` retrains the run); "
                    f"the run restarts from scratch)")
    assert "weights_only" not in line
    assert last.read_bytes() == before                  # evidence kept for the user to look at


# ---------------------------------------------------------------------------
# Evaluation: train.json, the checkpoint, the tokenizer
# ---------------------------------------------------------------------------

def test_evaluate_without_train_json_cli(stage):
    r = cli(stage, "pipeline.evaluate", "--variant", "standard", "--seed", "0")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.splitlines() == [
        f"error: runs/{P}/standard/s0/train.json: does not exist (train the run first: "
        f"`python -m pipeline.train --variant standard --seed 0` or `dvc repro`)"]
    assert not (stage / "runs" / P / "standard" / "s0" / "eval").exists()


def test_evaluate_without_checkpoint(stage, capsys):
    run = stage / "runs" / P / "standard" / "s0"
    run.mkdir(parents=True)
    (run / "train.json").write_text(json.dumps({"diverged": False}))
    write_evalset(stage)
    assert eval_main() == 2
    assert one_line(capsys) == (
        f"error: runs/{P}/standard/s0/ckpt/final.pt: checkpoint does not exist (train the run first: "
        f"`python -m pipeline.train --variant standard --seed 0` or `dvc repro`)")
    assert not (run / "eval.json").exists()


def test_evaluate_refuses_a_changed_tokenizer(stage, capsys):
    run = stage / "runs" / P / "standard" / "s0"
    run.mkdir(parents=True)
    (run / "train.json").write_text(json.dumps({"diverged": False}))
    tok = stage / "data" / P / "tokenizer" / "tokenizer.json"
    n = tok.stat().st_size
    tok.write_text(tok.read_text() + " ")                 # e.g. replaced by another profile's tokenizer
    assert eval_main() == 2
    assert one_line(capsys) == (f"error: data/{P}/tokenizer/tokenizer.json: is {n + 1} bytes but meta.json records {n} "
                                f"(truncated or replaced since tokenizing) {REBUILD}")


def write_evalset(stage):
    from evals.tasks import LOCAL_TASKS
    d = stage / "data" / P / "evalsets"
    d.mkdir(parents=True, exist_ok=True)
    for task in LOCAL_TASKS:  # only lm_test is ever scored here: the tests fail before
        (d / f"{task}.jsonl").write_text(json.dumps({"text": "the cat sat on the mat"}) + "\n")
    return d


def test_evals_cli_corrupt_checkpoint(stage):
    ckpt = stage / "bad.pt"
    ckpt.write_bytes(b"not a checkpoint at all")
    tok = f"data/{P}/tokenizer/tokenizer.json"
    write_evalset(stage)
    r = cli(stage, "evals", "--model_args", f"checkpoint=bad.pt,tokenizer={tok}", "--tasks", "lm_test")
    assert r.returncode == 2, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.startswith("error: ")]
    assert lines == ["error: bad.pt: checkpoint is unreadable (truncated or corrupt) "
                     "(delete it and rerun the training stage (`dvc repro` retrains the run))"], r.stderr
    assert "Traceback" not in r.stderr and "weights_only" not in r.stderr


def test_evals_cli_unknown_task_names_the_flag(stage, capsys):
    from evals.__main__ import main
    write_evalset(stage)
    rc = run_main(main, ["--model_args", f"checkpoint=x.pt,tokenizer=data/{P}/tokenizer/tokenizer.json",
                         "--tasks", "lm_test,hellaswag"])
    assert rc == 2
    line = one_line(capsys)
    assert line.startswith("error: --tasks: task 'hellaswag' is not a local task")
    assert line.endswith("(add --allow_hub on a machine with network access)")
    assert "eval.allow_hub" not in line


def test_evals_cli_auto_batch_size_names_the_flag(stage, capsys):
    from evals.__main__ import main
    write_evalset(stage)
    rc = run_main(main, ["--model_args", f"checkpoint=x.pt,tokenizer=data/{P}/tokenizer/tokenizer.json",
                         "--tasks", "lm_test", "--batch_size", "auto"])
    assert rc == 2
    assert one_line(capsys) == ("error: --batch_size: batch size 'auto' is not supported: the resonator model has no "
                                "automatic batch size (lm-eval's 'auto' is for its Hugging Face models) "
                                "(pass a positive integer, e.g. --batch_size 16)")


def test_pipeline_auto_batch_size_names_the_params_key(stage, capsys):
    import yaml
    raw = yaml.safe_load((stage / "params.yaml").read_text())
    raw["profiles"][P]["eval"]["batch_size"] = "auto"
    (stage / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    assert eval_main() == 2
    assert f"key 'profiles.{P}.eval.batch_size'" in one_line(capsys)


def test_pipeline_unknown_task_names_the_params_key():
    from evals.tasks import HubTaskError, check_tasks
    with pytest.raises(HubTaskError) as e:
        check_tasks(["hellaswag"], "nowhere", tasks_key="profiles.tiny.eval.tasks",
                    allow_hub_hint="set profiles.tiny.eval.allow_hub: true")
    assert e.value.where == "profiles.tiny.eval.tasks" and "profiles.tiny.eval.allow_hub: true" in e.value.fix


# ---------------------------------------------------------------------------
# Torn inputs: a corpus JSONL cut mid-line, a truncated eval.json
# ---------------------------------------------------------------------------

def test_truncated_corpus_jsonl(stage, capsys):
    from pipeline.tokenize_corpus import main
    f = stage / "data" / P / "corpus" / "train.jsonl"
    text = f.read_text()
    cut = text.index("\n", len(text) // 2) - 10
    f.write_text(text[:cut])                               # cut in the middle of a line, as a torn copy
    n = text[:cut].count("\n") + 1
    tokens_before = {p.name: p.read_bytes() for p in (stage / "data" / P / "tokens").iterdir()}
    assert run_main(main, []) == 2
    assert one_line(capsys) == (f"error: data/{P}/corpus/train.jsonl: line {n} is truncated or corrupt "
                                f"(not valid JSON) (rebuild the corpus: `dvc repro -f prepare`)")
    assert {p.name: p.read_bytes() for p in (stage / "data" / P / "tokens").iterdir()} == tokens_before


def test_truncated_eval_json_in_stats(tmp_path, capsys):
    from pipeline.stats import main
    from resonator.params import load_params
    from tests.fabricate import fabricate
    p = load_params(ROOT / "params.yaml")
    fabricate(tmp_path / "runs", p.profile, p.groups, p.seeds)
    v = p.groups["core"][0]
    f = tmp_path / "runs" / p.profile / v / "s0" / "eval.json"
    f.write_text(f.read_text()[:25])
    rc = run_main(main, ["--runs-root", str(tmp_path / "runs"), "--out", str(tmp_path / "results"),
                         "--params", str(ROOT / "params.yaml"),
                         "--original", str(ROOT / "paper" / "original_results.yaml")])
    assert rc == 2
    assert one_line(capsys) == (f"error: {f}: is truncated or corrupt (not valid JSON at line 1) (rerun that stage: "
                                f"`python -m pipeline.evaluate --variant {v} --seed 0` or `dvc repro`)")
    assert not (tmp_path / "results").exists()


# ---------------------------------------------------------------------------
# Output faults: a full disk, a read-only location (simulated in resonator.atomic)
# ---------------------------------------------------------------------------

class _FullDisk:
    """A file whose write fills the disk halfway through."""

    def __init__(self, f):
        self.f = f

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()

    def write(self, data):
        self.f.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_keeps_the_old_output(stage, capsys, monkeypatch):
    import resonator.atomic as atomic
    from pipeline.tokenize_corpus import main
    fake_os = types.SimpleNamespace(**{k: getattr(os, k) for k in dir(os) if not k.startswith("__")})
    fake_os.fdopen = lambda fd, mode="r", *a, **k: _FullDisk(os.fdopen(fd, mode, *a, **k))
    monkeypatch.setattr(atomic, "os", fake_os)
    out = stage / "data" / P / "tokenizer" / "tokenizer.json"
    old = out.read_bytes()
    assert run_main(main, []) == 2
    assert one_line(capsys) == (f"error: data/{P}/tokenizer/tokenizer.json: disk full "
                                f"(free space and rerun; finished outputs were not touched)")
    assert out.read_bytes() == old
    assert sorted(p.name for p in out.parent.iterdir()) == ["tokenizer.json"]   # no temporary file left


@pytest.mark.parametrize("code, what, fix", [
    (errno.EROFS, "read-only file system", "make the output location writable and rerun"),
    (errno.EACCES, "permission denied", "make the output location writable and rerun")])
def test_unwritable_output_names_the_file(stage, capsys, monkeypatch, code, what, fix):
    import tempfile

    import resonator.atomic as atomic
    from pipeline.tokenize_corpus import main

    def mkstemp(dir=None, prefix="", suffix=""):
        # as os.open reports it: the temporary file's name, not the output's
        raise OSError(code, os.strerror(code), os.path.join(dir, f"{prefix}x1y2z3{suffix}"))
    monkeypatch.setattr(atomic, "tempfile", types.SimpleNamespace(mkstemp=mkstemp, mkdtemp=tempfile.mkdtemp,
                                                                 gettempdir=tempfile.gettempdir))
    out = stage / "data" / P / "tokenizer" / "tokenizer.json"
    old = out.read_bytes()
    assert run_main(main, []) == 2
    assert one_line(capsys) == f"error: data/{P}/tokenizer/tokenizer.json: {what} ({fix})"
    assert out.read_bytes() == old
