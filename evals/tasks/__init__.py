"""Local lm-eval task configs. Each YAML names `dataset_path: json`; the data file of the
active profile (data/<profile>/evalsets/<task>.jsonl) is filled in by `task_configs`,
so one YAML serves every profile and no task ever needs a hub."""
from __future__ import annotations

from pathlib import Path

import yaml

from resonator.errors import ProjectError

TASK_DIR = Path(__file__).parent
LOCAL_TASKS = sorted(p.stem for p in TASK_DIR.glob("*.yaml"))


class TaskDataError(ProjectError, FileNotFoundError):
    """A local task's data file is missing."""


class HubTaskError(ProjectError, RuntimeError):
    """A task that would need a model/dataset hub was requested offline."""


def task_config(name: str, data_dir) -> dict:
    cfg = yaml.safe_load((TASK_DIR / f"{name}.yaml").read_text())
    data_file = Path(data_dir) / f"{name}.jsonl"
    if not data_file.exists():
        raise TaskDataError(data_file, f"does not exist (task '{name}' needs it)",
                            "build it with `python -m pipeline.evalsets` (DVC stage evalsets)")
    if not data_file.read_text(encoding="utf-8").strip():
        raise TaskDataError(data_file, f"has no items (task '{name}')",
                            "drop the task from eval.tasks, or rebuild the evalsets from a larger corpus")
    cfg["dataset_kwargs"] = {"data_files": {"test": str(data_file)}}
    return cfg


def task_configs(names, data_dir, allow_hub: bool = False, tasks_key: str = "eval.tasks",
                 allow_hub_hint: str = "set eval.allow_hub: true") -> list:
    """`tasks_key` and `allow_hub_hint` name what the caller's user can set: a params key
    for the pipeline, a flag (--tasks, --allow_hub) on the command line."""
    out = []
    for name in names:
        if name in LOCAL_TASKS:
            out.append(task_config(name, data_dir))
        elif allow_hub:
            out.append(name)  # an lm-eval built-in task, resolved by its own index
        else:
            raise HubTaskError(tasks_key, f"task '{name}' is not a local task (local: {', '.join(LOCAL_TASKS)}); "
                                          f"lm-eval's built-in tasks download their data from a hub, which is "
                                          f"offline here", f"{allow_hub_hint} on a machine with network access")
    return out
