"""params.yaml validation: bad input stops a stage with a message naming file and key."""

from pathlib import PurePosixPath

import pytest
import yaml

from resonator.params import ParamsError, load_params, scaled_sizes, stable_hash


@pytest.fixture
def raw(repo_root):
    return yaml.safe_load((repo_root / "params.yaml").read_text())


def test_repo_params_are_valid(repo_root):
    p = load_params(repo_root / "params.yaml")
    assert p.profile in p.raw["profiles"]
    assert {"tiny", "small", "paper", "gpu"} <= set(p.raw["profiles"])
    # every core variant runs 10 seeds in every profile (Holm over ~8 needs n >= 9)
    assert len(p.seeds["core"]) == 10


def test_paper_profile_is_faithful(repo_root):
    prof = load_params(repo_root / "params.yaml").raw["profiles"]["paper"]
    assert prof["model"] == {"d_model": 768, "n_layers": 12, "n_heads": 12, "d_ff": 3072,
                             "max_seq_len": 256, "dropout": 0.1, "init_pairing": "per_parameter"}
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


def test_misspelt_key_gets_a_suggestion(raw, tmp_path):
    raw["variants"]["standard"]["lamda_init"] = 0.01
    check_error(raw, tmp_path, "key 'variants.standard'", "unknown key 'lamda_init'", "did you mean 'lambda_init'?")
    del raw["variants"]["standard"]["lamda_init"]
    raw["variants"]["standard"]["kind"] = "resonatr"
    check_error(raw, tmp_path, "variants.standard.kind", "did you mean 'resonator'?")


def test_yaml_string_number_gets_a_hint(raw, tmp_path):
    # YAML 1.1 reads 1.0e6 (no exponent sign) and 1e-3 (no dot) as strings
    raw["profiles"]["small"]["train"]["lr"] = "1e-3"
    check_error(raw, tmp_path, "profiles.small.train.lr", "YAML reads 1e-3 as a string: write 1.0e-3")
    raw["profiles"]["small"]["train"]["lr"] = "1.0e6"
    check_error(raw, tmp_path, "YAML reads 1.0e6 as a string: write 1.0e+6")


def test_yaml_text_number_round_trip(raw, tmp_path):
    raw["profiles"]["tiny"]["train"]["lr"] = 0.5
    text = yaml.safe_dump(raw)
    assert text.count("lr: 0.5") == 1
    path = tmp_path / "params.yaml"
    path.write_text(text.replace("lr: 0.5", "lr: 5e-1"))
    with pytest.raises(ParamsError, match=r"profiles\.tiny\.train\.lr.*write 5.0e-1"):
        load_params(path)


def test_hypothesis_needs_planned_pairs(raw, tmp_path):
    # an empty seed list for a group that hypotheses use would silently shrink the Holm family
    raw["seeds"]["ablation"] = []
    check_error(raw, tmp_path, "seeds.ablation", "is empty")
    raw["groups"]["ablation"] = []
    check_error(raw, tmp_path, "hypotheses.tests[", "which no group trains")
    raw["groups"]["ablation"] = ["resonator_small"]
    raw["seeds"]["ablation"] = [42]
    check_error(raw, tmp_path, "H4", "share no seed")


def test_environment_profile_must_agree(repo_root, monkeypatch):
    p = load_params(repo_root / "params.yaml")
    monkeypatch.setenv("RESONATOR_PROFILE", p.profile)
    assert load_params(repo_root / "params.yaml").profile == p.profile
    other = next(q for q in p.raw["profiles"] if q != p.profile)
    monkeypatch.setenv("RESONATOR_PROFILE", other)
    with pytest.raises(ParamsError, match="unset RESONATOR_PROFILE"):
        load_params(repo_root / "params.yaml")


def test_dead_keys_are_gone_or_honoured(raw, tmp_path):
    raw["profiles"]["small"]["train"]["log_interval"] = 10
    check_error(raw, tmp_path, "profiles.small.train", "unknown key 'log_interval'")
    del raw["profiles"]["small"]["train"]["log_interval"]
    raw["hypotheses"]["correction"] = "bonferroni"
    check_error(raw, tmp_path, "hypotheses.correction")


