"""What a run's processes do before training, kept short: no torch in the launcher, no
torch._inductor in a rank, and the slow input checks once per run (in the launcher)."""
import json
import subprocess
import sys

from resonator.launch import launch, started_by_launch


def run_python(code: str, cwd) -> None:
    r = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]


def test_ranks_of_launch_know_the_launcher_checked_their_inputs(tmp_path, repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    assert launch("tests.launch_probe", [str(tmp_path)], world=2, threads=1) == 0
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r == {"under_launcher": True, "started_by_launch": True, "threads": "1"} for r in ranks)
    monkeypatch.setenv("WORLD_SIZE", "2")            # a rank of torchrun: it checks its inputs itself
    monkeypatch.delenv("RESONATOR_LAUNCHED", raising=False)
    assert not started_by_launch()


def test_the_launcher_sizes_a_run_without_importing_torch(repo_root):
    # what pipeline.train's launcher runs before starting the ranks (1.3 s of torch import saved)
    run_python("import sys\n"
               "from resonator.params import load_params\n"
               "from resonator import batching\n"
               "p = load_params(overrides={'profile': 'small'})\n"
               "for v in p.variants:\n"
               "    batching.resolve(p.train_config(), p.model_config(v, 2048), 2)\n"
               "assert 'torch' not in sys.modules, 'torch imported'\n", repo_root)


def test_deterministic_mode_without_the_compiler_import(repo_root):
    # torch.use_deterministic_algorithms imports torch._inductor (1.3 s per process, measured);
    # set_numerics sets the same switch without it unless the run compiles
    run_python("import sys, torch\n"
               "from resonator.train import TrainConfig, set_numerics\n"
               "set_numerics(TrainConfig(device='cpu'), torch.device('cpu'), 1)\n"
               "assert torch.are_deterministic_algorithms_enabled()\n"
               "assert torch.is_deterministic_algorithms_warn_only_enabled()\n"
               "assert 'torch._inductor' not in sys.modules, 'compiler imported'\n"
               "set_numerics(TrainConfig(device='cpu', compile=True), torch.device('cpu'), 1)\n"
               "import torch._inductor.config as c\n"
               "assert c.deterministic\n", repo_root)
