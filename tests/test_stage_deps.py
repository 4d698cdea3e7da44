"""dvc.yaml lists, for every stage, the project code it runs (tools.stage_deps), so a code
change can never leave a result that `dvc status` calls up to date."""
from tools.stage_deps import closure, missing


def test_every_stage_declares_the_code_it_imports(repo_root):
    gaps = missing(repo_root)
    assert not gaps, "add to dvc.yaml (python -m tools.stage_deps --list <stage>): " + repr(gaps)


def test_closure_follows_function_level_imports(repo_root):
    files = closure("pipeline.train", repo_root)
    assert "pipeline/train.py" in files and "resonator/train.py" in files   # imported inside main()
    assert "resonator/model.py" in files and "resonator/__init__.py" in files
    assert not any(f.startswith("reporting/") for f in files)               # training never reports
