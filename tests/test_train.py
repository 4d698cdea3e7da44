"""Training loop: determinism, resumption, fresh start over foreign checkpoints, NaN handling,
paired data order, the validation metric, and DDP equivalence."""
import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from resonator.checkpoint import load_model
from resonator.model import ModelConfig, build_model
from resonator.tokenizer import file_record
from resonator.train import (
    CheckpointMismatchError,
    Chunks,
    Hooks,
    TrainConfig,
    TrainingDivergedError,
    derive_seeds,
    epoch_order,
    evaluate,
    train,
)

V = 64


def make_data(root: Path) -> Path:
    d = root / "tokens"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    base = rng.integers(0, V, 97)                     # a repeated pattern the model can learn
    np.tile(base, 40).astype(np.uint16).tofile(d / "train.bin")
    np.tile(base, 4).astype(np.uint16).tofile(d / "val.bin")
    files = {f: file_record(d / f) for f in ("train.bin", "val.bin")}  # what training checks first
    (d / "meta.json").write_text(json.dumps({"dtype": "uint16", "vocab_size": V, "eot_id": 0, "files": files}))
    return d


def mcfg(kind="resonator", **kw):
    return ModelConfig(kind=kind, vocab_size=V, max_seq_len=16, d_model=32, n_layers=2, n_heads=2,
                       d_ff=64, n_phases=8, **kw)


def tcfg(**kw):
    base = dict(lr=3e-3, micro_batch=4, grad_accum=2, epochs=1.0, max_steps=8, eval_interval=4,
                val_batches=2, ckpt_interval=2, device="cpu")
    return TrainConfig(**{**base, **kw})


def final_state(run_dir):
    return load_model(Path(run_dir) / "ckpt" / "final.pt").state_dict()


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_bitwise_deterministic(tmp_path):
    data = make_data(tmp_path)
    train(mcfg(), tcfg(), data, tmp_path / "a", seed=3)
    train(mcfg(), tcfg(), data, tmp_path / "b", seed=3)
    assert same(final_state(tmp_path / "a"), final_state(tmp_path / "b"))
    train(mcfg(), tcfg(), data, tmp_path / "c", seed=4)
    assert not same(final_state(tmp_path / "a"), final_state(tmp_path / "c"))


def test_bf16_on_cpu_trains_in_bf16_and_stays_deterministic(tmp_path):
    """train.dtype bf16 is autocast on a CPU too (it was silently fp32 there, while the record
    said bf16): its weights differ from fp32's, repeat bit for bit, and the record says bf16."""
    data = make_data(tmp_path)
    train(mcfg(), tcfg(), data, tmp_path / "fp32", seed=3)
    m = train(mcfg(), tcfg(dtype="bf16"), data, tmp_path / "a", seed=3)
    train(mcfg(), tcfg(dtype="bf16"), data, tmp_path / "b", seed=3)
    assert m["dtype"] == "bf16" and math.isfinite(m["val_loss"])
    assert same(final_state(tmp_path / "a"), final_state(tmp_path / "b"))
    assert not same(final_state(tmp_path / "a"), final_state(tmp_path / "fp32"))


KILL_AT_STEP = """
import os, signal, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
from resonator.train import Hooks, train
from tests.test_train import mcfg, tcfg

def kill(step):
    if step == 5:  # after the step-4 checkpoint, before the step-6 one: a real SIGKILL, no cleanup
        os.kill(os.getpid(), signal.SIGKILL)

train(mcfg(), tcfg(), Path(sys.argv[1]), Path(sys.argv[2]), seed=1, hooks=Hooks(on_step=kill))
"""


