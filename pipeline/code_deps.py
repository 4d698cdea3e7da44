"""DVC stage `code_deps`: one fingerprint file per stage, hashing the project files it runs.

    python -m pipeline.code_deps

Writes fingerprints/pipeline.<m>.txt for every stage module of pipeline/: the md5 of each file
in the module's import closure (resonator.code_deps). Every other stage depends on its module's
fingerprint instead of on each file, which keeps dvc.lock small (see resonator/code_deps.py).
A file rewritten with the same content leaves DVC's hash of it, and so every downstream stage,
as it was.
"""
from __future__ import annotations

import argparse
import sys

from resonator.atomic import atomic_write_text
from resonator.cli import run_main
from resonator.code_deps import ROOT, fingerprint_path, outdated, stage_modules


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.parse_args(argv)
    for module, text in outdated().items():
        atomic_write_text(ROOT / fingerprint_path(module), text)
    print(f"fingerprints of {len(stage_modules())} stage modules in {fingerprint_path('*')}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
