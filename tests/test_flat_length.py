"""tools.flat_length: where a decaying validation curve's quarter-epoch fall drops under the
pilot's criterion, by the two laws it fits."""
import math

import numpy as np
import pytest

from evals.ladder import FLAT_NATS, FLAT_WINDOW
from tools.flat_length import proposal


def test_an_exponential_curve_is_extrapolated_exactly_and_the_power_law_is_slower():
    a, b = 2.0, 1.2                                   # loss = 4 + a e^(-bT): the fall over (T, T+w] is
    t = np.arange(0, 2.4 + 1e-9, 1 / 16)              # a e^(-bT) (1 - e^(-bw)), under FLAT_NATS from T*
    r = proposal(t, 4 + a * np.exp(-b * t), from_epoch=1.0)
    t_star = math.log(a * (1 - math.exp(-b * FLAT_WINDOW)) / FLAT_NATS) / b
    assert r["exponential"] == pytest.approx(t_star + FLAT_WINDOW, rel=1e-6)
    assert r["power"] > r["exponential"] and r["at_epoch"] == pytest.approx(t[-1] - FLAT_WINDOW)


def test_a_curve_that_stopped_falling_gives_no_law_to_extrapolate():
    t = np.arange(0, 2.4 + 1e-9, 1 / 16)
    with pytest.raises(SystemExit, match="fewer than 3 rows"):
        proposal(t, np.full_like(t, 4.0), from_epoch=1.0)
