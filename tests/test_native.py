"""The torch-only scorer (for GPU nodes without lm-eval) equals lm-eval's per-item scores."""
import json
import os

import pytest
import torch

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from evals.native import NativeScorer  # noqa: E402
from evals.run import evaluate_checkpoint, flat_metrics, per_item_scores  # noqa: E402
from resonator.checkpoint import load_model, save_model  # noqa: E402
from resonator.model import ModelConfig, build_model  # noqa: E402
from resonator.tokenizer import eot_id, load_tokenizer, save_tokenizer, train_bpe  # noqa: E402

torch.set_num_threads(1)
TEXT = "The quick brown fox jumps over the lazy dog. A cat sat on a mat, and the hat was red. " * 6


def test_native_scores_equal_lm_eval(tmp_path):
    tok = train_bpe([TEXT] * 3, 300)
    save_tokenizer(tok, tmp_path / "tok.json")
    cfg = ModelConfig(kind="resonator", vocab_size=tok.get_vocab_size(), max_seq_len=16, d_model=32, n_layers=2,
                      n_heads=2, d_ff=64, n_phases=8, dropout=0.0)
    save_model(tmp_path / "m.pt", build_model(cfg, generator=torch.Generator().manual_seed(0)), cfg)
    data = tmp_path / "evalsets"
    data.mkdir()
    sets = {
        "lm_test": [{"text": TEXT[:300]}, {"text": TEXT[100:250]}],
        "rhyme": [{"word": "cat", "choices": ["dog", "hat", "fox", "red"], "label": 1},
                  {"word": "mat", "choices": ["sat", "the", "over", "lazy"], "label": 0}],
        "cloze": [{"context": "The quick brown fox jumps over the lazy", "target": "dog"},
                  {"context": "A cat sat on a", "target": "mat"}],
        "agreement": [{"sentence_good": "The cat is red.", "sentence_bad": "The cat are red."}],
    }
    for name, docs in sets.items():
        (data / f"{name}.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    res = evaluate_checkpoint(tmp_path / "m.pt", tmp_path / "tok.json", list(sets), data, batch_size=4)
    ref_items, ref_metrics = per_item_scores(res["samples"]), flat_metrics(res)
    tk = load_tokenizer(tmp_path / "tok.json")
    native = NativeScorer(load_model(tmp_path / "m.pt"), tk, eot_id(tk), batch_size=4)
    for task, docs in sets.items():
        metrics, items = native.run(task, docs)
        compared = [k for k in metrics if f"{task}/{k}" in ref_metrics]   # the metrics the YAML asks for
        assert compared, task
        for k in compared:
            assert metrics[k] == pytest.approx(ref_metrics[f"{task}/{k}"], rel=1e-5, abs=1e-6), (task, k)
        assert len(items) == len(ref_items[task])
        for mine, ref in zip(items, ref_items[task], strict=True):
            keys = [k for k in mine if k in ref and k != "doc_id"]
            assert keys, task
            for k in keys:
                assert mine[k] == pytest.approx(ref[k], rel=1e-5, abs=1e-6), (task, k)
