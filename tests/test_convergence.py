"""The convergence criterion on curves whose answer is known."""
import math

import numpy as np
import pytest

from bannb.convergence import MIN_TRAIN_ACCURACY, flatness


def test_flat_curve_passes_and_a_falling_one_does_not():
    flat = [30, 20, 16, 15, 15.1, 14.9, 15.0, 15.0, 15.1, 15.0]
    change, allowed = flatness(flat, valid_size=2000)
    assert abs(change) < 0.2
    assert allowed == pytest.approx(2 * 100 * math.sqrt(0.15 * 0.85 / 2000))
    falling = [30, 28, 26, 24, 22, 20, 18, 16, 14, 12]  # still learning: 2 points an epoch
    change, allowed = flatness(falling, valid_size=2000)
    # the window is the last ceil(10/5) = 2 epochs and the one before: 3 points, 2 epochs apart
    assert change == pytest.approx(-4.0)
    assert change < -allowed


def test_window_is_the_last_fifth_plus_one():
    errors = np.r_[np.full(15, 50.0), [20.0, 20.0, 20.0, 20.0]]  # 19 epochs: ceil(19/5) = 4 → last 5 values
    change, _ = flatness(errors, valid_size=5000)
    expected_slope = np.polyfit(np.arange(5), errors[-5:], 1)[0]
    assert change == pytest.approx(expected_slope * 4)


def test_threshold_is_the_papers_fit():
    assert MIN_TRAIN_ACCURACY == 0.98
