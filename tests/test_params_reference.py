"""docs/PARAMS.md is the typed configuration, rendered: regenerating it changes nothing, and
every key the committed params.yaml uses is listed there."""
import re
import subprocess
import sys

import yaml


def test_reference_is_up_to_date(repo_root):
    r = subprocess.run([sys.executable, "-m", "tools.params_reference", "--check"], cwd=repo_root,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + " (run `python -m tools.params_reference` and commit docs/PARAMS.md)"


NAMED = ("variants", "profiles", "rungs", "added_lengths")      # mappings whose keys the user chooses


def _keys(obj, prefix=""):
    """Dotted keys of params.yaml; items of a list of sections as key[i].field."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            yield key
            yield from _keys(v, key)
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, dict):
                yield from _keys(v, prefix + "[i]")


def _pattern(key: str) -> str:
    for name in NAMED:
        key = re.sub(rf"(^|\.){name}\.[^.\[]+", rf"\1{name}.<name>", key)
    return key


def test_every_key_in_params_yaml_is_documented(repo_root):
    text = (repo_root / "docs" / "PARAMS.md").read_text()
    documented = set(re.findall(r"^\| `([^`]+)`", text, flags=re.M))
    raw = yaml.safe_load((repo_root / "params.yaml").read_text())
    used = ({_pattern(k) for k in _keys(raw)} - {f"{n}.<name>" for n in NAMED}
            - {"ladder.rungs.<name>", "ladder.revisions[i].added_lengths.<name>"})   # a rung's name: no key of its own
    missing = sorted(k for k in used if k not in documented)
    assert not missing, missing
