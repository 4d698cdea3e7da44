"""lm-eval adapter: exact token accounting, planted multiple choice, batch-size invariance, errors."""
import json
import logging
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from evals.scoring import rolling_windows  # noqa: E402
from evals.tasks import LOCAL_TASKS, HubTaskError, TaskDataError, check_tasks, task_manager  # noqa: E402
from resonator.checkpoint import save_model  # noqa: E402
from resonator.model import ModelConfig, build_model  # noqa: E402
from resonator.tokenizer import save_tokenizer, train_bpe  # noqa: E402

TEXT = ("The quick brown fox jumps over the lazy dog. A cat sat on a mat and a hat. " * 8).strip()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    tok = train_bpe([TEXT] * 5, 300)
    save_tokenizer(tok, d / "tok.json")
    cfg = ModelConfig(kind="resonator", vocab_size=tok.get_vocab_size(), max_seq_len=16, d_model=32, n_layers=2,
                      n_heads=2, d_ff=64, n_phases=8, dropout=0.0)
    model = build_model(cfg, generator=torch.Generator().manual_seed(0))
    save_model(d / "m.pt", model, cfg)
    return d, tok, model.eval()


def lm(tiny, batch_size=8):
    from evals.adapter import ResonatorLM
    d, _, _ = tiny
    return ResonatorLM(checkpoint=str(d / "m.pt"), tokenizer=str(d / "tok.json"), batch_size=batch_size)


class Req:
    def __init__(self, *args):
        self.args = args


def test_rolling_windows_score_every_token_once():
    toks = list(range(1, 50))
    wins = rolling_windows(toks, 0, max_len=16, context_len=8)
    preds = [t for _, cont in wins for t in cont]
    assert preds == toks
    for ctx, cont in wins:
        assert len(ctx) + len(cont) - 1 <= 16
    from lm_eval.utils import get_rolling_token_windows, make_disjoint_window
    ref = [make_disjoint_window(w) for w in get_rolling_token_windows(toks, 0, 16, 8)]
    assert [tuple(map(tuple, w)) for w in wins] == [tuple(map(tuple, w)) for w in ref]


def test_loglikelihood_rolling_equals_direct_sum(tiny):
    d, tok, model = tiny
    adapter = lm(tiny)
    ids = tok.encode(TEXT, add_special_tokens=False).ids
    assert len(ids) > 3 * 16
    got = adapter.loglikelihood_rolling([Req(TEXT)])[0]
    direct, scored = 0.0, 0
    with torch.no_grad():
        for ctx, cont in rolling_windows(ids, adapter.eot_token_id, 16, adapter.rolling_context):
            inp = (ctx + cont)[:-1]
            logp = F.log_softmax(model(torch.tensor([inp]))[0][0], -1)
            for k, t in enumerate(cont):
                direct += logp[len(inp) - len(cont) + k, t].item()
                scored += 1
    assert scored == len(ids)
    assert got == pytest.approx(direct, abs=1e-4)


def test_multiple_choice_picks_planted_answer(tiny):
    d, tok, model = tiny
    adapter = lm(tiny)
    ctx = "The quick brown"
    ids = tok.encode(ctx, add_special_tokens=False).ids
    with torch.no_grad():
        greedy = int(model(torch.tensor([ids]))[0][0, -1].argmax())
    planted = tok.decode([greedy])
    others = [tok.decode([i]) for i in range(5, 300, 37) if i != greedy][:3]
    scores = adapter.loglikelihood([Req(ctx, c) for c in [*others, planted]])
    lls = [s[0] for s in scores]
    assert lls.index(max(lls)) == 3 and scores[3][1] is True


