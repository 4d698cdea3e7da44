"""The class every local task YAML names (`class: !function local.LocalTask`); lm-eval imports
this file from the YAML's folder when it builds a task.

A LocalTask is lm-eval's ConfigurableTask with its YAML config as written, plus one thing the
YAML cannot know: its data file, `<data_dir>/<task>.jsonl`, where `data_dir` is the metadata the
TaskManager attaches to every task (`evals.tasks.task_manager`).
"""
from __future__ import annotations

from lm_eval.api.task import ConfigurableTask


class LocalTask(ConfigurableTask):
    def __init__(self, config: dict):
        from evals.tasks import data_file
        config = {k: v for k, v in config.items() if k != "class"}  # how lm-eval found us, not a task setting
        data_dir = (config.get("metadata") or {}).get("data_dir")
        if data_dir is None:
            raise ValueError(f"task '{config['task']}' reads <data_dir>/{config['task']}.jsonl but no data_dir was "
                             f"given: build the TaskManager with metadata={{'data_dir': ...}} "
                             f"(evals.tasks.task_manager does)")
        config["dataset_kwargs"] = {"data_files": {config["test_split"]: str(data_file(config["task"], data_dir))}}
        super().__init__(config=config)
