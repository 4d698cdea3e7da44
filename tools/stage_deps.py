"""Whether every DVC stage depends on its code, and whether the committed fingerprints are current.

    python -m tools.stage_deps            # stages that miss their fingerprint; fingerprints out of date
    python -m tools.stage_deps --list S   # the project files stage S runs (its fingerprint's lines)

Each `python -m pipeline.<m>` stage depends on fingerprints/pipeline.<m>.txt, which hashes the
transitive closure of the project modules <m> imports (resonator.code_deps), so a change to any
of them makes `dvc status` report the stage as changed. tests/test_stage_deps.py fails when a
stage misses its fingerprint or a committed fingerprint is out of date.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from resonator.cli import run_main
from resonator.code_deps import ROOT, closure, fingerprint_path, outdated
from resonator.code_deps import stage_modules as fingerprinted
from resonator.layout import LADDER_DVCFILE, ladder_stage


def stage_modules(dvc_yaml: Path) -> dict[str, tuple[str, list[str]]]:
    """stage -> (module its cmd runs, the deps it declares), for `python -m pipeline.*` stages."""
    out = {}
    for name, st in yaml.safe_load(dvc_yaml.read_text())["stages"].items():
        cmd = st["cmd"] if isinstance(st["cmd"], str) else " ".join(st["cmd"])
        if "python -m pipeline." in cmd:
            module = cmd.split("python -m ", 1)[1].split()[0]
            out[name] = (module, [d for d in st.get("deps", []) if isinstance(d, str)])
    return out


def all_stage_modules(root: Path = ROOT) -> dict[str, tuple[str, list[str]]]:
    """stage_modules of the root dvc.yaml and of the ladder's (its stages by their DVC address)."""
    out = stage_modules(root / "dvc.yaml")
    out.update({ladder_stage(n): v for n, v in stage_modules(root / LADDER_DVCFILE).items()})
    return out


def missing(root: Path = ROOT) -> dict[str, str]:
    """stage -> what is wrong with how it depends on its code."""
    out = {}
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    outs = {next(iter(o)) if isinstance(o, dict) else o for o in stages["code_deps"]["outs"]}
    for name, (module, deps) in all_stage_modules(root).items():
        if name == "code_deps":
            continue
        if fingerprint_path(module) not in deps:
            out[name] = f"does not depend on {fingerprint_path(module)}"
        elif fingerprint_path(module) not in outs:
            out[name] = f"{fingerprint_path(module)} is not an output of code_deps"
    for module in fingerprinted(root):
        if fingerprint_path(module) not in outs:
            out.setdefault("code_deps", f"does not declare {fingerprint_path(module)}")
    return out


def stale(root: Path = ROOT) -> list[str]:
    """Fingerprint files whose content is not what code_deps would write now."""
    return [fingerprint_path(module) for module in outdated(root)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", metavar="STAGE", help="print the code dependencies of one stage")
    args = ap.parse_args(argv)
    if args.list:
        module, _ = all_stage_modules()[args.list]
        print("\n".join(closure(module)))
        return 0
    gaps, old = missing(), stale()
    for name, why in gaps.items():
        print(f"{name}: {why}")
    for f in old:
        print(f"{f}: out of date (run `dvc repro -s code_deps`)")
    print("every stage depends on a current fingerprint of its code" if not (gaps or old)
          else f"{len(gaps)} stage(s) miss their fingerprint, {len(old)} fingerprint(s) out of date")
    return 1 if gaps or old else 0


if __name__ == "__main__":
    sys.exit(run_main(main))