def test_scores_do_not_depend_on_batch_size(tiny):
    reqs = [Req("The quick", " brown fox"), Req("A cat", " sat on a mat"), Req("lazy", " dog."),
            Req("over the lazy dog. A cat sat on", " a hat")] * 3
    a = [s[0] for s in lm(tiny, 1).loglikelihood(reqs)]
    b = [s[0] for s in lm(tiny, 8).loglikelihood(reqs)]
    # right padding never reaches a scored position; only GEMM blocking may differ in the last bits
    assert a == pytest.approx(b, abs=1e-5)
    ra = lm(tiny, 1).loglikelihood_rolling([Req(TEXT)])
    rb = lm(tiny, 8).loglikelihood_rolling([Req(TEXT)])
    assert ra == pytest.approx(rb, abs=1e-4)


def test_generate_until_is_greedy(tiny):
    out = lm(tiny).generate_until([Req("The quick", {"until": ["\n"], "max_gen_toks": 5})])
    assert isinstance(out[0], str)


def test_missing_task_data_is_a_clear_error(tmp_path):
    with pytest.raises(TaskDataError, match=r"rhyme.jsonl.*pipeline.evalsets"):
        check_tasks(["rhyme"], tmp_path)


def test_hub_task_offline_is_a_clear_error(tmp_path):
    with pytest.raises(HubTaskError, match="hellaswag.*hub"):
        check_tasks(["hellaswag"], tmp_path)


SETS = {
    "lm_test": [{"text": TEXT[:300]}, {"text": TEXT[100:250]}],
    "rhyme": [{"word": "cat", "choices": ["dog", "hat", "fox", "red"], "label": 1},
              {"word": "mat", "choices": ["sat", "the", "over", "lazy"], "label": 0}],
    "cloze": [{"context": "The quick brown fox jumps over the lazy", "target": "dog"},
              {"context": "A cat sat on a", "target": "mat"}, {"context": "and a", "target": "hat"}],
    "agreement": [{"sentence_good": "The cat is red.", "sentence_bad": "The cat are red."}],
}


