"""Keeping freed memory (resonator.allocator) is a speed setting only: training with it gives
the same weights, bit for bit, as training without it. Each side runs in a fresh process,
because malloc's settings last for the life of a process."""
import json
import subprocess
import sys
import textwrap

# A few AdamW steps of a resonator whose activations (16 x 128 x 64 floats = 512 KiB) are far
# above glibc's default mmap threshold, so the two sides really take their memory differently.
TRAIN = textwrap.dedent("""
    import hashlib, json, resource, sys
    import torch
    from resonator.allocator import keep_freed_memory
    from resonator.model import ModelConfig, build_model
    kept = keep_freed_memory() if sys.argv[1] == "kept" else False
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    cfg = ModelConfig(kind="resonator", vocab_size=256, max_seq_len=128, d_model=64, n_layers=2, n_heads=2, d_ff=256)
    model = build_model(cfg, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    torch.manual_seed(1)
    data = torch.randint(0, 256, (6, 16, 129), generator=torch.Generator().manual_seed(2))
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for batch in data:
        _, loss = model(batch[:, :-1], batch[:, 1:])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    h = hashlib.sha256(b"".join(v.detach().numpy().tobytes() for v in model.state_dict().values()))
    print(json.dumps({"kept": kept, "sha": h.hexdigest(), "faults": faults}))
""")


def train(side: str) -> dict:
    r = subprocess.run([sys.executable, "-c", TRAIN, side], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_same_weights_with_and_without_kept_memory():
    plain, kept = train("plain"), train("kept")
    assert plain["kept"] is False
    if sys.platform.startswith("linux"):
        assert kept["kept"] is True      # glibc: the setting applies, and pages are reused
        assert kept["faults"] < plain["faults"], (kept, plain)
    assert kept["sha"] == plain["sha"]

