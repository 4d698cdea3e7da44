"""params.yaml validation: bad input stops a stage with a message naming file and key."""
import copy

import pytest
import yaml

from resonator.params import ParamsError, load_params, scaled_sizes, validate


@pytest.fixture
def raw(repo_root):
    return yaml.safe_load((repo_root / "params.yaml").read_text())


def test_repo_params_are_valid(repo_root):
    p = load_params(repo_root / "params.yaml")
    assert p.profile == "small"
    assert set(p.raw["profiles"]) == {"tiny", "small", "paper", "gpu"}
    # every core variant runs 10 seeds in every profile (Holm over ~8 needs n >= 9)
    assert len(p.seeds["core"]) == 10


def test_paper_profile_is_faithful(repo_root):
    prof = load_params(repo_root / "params.yaml").raw["profiles"]["paper"]
    assert prof["model"] == {"d_model": 768, "n_layers": 12, "n_heads": 12, "d_ff": 3072,
                             "max_seq_len": 256, "dropout": 0.1}
    t = prof["train"]
    assert (t["lr"], t["weight_decay"], t["grad_clip"], t["micro_batch"], t["grad_accum"], t["epochs"]) == \
        (3e-4, 0.01, 1.0, 8, 4, 2.0)
    assert t["max_chunks"] == 200_000 and t["dtype"] == "fp32"
    assert prof["tokenizer"]["kind"] == "gpt2"


def check_error(raw, tmp_path, *needles):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError) as e:
        load_params(path)
    msg = str(e.value)
    assert str(path) in msg
    for n in needles:
        assert n in msg, msg
    return msg


def test_unknown_key(raw, tmp_path):
    raw["profiles"]["small"]["train"]["learning_rate"] = 1e-3
    check_error(raw, tmp_path, "profiles.small.train", "unknown key 'learning_rate'")


def test_wrong_type(raw, tmp_path):
    raw["profiles"]["small"]["train"]["micro_batch"] = "eight"
    check_error(raw, tmp_path, "profiles.small.train.micro_batch", "expected int")


def test_bool_is_not_a_number(raw, tmp_path):
    raw["profiles"]["small"]["model"]["d_model"] = True
    check_error(raw, tmp_path, "profiles.small.model.d_model")


def test_bad_value(raw, tmp_path):
    raw["profiles"]["small"]["model"]["dropout"] = 1.5
    check_error(raw, tmp_path, "profiles.small.model.dropout", "[0, 1)")
    raw["profiles"]["small"]["model"]["dropout"] = 0.1
    raw["profiles"]["small"]["train"]["lr"] = -1
    check_error(raw, tmp_path, "profiles.small.train.lr", "> 0")


def test_missing_variant(raw, tmp_path):
    raw["groups"]["core"].append("resonator_typo")
    check_error(raw, tmp_path, "groups.core[5]", "unknown variant 'resonator_typo'")


def test_hypothesis_names_unknown_variant(raw, tmp_path):
    raw["hypotheses"]["tests"][0]["b"] = "nope"
    check_error(raw, tmp_path, "hypotheses.tests[0].b", "nope")


def test_unknown_variant_key(raw, tmp_path):
    raw["variants"]["standard"]["use_phase"] = True
    check_error(raw, tmp_path, "variants.standard", "unknown key 'use_phase'")


def test_unknown_profile(raw, tmp_path):
    raw["profile"] = "huge"
    check_error(raw, tmp_path, "'profile'", "huge")


def test_missing_key(raw, tmp_path):
    del raw["profiles"]["small"]["train"]["lr"]
    check_error(raw, tmp_path, "profiles.small.train.lr", "missing")


def test_heads_must_divide_width(raw, tmp_path):
    raw["profiles"]["small"]["model"]["n_heads"] = 5
    check_error(raw, tmp_path, "profiles.small.model", "divisible")


def test_overrides_and_runs(repo_root):
    p = load_params(repo_root / "params.yaml", overrides={"profile": "tiny", "seeds.ablation": [0]})
    assert p.profile == "tiny"
    runs = p.runs()
    assert ("standard", 9) in runs and ("resonator_small", 0) in runs and ("resonator_small", 1) not in runs


def test_hash_is_stable_and_sensitive(repo_root):
    a = load_params(repo_root / "params.yaml")
    b = load_params(repo_root / "params.yaml")
    assert a.hash == b.hash and a.prereg_hash == b.prereg_hash
    c = load_params(repo_root / "params.yaml", overrides={"hypotheses.alpha": 0.01})
    assert c.prereg_hash != a.prereg_hash


def test_scaled_sizes_match_original_model_c():
    # RESONATOR.md: model C is 512 wide, 8 layers, 8 heads, d_ff 2048 against 768/12/12/3072.
    base = {"d_model": 768, "n_layers": 12, "n_heads": 12, "d_ff": 3072}
    assert scaled_sizes(base, 2 / 3) == {"d_model": 512, "n_layers": 8, "n_heads": 8, "d_ff": 2048}