def write_sets(d):
    d.mkdir()
    for name, docs in SETS.items():
        (d / f"{name}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in docs))
    return d


def test_local_tasks_are_found_by_lm_eval_task_manager(tmp_path, caplog):
    """lm-eval's TaskManager(include_path=evals/tasks) finds every YAML; each task reads its
    items from the data folder given as metadata, so one YAML serves every profile. Every
    metric declares its aggregation and direction: building the tasks warns about nothing."""
    assert sorted(SETS) == LOCAL_TASKS
    data = write_sets(tmp_path / "evalsets")
    tm = task_manager(LOCAL_TASKS, data)
    assert set(LOCAL_TASKS) <= set(tm.all_subtasks)
    with caplog.at_level(logging.WARNING):
        tasks = tm.load(LOCAL_TASKS)["tasks"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert sorted(tasks) == LOCAL_TASKS
    for name, task in tasks.items():
        assert task.config.dataset_kwargs == {"data_files": {"test": str(data / f"{name}.jsonl")}}
        assert [dict(x) for x in task.test_docs()] == SETS[name]


def test_every_local_task_scored_through_simple_evaluate(tiny, tmp_path):
    """The real path end to end (lm-eval builds the requests, the adapter scores them): each
    output type's per-item score is the adapter's score of the request lm-eval makes of the item."""
    from evals.run import evaluate_checkpoint, flat_metrics, per_item_scores
    d, _, _ = tiny
    res = evaluate_checkpoint(d / "m.pt", d / "tok.json", LOCAL_TASKS, write_sets(tmp_path / "evalsets"),
                              batch_size=4)
    items = per_item_scores(res["samples"])
    assert {t: len(v) for t, v in items.items()} == {t: len(v) for t, v in SETS.items()}
    metrics = flat_metrics(res)
    for key in ("lm_test/bits_per_byte", "lm_test/word_perplexity", "rhyme/acc", "rhyme/acc_norm", "cloze/perplexity",
                "cloze/acc", "agreement/acc"):
        assert key in metrics
    adapter = lm(tiny, 4)
    rolling = [adapter.loglikelihood_rolling([Req(x["text"])])[0] for x in SETS["lm_test"]]
    assert [x["loglikelihood"] for x in items["lm_test"]] == pytest.approx(rolling, abs=1e-5)
    cloze = adapter.loglikelihood([Req(x["context"], " " + x["target"]) for x in SETS["cloze"]])
    assert [x["perplexity"] for x in items["cloze"]] == pytest.approx([ll for ll, _ in cloze], abs=1e-5)
    assert [x["acc"] for x in items["cloze"]] == [float(g) for _, g in cloze]
    for item, x in zip(items["agreement"], SETS["agreement"], strict=True):
        good, bad = (ll for ll, _ in adapter.loglikelihood([Req("", " " + x["sentence_good"]),
                                                             Req("", " " + x["sentence_bad"])]))
        assert item["acc"] == float(good > bad)


@pytest.mark.parametrize("bad", ["auto", "auto:4", 0, "0", "sixteen"])
def test_adapter_refuses_a_batch_size_it_cannot_honour(tiny, bad):
    """lm-eval's "auto" (or any non-positive-integer) batch size is refused, never replaced."""
    from resonator.errors import ProjectError
    with pytest.raises(ProjectError) as e:
        lm(tiny, bad)
    assert e.value.where == "batch_size" and "positive integer" in e.value.fix
    assert ("not supported" in e.value.what) == str(bad).startswith("auto")


def test_lm_eval_auto_batch_size_is_refused(tiny):
    """Through lm-eval's own API: simple_evaluate(batch_size="auto") stops at the model, one line."""
    import lm_eval

    import evals.adapter  # noqa: F401  (registers the `resonator` model)
    from resonator.errors import ProjectError
    d, _, _ = tiny
    with pytest.raises(ProjectError, match=r"^batch_size: batch size 'auto' is not supported") as e:
        lm_eval.simple_evaluate(model="resonator", model_args=f"checkpoint={d / 'm.pt'},tokenizer={d / 'tok.json'}",
                                tasks=["agreement"], batch_size="auto")
    assert "\n" not in str(e.value)


def test_evaluate_checkpoint_names_the_batch_size_key(tiny, tmp_path):
    from evals.run import evaluate_checkpoint
    from resonator.errors import ProjectError
    d, _, _ = tiny
    with pytest.raises(ProjectError) as e:
        evaluate_checkpoint(d / "m.pt", d / "tok.json", ["agreement"], write_sets(tmp_path / "evalsets"),
                            batch_size="auto", batch_key="profiles.tiny.eval.batch_size")
    assert e.value.where == "profiles.tiny.eval.batch_size" and e.value.fix == "set it to a positive integer, e.g. 16"


def test_cli_end_to_end(tiny, tmp_path, repo_root):
    d, _, _ = tiny
    data = tmp_path / "evalsets"
    data.mkdir()
    pair = {"sentence_good": "A cat sat.", "sentence_bad": "A cat sit."}
    (data / "agreement.jsonl").write_text("".join(json.dumps(pair) + "\n" for _ in range(4)))
    r = subprocess.run([sys.executable, "-m", "evals",
                        "--model_args", f"checkpoint={d / 'm.pt'},tokenizer={d / 'tok.json'}",
                        "--tasks", "agreement", "--data_dir", str(data), "--output_path", str(tmp_path / "out"),
                        "--log_samples"], cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "agreement/acc" in r.stdout
    assert (tmp_path / "out" / "results.json").exists() and (tmp_path / "out" / "samples_agreement.jsonl").exists()


def test_templates_compiled_once_render_the_same_text():
    import jinja2
    import lm_eval.utils

    import evals.adapter  # noqa: F401  (installs the cache)
    assert getattr(lm_eval.utils.apply_template, "_compiled_once", False)
    env = jinja2.Environment(loader=jinja2.BaseLoader, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    for template, doc in [('Rhymes with "{{word}}":', {"word": "night"}), ("{{' ' + target}}", {"target": "cat"}),
                          ("{{[sentence_good, sentence_bad]}}", {"sentence_good": "a", "sentence_bad": "b"})]:
        for _ in range(2):
            assert lm_eval.utils.apply_template(template, doc) == env.from_string(template).render(**doc)
