"""Shared test fixtures. Tests run on one thread: the machine has two cores and
determinism tests must not depend on thread scheduling."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
# Each pytest-xdist worker counts only its own runs (resonator.threads' slot files): the tests
# that check how runs share the cores must not see the other worker's runs.
if os.environ.get("PYTEST_XDIST_WORKER"):
    import tempfile
    os.environ["RESONATOR_SLOTS_DIR"] = os.path.join(
        tempfile.gettempdir(), f"resonator-runs-{os.getpid()}-{os.environ['PYTEST_XDIST_WORKER']}")

try:
    import torch
    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def one_thread():
    """Every test starts on one torch thread. Some code under test sets the process-wide count
    (evals.run and tools.bench pick 2 on an idle machine), and a test that ran after them in the
    same pytest-xdist worker trained at 2 threads: CI measured a resumed run (its first half in a
    fresh 1-thread subprocess) differ from the uninterrupted one for that reason alone."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(1)


@pytest.fixture
def repo_root() -> Path:
    return ROOT


def set_keys(raw: dict, updates: dict) -> dict:
    """Set dotted keys ("profiles.tiny.train.max_steps") of a parsed params.yaml, in place."""
    for dotted, value in updates.items():
        node = raw
        *parents, last = dotted.split(".")
        for k in parents:
            node = node[k]
        node[last] = value
    return raw


def set_params(repo: Path, **updates) -> None:
    """Set dotted keys of `repo`'s params.yaml."""
    import yaml
    path = repo / "params.yaml"
    path.write_text(yaml.safe_dump(set_keys(yaml.safe_load(path.read_text()), updates), sort_keys=False))


def dvc(cwd: Path, *args, check=True) -> subprocess.CompletedProcess:
    """`dvc <args>` in `cwd`, its stages run by this interpreter."""
    env = dict(os.environ, DVC_NO_ANALYTICS="1", PYTHONHASHSEED="0")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    r = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=1500)
    if check and r.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    return r


def pinned_params(directory: Path, profile: str = "small", **updates) -> Path:
    """A copy of the repository's params.yaml with the profile (and any dotted keys) set,
    so a test's expectations do not depend on which profile the repository commits."""
    import yaml
    raw = set_keys(yaml.safe_load((ROOT / "params.yaml").read_text()), {"profile": profile, **updates})
    path = Path(directory) / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def corpus_docs(n, seed):
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far", "bright", "night", "light",
             "green", "seen", "round", "sound", "stone", "alone", "river", "over"]
    return [{"id": f"{seed}{i:04d}", "text": " ".join(words[(i * 7 + j * (seed + 3)) % len(words)] for j in range(40))}
            for i in range(n)]


def make_stage(d: Path, profile: str = "tiny", **updates) -> Path:
    """A directory a stage can run in (cwd): params.yaml pinned to `profile`, a synthetic corpus
    and the tokenize stage's real outputs (tokenizer, token files, meta.json)."""
    import json

    from pipeline.tokenize_corpus import run
    pinned_params(d, profile, **updates)
    corpus = d / "data" / profile / "corpus"
    corpus.mkdir(parents=True)
    for split, n in (("train", 120), ("val", 20), ("test", 10)):
        (corpus / f"{split}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in corpus_docs(n, len(split))))
    run({"kind": "bpe", "vocab_size": 300}, corpus, d / "data" / profile / "tokenizer", d / "data" / profile / "tokens",
        d / "metrics" / profile / "tokenize.json")
    return d


def make_repo_copy(dst: Path, registered_ladder: bool = False) -> Path:
    """Copy the repository's tracked (and untracked, not ignored) sources to `dst` and make it
    a fresh git repository with one commit. DVC artifacts are not copied. The ladder is made a
    draft unless `registered_ladder`: its 540 registered stages would slow every DVC command
    of a test by seconds (and a bare `dvc repro` would train them)."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        src = ROOT / f
        if src.is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / f)
    if not registered_ladder:
        import yaml
        raw = yaml.safe_load((dst / "params.yaml").read_text())
        raw["ladder"].update(status="draft", registered="YYYY-MM-DD", run=[])
        (dst / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=dst, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dst, check=True)
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "copy"],
                   cwd=dst, check=True)
    return dst


@pytest.fixture
def repo_copy(tmp_path) -> Path:
    """A throwaway git+DVC copy of the repository's tracked sources (no artifacts)."""
    return make_repo_copy(tmp_path / "repo")


def tiny_study_params(raw: dict) -> dict:
    """The tiny study the DVC end-to-end tests share: 3 core variants x 2 seeds, no ablation, and
    the hypotheses the paper's text quotes (H0, H1a; H3 for the init); the draft ladder's plan
    (the paper's scale section) on this study."""
    kept = [h for h in raw["hypotheses"]["tests"] if h["id"] in ("H0", "H1a", "H3")]
    return {"profile": "tiny", "groups.core": ["standard_notebook", "standard", "resonator_phonetic"],
            "groups.ablation": [], "seeds.core": [0, 1], "seeds.ablation": [], "hypotheses.tests": kept,
            "hypotheses.design_check": "warn", "ladder.profile": "tiny", "ladder.hypotheses": ["H1a"],
            "ladder.variants": ["standard", "resonator_phonetic"]}


# The only module that uses `study_copy`: pytest-xdist's `--dist loadfile` runs a module on one
# worker, so the tiny study is built once. (`--dist loadgroup` with xdist_group marks would allow
# several modules, but pytest-xdist 3.8 loses the group under pytest 9: measured, the groups
# were split and the study built twice.)
STUDY_MODULE = "tests.test_study_dvc"


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory) -> Path:
    """A repository copy with the tiny study built by one `dvc repro` (to the paper; to `stats`
    where latexmk is missing), once per session (per xdist worker: see STUDY_MODULE): the
    DVC tests start from copies of it (`study_copy`) instead of each rebuilding data, runs and
    evaluations."""
    import yaml
    repo = make_repo_copy(tmp_path_factory.mktemp("tiny-study") / "repo")
    set_params(repo, **tiny_study_params(yaml.safe_load((repo / "params.yaml").read_text())))
    dvc(repo, "repro", *([] if shutil.which("latexmk") else ["stats"]))
    return repo


@pytest.fixture
def study_copy(request, tmp_path) -> Path:
    """A private copy of the shared tiny study (git, DVC cache and every output)."""
    assert request.module.__name__ == STUDY_MODULE, \
        f"{request.node.nodeid} uses study_copy: put it in {STUDY_MODULE} (see STUDY_MODULE)"
    tiny_study = request.getfixturevalue("tiny_study")
    dst = tmp_path / "study"
    shutil.copytree(tiny_study, dst, symlinks=True)
    return dst