def test_wrong_type(raw, tmp_path):
    raw["profiles"]["small"]["train"]["micro_batch"] = "eight"
    check_error(raw, tmp_path, "profiles.small.train.micro_batch", "expected int")


def test_bool_is_not_a_number(raw, tmp_path):
    raw["profiles"]["small"]["model"]["d_model"] = True
    check_error(raw, tmp_path, "profiles.small.model.d_model")


def test_bad_value(raw, tmp_path):
    raw["profiles"]["small"]["model"]["dropout"] = 1.5
    check_error(raw, tmp_path, "profiles.small.model.dropout", "must be < 1, got 1.5")
    raw["profiles"]["small"]["model"]["dropout"] = 0.1
    raw["profiles"]["small"]["train"]["lr"] = -1
    check_error(raw, tmp_path, "profiles.small.train.lr", "> 0")


def test_missing_variant(raw, tmp_path):
    raw["groups"]["core"].append("resonator_typo")
    check_error(raw, tmp_path, f"groups.core[{len(raw['groups']['core']) - 1}]", "unknown variant 'resonator_typo'")


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
    p = load_params(repo_root / "params.yaml", overrides={"profile": "tiny", "seeds.ablation": [0],
                                                           "seeds.core": [0, 9]})
    assert p.profile == "tiny"
    runs = p.runs()
    assert ("standard", 9) in runs and ("resonator_small", 0) in runs and ("resonator_small", 1) not in runs


def test_hash_is_stable_and_sensitive(repo_root):
    a = load_params(repo_root / "params.yaml")
    b = load_params(repo_root / "params.yaml")
    assert a.hash == b.hash and a.prereg_hash == b.prereg_hash
    c = load_params(repo_root / "params.yaml", overrides={"hypotheses.alpha": 0.01})
    assert c.prereg_hash != a.prereg_hash


# Computed once with the code before issue 19's refactor (commit b02f632), where the run
# fingerprint was resonator.train.fingerprint and params_hash resonator.params.stable_hash:
# both kinds of hash are stored (ckpt/last.pt, train.json), so neither may change by a byte.
FROZEN_OBJECT = {"profile": "tiny", "seed": 0, "world_size": 2, "lr": 3.0e-4, "betas": (0.9, 0.95), "none": None,
                 "flag": True, "path": PurePosixPath("data/tiny/tokens"), "text": 'naïve, "quoted": yes',
                 "nested": {"b": [1, 2.5, "x"], "a": {"z": 1, "y": [None, False]}}}
OLD_TRAIN_FINGERPRINT = "6b04019e9038859af0ce27c50b8875e23256751579d170b96969dd9ef951e35f"
OLD_STABLE_HASH = "ae1039f15708d7a0331862bb7a08502e7334be70c720d399ceed841f09bf6be8"


def test_hash_forms_are_byte_identical_to_the_old_code():
    assert stable_hash(FROZEN_OBJECT, spaced=True) == OLD_TRAIN_FINGERPRINT    # run fingerprints (resume)
    assert stable_hash(FROZEN_OBJECT) == OLD_STABLE_HASH                         # params/prereg/ladder hashes


def test_scaled_sizes_match_original_model_c():
    # docs/original.md: model C is 512 wide, 8 layers, 8 heads, d_ff 2048 against 768/12/12/3072.
    base = {"d_model": 768, "n_layers": 12, "n_heads": 12, "d_ff": 3072}
    assert scaled_sizes(base, 2 / 3) == {"d_model": 512, "n_layers": 8, "n_heads": 8, "d_ff": 2048}


