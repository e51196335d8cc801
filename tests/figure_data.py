"""Read back what a matplotlib figure drew, so plot tests can assert the plotted values."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch


def step_histogram(patch: Patch) -> tuple[np.ndarray, np.ndarray]:
    """(heights, bin edges) of a histtype='step' histogram from its outline polygon.

    The outline runs (e0, 0), (e0, h0), (e1, h0), (e1, h1), ..., (en, h_{n-1}), (en, 0).
    """
    outline = np.asarray(patch.get_xy(), dtype=float)
    return outline[1:-1:2, 1], outline[0:-1:2, 0]


def bar_heights(axis: Axes) -> list[float]:
    """Heights of the bars (rectangles) of an axis, in drawing order."""
    return [float(bar.get_height()) for bar in axis.patches]


def labelled_lines(axis: Axes) -> dict[str, Line2D]:
    """The lines of an axis that carry a legend label, by label."""
    return {
        line.get_label(): line for line in axis.get_lines() if not line.get_label().startswith("_")
    }


def tick_texts(labels) -> list[str]:
    """The strings of a list of tick labels (get_xticklabels / get_yticklabels)."""
    return [label.get_text() for label in labels]


def legend_texts(axis: Axes) -> list[str]:
    """The entries of an axis's legend."""
    return [text.get_text() for text in axis.get_legend().get_texts()]


def unmasked(values) -> np.ndarray:
    """A drawn array (offsets, image, heatmap cells) as floats, masked entries as NaN.

    numpy's assert functions skip masked entries, so a comparison on the masked array itself
    would pass whatever a masked cell held.
    """
    return np.ma.filled(np.ma.asarray(values, dtype=float), np.nan)


def box_medians(axis: Axes, width: float) -> list[tuple[float, float]]:
    """(centre, median) of each box of a boxplot with boxes `width` wide, left to right.

    A median is a two-point horizontal line as wide as its box (caps are half as wide,
    whiskers vertical).
    """
    medians = []
    for line in axis.get_lines():
        x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        if len(x) == 2 and y[0] == y[1] and np.isclose(x[1] - x[0], width):
            medians.append((float(x.mean()), float(y[0])))
    return sorted(medians)


def box_quartiles(axis: Axes) -> list[tuple[float, float, float]]:
    """(centre, lower quartile, upper quartile) of each filled box (patch_artist), left to right."""
    boxes = []
    for patch in axis.patches:
        corners = patch.get_path().vertices
        centre = (corners[:, 0].min() + corners[:, 0].max()) / 2
        boxes.append((float(centre), float(corners[:, 1].min()), float(corners[:, 1].max())))
    return sorted(boxes)
