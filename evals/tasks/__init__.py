"""Local lm-eval tasks, one YAML per task in this folder, found by lm-eval's own
`TaskManager(include_path=TASK_DIR)`. Each YAML names `class: !function local.LocalTask`:
the task reads its items from `<data_dir>/<task>.jsonl`, `data_dir` being the TaskManager's
metadata (`task_manager`), so one YAML serves every profile and no task ever needs a hub.
What differs between profiles (how many items, how many test documents) is in the data files
themselves: the evalsets stage builds them from `profiles.<P>.eval`."""
from __future__ import annotations

from pathlib import Path

from resonator.errors import ProjectError

TASK_DIR = Path(__file__).parent
LOCAL_TASKS = sorted(p.stem for p in TASK_DIR.glob("*.yaml"))


class TaskDataError(ProjectError, FileNotFoundError):
    """A local task's data file is missing."""


class HubTaskError(ProjectError, RuntimeError):
    """A task that would need a model/dataset hub was requested offline."""


def data_file(name: str, data_dir) -> Path:
    """The data file of local task `name` in `data_dir`, refused if missing or empty."""
    path = Path(data_dir) / f"{name}.jsonl"
    if not path.exists():
        raise TaskDataError(path, f"does not exist (task '{name}' needs it)",
                            "build it with `python -m pipeline.evalsets` (DVC stage evalsets)")
    if not path.read_text(encoding="utf-8").strip():
        raise TaskDataError(path, f"has no items (task '{name}')",
                            "drop the task from eval.tasks, or rebuild the evalsets from a larger corpus")
    return path


def check_tasks(names, data_dir, allow_hub: bool = False, tasks_key: str = "eval.tasks",
                allow_hub_hint: str = "set eval.allow_hub: true") -> None:
    """Every task is local with its data file in place, or a hub task that is allowed: checked
    before lm-eval is imported. `tasks_key` and `allow_hub_hint` name what the caller's user can
    set: a params key for the pipeline, a flag (--tasks, --allow_hub) on the command line."""
    for name in names:
        if name in LOCAL_TASKS:
            data_file(name, data_dir)
        elif not allow_hub:
            raise HubTaskError(tasks_key, f"task '{name}' is not a local task (local: {', '.join(LOCAL_TASKS)}); "
                                          f"lm-eval's built-in tasks download their data from a hub, which is "
                                          f"offline here", f"{allow_hub_hint} on a machine with network access")


def task_manager(names, data_dir, allow_hub: bool = False):
    """lm-eval's TaskManager over this folder, with `data_dir` as every task's metadata. lm-eval's
    built-in index (~10 s to build) is left out unless a hub task was asked for and allowed."""
    from lm_eval.tasks import TaskManager
    hub = allow_hub and any(name not in LOCAL_TASKS for name in names)
    return TaskManager(include_path=str(TASK_DIR), include_defaults=hub, metadata={"data_dir": str(data_dir)})
