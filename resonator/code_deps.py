"""Which project files a DVC stage runs, and one fingerprint file per stage that hashes them.

A stage's code is the transitive closure of the project modules its `python -m pipeline.<m>`
imports (every import statement, at module level or inside a function). Listed as files, not
whole packages: a statistics module that training never imports must not mark trained runs as
stale.

Why a fingerprint file instead of listing the files in dvc.yaml: DVC records every dependency
of every stage in dvc.lock and reads and rewrites the whole lock around each stage it runs.
With ~30 code files per stage and several hundred ladder stages the lock grew past 50,000
lines and cost ~15 s of every stage (README, Speed). One dependency on `fingerprints/<m>.txt`
(written by the `code_deps` stage, which depends on the package folders) keeps the same
precision -- the file changes exactly when one of the stage's files does -- in four lock lines.
"""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("resonator", "evals", "reporting", "pipeline", "tools")
FOLDER = "fingerprints"
# Files a module reads as part of its own code: they join its closure, so editing one marks the
# stages that run the module as changed (and the code_deps stage depends on them).
COMPANIONS = {"reporting/sentences.py": ("paper/sentences.yaml",)}
HEADER = ("# The project files `python -m {module}` runs, with their md5 (written by the code_deps stage;\n"
          "# the stage depends on this file, so it is stale exactly when one of these files changed).\n")


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
    """Repository-relative paths of the project files `module` runs, itself included, and their
    companions (COMPANIONS)."""
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
    files = {str(f.relative_to(root)) for f in seen}
    return sorted(files | {c for f in files for c in COMPANIONS.get(f, ())})


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def fingerprint_text(module: str, hashes: dict[str, str]) -> str:
    """The fingerprint of `module` given each file's md5 (path -> md5, in closure order)."""
    return HEADER.format(module=module) + "".join(f"{h}  {p}\n" for p, h in sorted(hashes.items()))


def fingerprint(module: str, root: Path = ROOT) -> str:
    return fingerprint_text(module, {f: md5(root / f) for f in closure(module, root)})


def stage_modules(root: Path = ROOT) -> list[str]:
    """Every module of pipeline/ (one DVC stage each) but the fingerprinting stage itself."""
    return sorted(f"pipeline.{p.stem}" for p in (root / "pipeline").glob("*.py")
                  if p.stem not in ("__init__", "code_deps"))


def fingerprint_path(module: str) -> str:
    return f"{FOLDER}/{module}.txt"


def outdated(root: Path = ROOT) -> dict[str, str]:
    """Stage module -> the fingerprint code_deps would write now, for every module whose
    fingerprint file is missing or holds another."""
    out = {}
    for module in stage_modules(root):
        path, text = root / fingerprint_path(module), fingerprint(module, root)
        if not path.is_file() or path.read_text() != text:
            out[module] = text
    return out
