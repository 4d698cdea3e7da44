"""Every stage depends on its code through a fingerprint file (resonator.code_deps), and the
committed fingerprints are current, so a code change can never leave a result that
`dvc status` calls up to date."""
import shutil

from resonator.code_deps import closure, fingerprint, fingerprint_path
from tools.stage_deps import missing, stale


def test_every_stage_depends_on_its_fingerprint(repo_root):
    gaps = missing(repo_root)
    assert not gaps, "dvc.yaml: " + repr(gaps)


def test_committed_fingerprints_are_current(repo_root):
    assert not stale(repo_root), "run `dvc repro -s code_deps` and commit fingerprints/"


def test_closure_follows_function_level_imports(repo_root):
    files = closure("pipeline.train", repo_root)
    assert "pipeline/train.py" in files and "resonator/train.py" in files   # imported inside main()
    assert "resonator/model.py" in files and "resonator/__init__.py" in files
    assert not any(f.startswith("reporting/") for f in files)               # training never reports


def test_fingerprint_changes_with_a_file_it_covers_only(tmp_path, repo_root):
    for pkg in ("resonator", "evals", "reporting", "pipeline"):
        shutil.copytree(repo_root / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "paper").mkdir()
    shutil.copy(repo_root / "paper" / "sentences.yaml", tmp_path / "paper")
    before = {m: fingerprint(m, tmp_path) for m in ("pipeline.train", "pipeline.stats")}
    with open(tmp_path / "reporting" / "tables.py", "a") as f:     # statistics code, not training's
        f.write("\n# edited\n")
    assert fingerprint("pipeline.train", tmp_path) == before["pipeline.train"]
    assert fingerprint("pipeline.stats", tmp_path) != before["pipeline.stats"]
    edited = fingerprint("pipeline.stats", tmp_path)
    with open(tmp_path / "paper" / "sentences.yaml", "a") as f:   # the prose's words: a companion file
        f.write("\n# edited\n")
    assert fingerprint("pipeline.stats", tmp_path) != edited
    assert fingerprint("pipeline.train", tmp_path) == before["pipeline.train"]
    assert fingerprint_path("pipeline.stats") == "fingerprints/pipeline.stats.txt"
