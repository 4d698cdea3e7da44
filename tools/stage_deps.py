"""The project code each DVC stage runs, and whether dvc.yaml lists it.

    python -m tools.stage_deps            # per stage: code it imports that dvc.yaml does not list
    python -m tools.stage_deps --list S   # the code dependencies stage S should declare

A stage's code is the transitive closure of the project modules its `python -m pipeline.<m>`
imports (every import statement, at module level or inside a function), so a change to any of
them makes `dvc status` report the stage as changed. Listed as files, not whole packages: a
statistics module that training never imports must not mark trained runs as stale.
tests/test_stage_deps.py fails when dvc.yaml misses one.
"""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("resonator", "evals", "reporting", "pipeline", "tools")


def module_file(module: str, root: Path = ROOT) -> Path | None:
    p = root.joinpath(*module.split("."))
    if (p / "__init__.py").is_file():
        return p / "__init__.py"
    return p.with_suffix(".py") if p.with_suffix(".py").is_file() else None


def imported(path: Path, root: Path = ROOT):
    """Every module name an import statement in `path` names (relative imports resolved)."""
    package = path.relative_to(root).with_suffix("").parts[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[:len(package) - node.level + 1], *([base] if base else [])])
            yield base
            yield from (f"{base}.{a.name}" for a in node.names)


def closure(module: str, root: Path = ROOT) -> list[str]:
    """Repository-relative paths of the project files `module` runs, itself included."""
    start = module_file(module, root)
    if start is None:
        raise FileNotFoundError(module)
    seen, todo = set(), [start]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        for name in imported(f, root):
            parts = name.split(".")
            if parts[0] not in PACKAGES:
                continue
            for i in range(1, len(parts) + 1):      # a package's __init__ runs too
                mf = module_file(".".join(parts[:i]), root)
                if mf is not None and mf not in seen:
                    todo.append(mf)
    return sorted(str(f.relative_to(root)) for f in seen)


def stage_modules(dvc_yaml: Path) -> dict[str, tuple[str, list[str]]]:
    """stage -> (module its cmd runs, the deps it declares), for `python -m pipeline.*` stages."""
    out = {}
    for name, st in yaml.safe_load(dvc_yaml.read_text())["stages"].items():
        cmd = st["cmd"] if isinstance(st["cmd"], str) else " ".join(st["cmd"])
        if "python -m pipeline." in cmd:
            module = cmd.split("python -m ", 1)[1].split()[0]
            out[name] = (module, [d for d in st.get("deps", []) if isinstance(d, str)])
    return out


def covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


def missing(root: Path = ROOT) -> dict[str, list[str]]:
    """stage -> code it runs that its deps do not cover."""
    out = {}
    for name, (module, deps) in stage_modules(root / "dvc.yaml").items():
        gap = [f for f in closure(module, root) if not covered(f, deps)]
        if gap:
            out[name] = gap
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", metavar="STAGE", help="print the code dependencies of one stage")
    args = ap.parse_args(argv)
    if args.list:
        module, _ = stage_modules(ROOT / "dvc.yaml")[args.list]
        print("\n".join(f"      - {f}" for f in closure(module)))
        return 0
    gaps = missing()
    for name, files in gaps.items():
        print(f"{name}: not in its deps: {', '.join(files)}")
    print("every stage lists the code it runs" if not gaps else f"{len(gaps)} stage(s) miss code dependencies")
    return 1 if gaps else 0


if __name__ == "__main__":
    sys.exit(main())
