"""tools.run_study --ladder: the order in which it hands stages to DVC (no DVC run here; the main
study's order is tested in tests/test_grid.py)."""
from tools.run_study import ladder_chains


def test_ladder_phases_tune_select_then_final_seed_major():
    names = ["tune@d64-standard-0.001-100", "tune@d64-resonator_phonetic-0.001-100", "tune@d128-standard-0.001-100",
             "select_lr@d64-standard", "ladder_stats"]
    tune, select, final = ladder_chains("d64", ["standard", "resonator_phonetic"], [0, 1], names)
    assert tune == [("tune@d64-standard-0.001-100",), ("tune@d64-resonator_phonetic-0.001-100",)]
    assert select == [("select_lr@d64-standard",), ("select_lr@d64-resonator_phonetic",)]
    assert final[:2] == [("train_rung@d64-standard-0", "eval_rung@d64-standard-0"),
                         ("train_rung@d64-resonator_phonetic-0", "eval_rung@d64-resonator_phonetic-0")]
    assert final[-1] == ("train_rung@d64-resonator_phonetic-1", "eval_rung@d64-resonator_phonetic-1")

