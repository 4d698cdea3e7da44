"""The pilot's flattening criterion."""
import pytest

from tools.pilot import flattened_at


def test_flattened_at_finds_the_first_flat_point():
    tokens = list(range(0, 1100, 100))
    loss = [7.0, 6.0, 5.5, 5.2, 5.1, 5.05, 5.04, 5.035, 5.03, 5.03, 5.03]
    # from 500 on the next 200 tokens improve by < 0.02
    assert flattened_at(tokens, loss, window=200, threshold=0.02) == 500
    assert flattened_at(tokens, loss, window=200, threshold=0.001) == 800
    # a curve still falling never flattens
    assert flattened_at(tokens, [7 - 0.1 * i for i in range(11)], window=200, threshold=0.05) is None


def test_a_rung_pilot_needs_its_own_folder_and_tuning_seeds():
    """--rung never writes over design v2's registered pilot, and never trains a final seed."""
    from resonator.errors import ProjectError
    from tools.pilot import main
    with pytest.raises(SystemExit, match="--rung needs --out"):
        main(["--rung", "d64"])
    with pytest.raises(ProjectError, match="study seeds"):
        main(["--rung", "d64", "--out", "unused", "--seeds", "3"])


def test_falls_take_the_rows_the_registered_check_takes():
    """The fall over the window ending at a length: a straight curve falls by slope x window; a
    length past the curve's end has none."""
    from tools.pilot import end_fall, falls
    tokens = list(range(0, 8001, 500))
    loss = [5 - 1e-4 * t for t in tokens]
    assert end_fall(tokens, loss, 4000, 1.0, 0.25) == pytest.approx(0.1)
    assert end_fall(tokens, loss, 4000, 2.0, 0.25) == pytest.approx(0.1)
    assert end_fall(tokens, loss, 4000, 3.0, 0.25) is None
    pilot = {"runs": {"a/s1": {"tokens": tokens, "val_loss": loss, "epoch_tokens": 4000}},
             "mean": {"tokens": tokens, "val_loss": [x + 1 for x in loss]}}
    doc = falls(pilot, [1.0, 3.0], 0.25)
    assert doc["a/s1"]["1"] == pytest.approx(0.1) and doc["mean"]["1"] == pytest.approx(0.1)
    assert doc["mean"]["3"] is None
