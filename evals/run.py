"""Evaluate one checkpoint with lm-eval on local tasks, offline, without the request cache."""
from __future__ import annotations

import os
from pathlib import Path

# Offline before `datasets`/`lm_eval` are imported: they read these at import time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from evals.tasks import check_tasks, task_manager  # noqa: E402
from resonator.errors import ProjectError  # noqa: E402


def check_batch_size(value, key: str = "eval.batch_size", fix: str = "set it to a positive integer, e.g. 16") -> int:
    """`value` as a positive int, else a one-line error naming `key` (a params key, a flag or the
    model argument). lm-eval's "auto" batch size is refused, not replaced: the resonator model
    scores in batches of exactly the size it is given."""
    text = str(value).strip()
    if text.startswith("auto"):
        raise ProjectError(key, f"batch size {value!r} is not supported: the resonator model has no automatic "
                                f"batch size (lm-eval's 'auto' is for its Hugging Face models)", fix)
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
        raise ProjectError(key, f"batch size {value!r} is not a positive integer", fix)
    return int(text)


def evaluate_checkpoint(checkpoint, tokenizer, tasks, data_dir, batch_size=16, device="cpu", limit=None,
                        seed=0, allow_hub=False, log_samples=True, tasks_key="eval.tasks",
                        allow_hub_hint="set eval.allow_hub: true", batch_key="eval.batch_size",
                        batch_fix="set it to a positive integer, e.g. 16") -> dict:
    """lm-eval's simple_evaluate of our `resonator` model on `tasks`, the local ones found by
    lm-eval's TaskManager in evals/tasks/ and reading their items from `data_dir`. `tasks_key`,
    `allow_hub_hint`, `batch_key` and `batch_fix` name what the caller's user can set."""
    # fails fast, before lm-eval loads
    check_tasks(tasks, data_dir, allow_hub, tasks_key, allow_hub_hint)
    batch_size = check_batch_size(batch_size, batch_key, batch_fix)

    import lm_eval
    import torch

    import evals.adapter  # noqa: F401  (registers the `resonator` model)
    from resonator.threads import run_slot, threads_for_run

    # Like a training run, an evaluation on the CPU takes its share of the cores among the runs
    # going at once: two evaluations of 2 OpenMP threads each on 2 cores spin against each other
    # (measured: 22 s became over 6 minutes). Scores do not depend on it (an evaluation with 1
    # thread gave every per-item log-likelihood of one with 2, bit for bit).
    with run_slot() as others:
        if device == "cpu":
            torch.set_num_threads(threads_for_run(None, others))
        return lm_eval.simple_evaluate(
            model="resonator",
            model_args={"checkpoint": str(checkpoint), "tokenizer": str(tokenizer), "batch_size": batch_size,
                        "device": device},
            tasks=list(tasks), task_manager=task_manager(tasks, data_dir, allow_hub), limit=limit,
            log_samples=log_samples, random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed,
            fewshot_random_seed=seed, bootstrap_iters=0, use_cache=None, cache_requests=False,
        )


# what lm-eval writes into its results about the environment and the moment (stamps, not results)
RUN_INFO_KEYS = ("git_hash", "date", "pretty_env_info", "transformers_version", "lm_eval_version", "upper_git_hash")


def split_run_info(results: dict, root: Path | None = None) -> tuple[dict, dict]:
    """(lm-eval's results without its environment and date, those), with each task's
    config_source relative to the repository `root` (default: here), so that results.json is
    the same bytes whenever and wherever the same checkpoint is scored."""
    root = Path.cwd() if root is None else Path(root)
    clean = {k: v for k, v in results.items() if k not in RUN_INFO_KEYS}
    configs = {}
    for task, cfg in (clean.get("configs") or {}).items():
        meta = cfg.get("metadata") if isinstance(cfg, dict) else None
        source = (meta or {}).get("config_source")
        if source and Path(source).is_absolute() and Path(source).is_relative_to(root.resolve()):
            cfg = {**cfg, "metadata": {**meta, "config_source": str(Path(source).relative_to(root.resolve()))}}
        configs[task] = cfg
    if "configs" in clean:
        clean["configs"] = configs
    return clean, {k: v for k, v in results.items() if k in RUN_INFO_KEYS}


def flat_metrics(results: dict) -> dict:
    """{'lm_test/bits_per_byte': 1.93, ...} from lm-eval's nested results."""
    out = {}
    for task, metrics in results["results"].items():
        for key, value in metrics.items():
            name, _, filt = key.partition(",")
            if filt and filt != "none":
                continue
            if isinstance(value, (int, float)) and not name.endswith("_stderr") and name != "alias":
                out[f"{task}/{name}"] = float(value)
    return out


def per_item_scores(samples: dict) -> dict:
    """Per-item scores in document order, for the statistics' per-item analyses."""
    out = {}
    for task, rows in samples.items():
        rows = sorted(rows, key=lambda r: r["doc_id"])
        items = []
        for r in rows:
            item = {"doc_id": r["doc_id"]}
            for k in ("acc", "acc_norm", "perplexity", "word_perplexity", "byte_perplexity", "bits_per_byte"):
                if k in r:
                    v = r[k]
                    item[k] = list(v) if isinstance(v, tuple) else v
            if "resps" in r and task == "lm_test":
                item["loglikelihood"] = float(r["resps"][0][0])
            items.append(item)
        out[task] = items
    return out


def score(checkpoint, tokenizer, tasks, data_dir, **kwargs) -> tuple[dict, dict, dict]:
    """evaluate_checkpoint(**kwargs) of one checkpoint, split three ways: lm-eval's results
    without their stamps, the per-item samples, and the stamps (seconds of scoring, lm-eval's
    version, the run information split_run_info takes out)."""
    import time

    import lm_eval  # before the clock starts: the import is not scoring time
    t0 = time.perf_counter()
    res = evaluate_checkpoint(checkpoint, tokenizer, tasks, data_dir, **kwargs)
    seconds = time.perf_counter() - t0
    samples = res.pop("samples", {})
    res, run_info = split_run_info(res)
    return res, samples, {"eval_seconds": seconds, "lm_eval_version": lm_eval.__version__, "lm_eval_run": run_info}


def write_scores(folder: Path, results: dict, samples: dict) -> None:
    """An evaluation folder's files: results.json, samples_<task>.jsonl and items.json."""
    import json

    from resonator.atomic import atomic_write_json, atomic_write_text
    atomic_write_text(folder / "results.json", json.dumps(results, indent=1, default=str))
    for task, rows in samples.items():
        atomic_write_text(folder / f"samples_{task}.jsonl", "".join(json.dumps(r, default=str) + "\n" for r in rows))
    atomic_write_json(folder / "items.json", per_item_scores(samples))