def test_design_v2_controls(repo_root):
    """The v2 controls at the small profile: the embedding-matched standard is resonator_no_resonance
    under another name, the compute-matched standard has the resonator's FLOPs per token, and the
    existing parameter-matched baseline keeps its d_ff (its committed runs stay valid)."""
    import dataclasses

    from resonator.sizes import count_params, flops_per_token
    p = load_params(repo_root / "params.yaml", overrides={"profile": "small"})
    mc = {v: p.model_config(v, 2048) for v in p.variants}
    assert mc["standard_embedding_matched"] == mc["resonator_no_resonance"]
    res, cm = mc["resonator_random"], mc["standard_compute_matched"]
    assert count_params(mc["standard_embedding_matched"]) == count_params(res) - res.n_layers * res.n_heads
    assert mc["standard_param_matched"].d_ff == 518 and count_params(mc["standard_param_matched"]) == 302348
    assert cm.kind == "standard" and cm.d_ff == 328 and flops_per_token(cm) == flops_per_token(res) == 1585152
    gap = abs(flops_per_token(cm) - flops_per_token(res))     # and no other d_ff comes closer
    for d_ff in (cm.d_ff - 1, cm.d_ff + 1):
        assert abs(flops_per_token(dataclasses.replace(cm, d_ff=d_ff)) - flops_per_token(res)) > gap
    assert mc["resonator_uniform"].phase_init == "uniform"


def test_flops_matching_at_an_inexact_size(raw, tmp_path):
    # paper profile: the resonator's extra FLOPs are not a whole number of d_ff units; the nearest wins
    from resonator.sizes import flops_per_token
    raw["profile"] = "paper"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    p = load_params(path)
    cm, res = p.model_config("standard_compute_matched", 50257), p.model_config("resonator_random", 50257)
    unit = 12 * cm.n_layers * cm.d_model                      # FLOPs per token of one more hidden unit
    assert cm.d_ff > 3072 and abs(flops_per_token(cm) - flops_per_token(res)) <= unit / 2


def test_one_matching_rule_per_variant(raw, tmp_path):
    raw["variants"]["standard_param_matched"]["match_resonator_flops"] = True
    check_error(raw, tmp_path, "variants.standard_param_matched", "pick one")


def test_registered_design_v2(repo_root):
    """Design v2 as registered: every hypothesis has >= 10 paired seeds, a margin with its reason,
    below the claim it is tied to, and the design can decide every hypothesis in its family."""
    from evals.design import require_decidable
    p = load_params(repo_root / "params.yaml")
    h = p.hypotheses
    assert h["version"] == 2 and h["supersedes"][0]["version"] == 1
    for t in h["tests"]:
        pairs = set(p.planned_seeds(t["a"])) & set(p.planned_seeds(t["b"]))
        assert len(pairs) >= 10, t["id"]
        assert t["margin_reason"].strip(), t["id"]
        if t.get("claimed_ppl") is not None:
            assert t["margin_ppl"] < t["claimed_ppl"], t["id"]
    h2 = next(t for t in h["tests"] if t["id"] == "H2")
    assert h2["margin_ppl"] < 1.1   # below the original's phonetic-over-random gain
    rows = require_decidable(p)
    assert len(rows) == len(h["tests"]) and all(r["can_reject_first_step"] for r in rows)


def test_margin_must_be_below_its_claim(raw, tmp_path):
    h2 = next(t for t in raw["hypotheses"]["tests"] if t["id"] == "H2")
    h2["margin_ppl"] = 5.5
    check_error(raw, tmp_path, "hypotheses.tests", "not smaller than the claimed effect")


def test_undecidable_design_is_refused(raw, tmp_path):
    """Three seeds cannot reject anything in a Holm family of 7 (2/2^3 = 0.25 > 0.05/7): refused
    with the seeds needed; `design_check: warn` lets a smoke run through with a warning."""
    from evals.design import require_decidable
    from resonator.errors import ProjectError
    raw["seeds"]["core"] = [0, 1, 2]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ProjectError, match=r"hypotheses\.tests.*H0.*plan at least 9 seeds"):
        require_decidable(load_params(path))
    raw["hypotheses"]["design_check"] = "warn"
    path.write_text(yaml.safe_dump(raw))
    assert require_decidable(load_params(path))