def test_resume_after_kill_is_identical(tmp_path, repo_root):
    data = make_data(tmp_path)
    # threads=1 as in the subprocess: bits are the same only at the same thread count
    train(mcfg(), tcfg(), data, tmp_path / "full", seed=1, threads=1)
    r = subprocess.run([sys.executable, "-c", KILL_AT_STEP, str(data), str(tmp_path / "resumed")],
                       cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert r.returncode == -9, (r.returncode, r.stderr)
    assert (tmp_path / "resumed" / "ckpt" / "last.pt").exists()
    assert not (tmp_path / "resumed" / "ckpt" / "final.pt").exists()
    train(mcfg(), tcfg(), data, tmp_path / "resumed", seed=1)
    assert same(final_state(tmp_path / "full"), final_state(tmp_path / "resumed"))
    full = (tmp_path / "full" / "curve.tsv").read_text()
    assert full == (tmp_path / "resumed" / "curve.tsv").read_text().replace("\r", "")


def interrupt_at_step_3(data, run_dir, seed):
    """Stop a run by an exception after step 3 (its step-2 checkpoint written, no final one)."""
    class Interrupted(Exception):
        pass

    def stop(step):
        if step == 3:
            raise Interrupted
    with pytest.raises(Interrupted):
        train(mcfg(), tcfg(), data, run_dir, seed=seed, hooks=Hooks(on_step=stop))


def test_resume_between_validations_keeps_the_curve(tmp_path):
    # killed after the step-2 checkpoint, before the step-4 validation: the step-4 row's
    # train_loss still averages steps 1-4, as in an uninterrupted run
    data = make_data(tmp_path)
    train(mcfg(), tcfg(), data, tmp_path / "full", seed=2)
    interrupt_at_step_3(data, tmp_path / "resumed", seed=2)
    train(mcfg(), tcfg(), data, tmp_path / "resumed", seed=2)
    assert same(final_state(tmp_path / "full"), final_state(tmp_path / "resumed"))
    assert (tmp_path / "full" / "curve.tsv").read_text() == (tmp_path / "resumed" / "curve.tsv").read_text()


def test_foreign_checkpoint_starts_afresh(tmp_path, capsys):
    # DVC keeps ckpt/ (persist) when params change: the old state must not block the rerun
    data = make_data(tmp_path)
    train(mcfg(), tcfg(max_steps=2), data, tmp_path / "run", seed=0)
    small = mcfg().__class__(**{**mcfg().__dict__, "d_model": 16})
    capsys.readouterr()
    train(small, tcfg(max_steps=4), data, tmp_path / "run", seed=0)
    out = capsys.readouterr().out
    assert "not resuming" in out and "different run config" in out and "d_model" in out
    assert "resumed" not in out
    train(small, tcfg(max_steps=4), data, tmp_path / "fresh", seed=0)
    assert same(final_state(tmp_path / "run"), final_state(tmp_path / "fresh"))


def test_finished_state_is_not_resumed(tmp_path, capsys):
    # `dvc repro -f`, or a code change, reruns a finished run: it trains again from step 0
    data = make_data(tmp_path)
    train(mcfg(), tcfg(max_steps=4), data, tmp_path / "run", seed=0)
    capsys.readouterr()
    train(mcfg(), tcfg(max_steps=4), data, tmp_path / "run", seed=0)
    out = capsys.readouterr().out
    assert "finished run (4/4 steps)" in out and "step 4/4" in out


def test_state_of_other_code_is_not_resumed(tmp_path, capsys, monkeypatch):
    import resonator.train as rt
    data = make_data(tmp_path)
    interrupt_at_step_3(data, tmp_path / "run", seed=0)
    real = rt.code_hashes()
    monkeypatch.setattr(rt, "code_hashes", lambda: {**real, "resonator.model": "edited"})
    capsys.readouterr()
    train(mcfg(), tcfg(), data, tmp_path / "run", seed=0)
    out = capsys.readouterr().out
    assert "training code changed" in out and "resonator.model" in out and "resumed" not in out


def test_corrupt_checkpoint_is_refused(tmp_path):
    data = make_data(tmp_path)
    train(mcfg(), tcfg(max_steps=2), data, tmp_path / "run", seed=0)
    last = tmp_path / "run" / "ckpt" / "last.pt"
    last.write_bytes(last.read_bytes()[:100])
    with pytest.raises(CheckpointMismatchError, match="unreadable") as e:
        train(mcfg(), tcfg(max_steps=4), data, tmp_path / "run", seed=0)
    assert e.value.where == str(last) and "delete it" in e.value.fix


def test_one_reader_tells_a_training_state_from_a_model(tmp_path):
    # read_checkpoint reads both formats: each refuses the other with a one-line message
    # naming the file and what to do
    from resonator.checkpoint import STATE_FORMAT, CheckpointError, read_checkpoint
    data = make_data(tmp_path)
    train(mcfg(), tcfg(max_steps=2), data, tmp_path / "run", seed=0)
    last, final = tmp_path / "run" / "ckpt" / "last.pt", tmp_path / "run" / "ckpt" / "final.pt"
    assert read_checkpoint(last, fmt=STATE_FORMAT)["step"] == 2
    assert read_checkpoint(final)["step"] == 2
    with pytest.raises(CheckpointMismatchError) as e:
        read_checkpoint(final, fmt=STATE_FORMAT)
    assert str(e.value) == (f"{final}: is not a resumable training state (resonator-train-state-v1) "
                            f"(delete it and rerun the training stage (`dvc repro` retrains the run); "
                            f"the run restarts from scratch)")
    with pytest.raises(CheckpointError) as e:
        read_checkpoint(last)
    assert not isinstance(e.value, CheckpointMismatchError)
    assert str(e.value) == (f"{last}: checkpoint has format 'resonator-train-state-v1', expected "
                            f"'resonator-ckpt-v1' (use a checkpoint written by the training stage)")


def test_nan_stops_with_step_and_keeps_last_good_checkpoint(tmp_path):
    data = make_data(tmp_path)
    nan_at = 5

    def poison(step, loss):
        return loss * float("nan") if step == nan_at else loss
    with pytest.raises(TrainingDivergedError, match=f"at step {nan_at}"):
        train(mcfg(), tcfg(), data, tmp_path / "run", seed=0, hooks=Hooks(on_loss=poison))
    state = torch.load(tmp_path / "run" / "ckpt" / "last.pt", weights_only=True)
    assert state["step"] == 4
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_nan_before_first_eval_still_leaves_the_curve(tmp_path):
    # DVC declares curve.tsv as an output of every run, diverged or not.
    data = make_data(tmp_path)

    def poison(step, loss):
        return loss * float("nan")
    with pytest.raises(TrainingDivergedError, match="at step 0"):
        train(mcfg(), tcfg(), data, tmp_path / "run", seed=0, hooks=Hooks(on_loss=poison))
    rows = (tmp_path / "run" / "curve.tsv").read_text().splitlines()
    assert rows[0].split("\t")[:4] == ["step", "tokens", "train_loss", "val_loss"]
    assert len(rows) == 2 and rows[1].split("\t")[0] == "0"
    assert math.isfinite(float(rows[1].split("\t")[3]))


def test_same_seed_same_data_order_for_every_variant(tmp_path):
    data = make_data(tmp_path)
    seen = {}
    for kind in ("standard", "resonator"):
        batches = []
        orig = Chunks.batch

        def spy(self, ids, _b=batches, _orig=orig):
            _b.append(list(ids))
            return _orig(self, ids)
        Chunks.batch = spy
        try:
            train(mcfg(kind), tcfg(max_steps=3, val_batches=1), data, tmp_path / kind, seed=7)
        finally:
            Chunks.batch = orig
        seen[kind] = batches
    assert seen["standard"] == seen["resonator"]
    s = derive_seeds(7)
    assert len({s["init"], s["dropout"], s["data"]}) == 3
    assert not np.array_equal(epoch_order(s["data"], 0, 50), epoch_order(s["data"], 1, 50))


def test_val_loss_is_token_weighted(tmp_path):
    data = make_data(tmp_path)
    model = build_model(mcfg(), generator=torch.Generator().manual_seed(0)).eval()
    chunks = Chunks(np.memmap(data / "val.bin", dtype=np.uint16, mode="r"), 16)
    got = evaluate(model, chunks, None, 3, torch.device("cpu"), torch.autocast("cpu", enabled=False))
    nll, n = 0.0, 0
    with torch.no_grad():
        for i in range(chunks.n):
            x, y = chunks.batch([i])
            logits, _ = model(x)
            nll += F.cross_entropy(logits.view(-1, V), y.view(-1), reduction="sum").item()
            n += y.numel()
    assert got["val_tokens"] == n
    assert got["val_loss"] == pytest.approx(nll / n, rel=1e-6)
    assert got["val_ppl"] == pytest.approx(math.exp(nll / n), rel=1e-6)


def test_loss_decreases(tmp_path):
    data = make_data(tmp_path)
    m = train(mcfg(), tcfg(max_steps=30, eval_interval=30, ckpt_interval=30), data, tmp_path / "r", seed=0)
    rows = (tmp_path / "r" / "curve.tsv").read_text().splitlines()
    first_val = float(rows[1].split("\t")[3])
    assert m["val_loss"] < first_val - 0.5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DDP_SCRIPT = """
import json, sys, torch
torch.set_num_threads(1)
sys.path.insert(0, {root!r})
from tests.test_train import mcfg, tcfg
from resonator.train import Hooks, train
losses = []
def grab(step, loss):
    losses.append(loss.item())
    return loss
train(mcfg(dropout=0.0), tcfg(max_steps=4, grad_accum=2), {data!r}, {run!r}, seed=0, hooks=Hooks(on_loss=grab))
import os
json.dump(losses, open({run!r} + f"/losses{{os.environ.get('RANK', 'single')}}.json", "w"))
"""


def test_ddp_two_processes_match_single(tmp_path):
    data = make_data(tmp_path)
    root = str(Path(__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    for name, launcher in (("single", [sys.executable, "-c"]),
                           ("ddp", [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                                    "--master_port", str(free_port()), "--no-python", sys.executable, "-c"])):
        run = tmp_path / name
        run.mkdir()
        script = DDP_SCRIPT.format(root=root, data=str(data), run=str(run))
        r = subprocess.run(launcher + [script], cwd=root, env=env, capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stderr[-3000:]
    single = json.loads((tmp_path / "single" / "lossessingle.json").read_text())
    r0 = json.loads((tmp_path / "ddp" / "losses0.json").read_text())
    r1 = json.loads((tmp_path / "ddp" / "losses1.json").read_text())
    # single: micro-batches m0,m1 per step; rank r computes micro-batch r of each step
    merged = [x for pair in zip(r0, r1, strict=True) for x in pair]
    assert np.allclose(merged, single, rtol=1e-5, atol=1e-6)
    a = load_model(tmp_path / "single" / "ckpt" / "final.pt").state_dict()
    b = load_model(tmp_path / "ddp" / "ckpt" / "final.pt").state_dict()
    assert all(torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-6) for k in a)


def test_two_threads_and_large_micro_batches_stay_bitwise_deterministic(tmp_path):
    """Determinism holds per (machine, thread count): measured, the resonator's backward with
    2 threads and 32-sequence micro-batches picks a nondeterministic CPU kernel unless
    deterministic algorithms are on (train() turns them on). The thread count is recorded."""
    from resonator.tokenizer import file_record, write_meta, write_tokens
    vocab, d = 2048, tmp_path / "tokens"
    d.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 80_000), ("val", 5_000)):
        write_tokens(d / f"{split}.bin", rng.integers(0, vocab, n).astype(np.uint16))
    write_meta(d, {"vocab_size": vocab, "eot_id": 0, "dtype": "uint16", "splits": {},
                   "files": {f"{s}.bin": file_record(d / f"{s}.bin") for s in ("train", "val")}})
    mc = ModelConfig(kind="resonator", vocab_size=vocab, max_seq_len=64, d_model=64, n_layers=2, n_heads=2,
                     d_ff=256, n_phases=32)
    tc = tcfg(micro_batch=32, grad_accum=1, max_steps=4, eval_interval=100, ckpt_interval=100, val_batches=1)
    table = torch.randn(vocab, 32, generator=torch.Generator().manual_seed(0)) * 0.3
    runs = []
    for i in range(2):    # the autouse fixture (conftest) puts the worker back on one thread afterwards
        m = train(mc, tc, d, tmp_path / f"run{i}", seed=0, phase_table=table, threads=2)
        assert m["num_threads"] == 2
        runs.append(final_state(tmp_path / f"run{i}"))
    assert same(*runs)
