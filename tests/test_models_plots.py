"""Figures of notebook 03 (ntl.plots.modeling) and the train learning-curve sample."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from ntl.errors import ParameterError
from ntl.models.supervised import curve_sample
from ntl.plots.modeling import calibration_figure


def test_calibration_figure_uses_equal_width_bins_with_counts():
    y = np.array([0, 0, 1, 0, 1, 1, 1])
    probability = np.array([0.05, 0.15, 0.15, 0.55, 0.92, 0.95, 0.99])
    fig = calibration_figure(y, {"calibrated": probability, "missing": np.full(7, np.nan)})
    reliability, counts = fig.axes
    line = reliability.get_lines()[1]  # [0] is the diagonal
    np.testing.assert_allclose(line.get_xdata(), [0.05, 0.15, 0.55, 0.9533333], atol=1e-6)
    np.testing.assert_allclose(line.get_ydata(), [0.0, 0.5, 0.0, 1.0])
    heights = [bar.get_height() for bar in counts.containers[0]]
    assert heights == [1, 2, 0, 0, 0, 1, 0, 0, 0, 3]  # ten bins, 0.9-1.0 last
    assert [text.get_text() for text in counts.texts[:10]] == [str(int(h)) for h in heights]
    assert [bar.get_height() for bar in counts.containers[1]] == [0] * 10
    plt.close(fig)


def test_curve_sample_is_seeded_sorted_and_capped():
    np.testing.assert_array_equal(curve_sample(4, 10), [0, 1, 2, 3])
    rows = curve_sample(1000, 50, seed=3)
    assert len(rows) == 50 and len(set(rows)) == 50 and np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(rows, curve_sample(1000, 50, seed=3))
    assert not np.array_equal(rows, curve_sample(1000, 50, seed=4))
    with pytest.raises(ParameterError, match="curve sample size must be >= 1, got 0"):
        curve_sample(10, 0)
