"""A rank for tests/test_startup.py: writes what it sees of its launcher to <dir>/rank<RANK>.json."""
import json
import os
import sys
from pathlib import Path

from resonator.launch import started_by_launch, under_launcher

Path(sys.argv[1], f"rank{os.environ['RANK']}.json").write_text(json.dumps(
    {"under_launcher": under_launcher(), "started_by_launch": started_by_launch(),
     "threads": os.environ["OMP_NUM_THREADS"]}))
