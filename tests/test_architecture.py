"""docs/ARCHITECTURE.md's layering rules hold on every import statement, and every file it
names exists."""
import re

from resonator.code_deps import imported

ALLOWED = {"resonator": {"resonator"},
           "evals": {"resonator", "evals"},
           "reporting": {"resonator", "evals", "reporting"},
           "pipeline": {"resonator", "evals", "reporting"},
           "tools": {"resonator", "evals", "reporting", "tools", "pipeline"}}  # grid runs stage mains in-process


def test_imports_follow_the_layering(repo_root):
    bad = []
    for pkg, allowed in ALLOWED.items():
        for f in sorted((repo_root / pkg).rglob("*.py")):
            for name in imported(f, repo_root):
                top = name.split(".")[0]
                if top in ALLOWED and top not in allowed:
                    bad.append(f"{f.relative_to(repo_root)} imports {name}")
    assert not bad, bad


def test_files_the_page_names_exist(repo_root):
    text = (repo_root / "docs" / "ARCHITECTURE.md").read_text()
    named = set(re.findall(r"`((?:resonator|evals|reporting|pipeline|tools|tests|docs)/[\w/.-]+\.(?:py|md|yaml))`",
                           text))
    assert len(named) >= 5             # the pattern finds the page's paths
    missing = sorted(n for n in named if not (repo_root / n).exists())
    assert not missing, missing
