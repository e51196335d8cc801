"""bench/history_bench.py's pooling of replicates and its argument checks (the bench itself is
a measurement, run by ``make bench-history``, not here)."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from ntl.evaluate import model_comparison
from tests.bench_modules import load_bench


@pytest.fixture(scope="module")
def history_bench():
    return load_bench("history_bench")


def sample(seed: int, n: int = 400) -> tuple[np.ndarray, pd.DataFrame]:
    """Labels (10 % thieves) and three scores: informative, weaker, chance."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 10 == 0).astype(int)
    scores = pd.DataFrame(
        {
            "good": y * 1.5 + rng.normal(size=n),
            "weak": y * 0.5 + rng.normal(size=n),
            "chance": rng.normal(size=n),
        }
    )
    return y, scores


def test_one_replicate_is_the_single_comparison(history_bench):
    y, scores = sample(1)
    pooled = history_bench.replicate_comparison([(y, scores)], n_boot=200, seed=3)
    single = model_comparison(y, scores, n_boot=200, seed=3)
    pd.testing.assert_frame_equal(pooled, single)


def test_replicates_average_the_points_and_narrow_the_intervals(history_bench):
    samples = [sample(seed) for seed in (1, 2, 3)]
    pooled = history_bench.replicate_comparison(samples, n_boot=300, seed=0).set_index("model")
    singles = [model_comparison(y, s, n_boot=300, seed=0).set_index("model") for y, s in samples]
    for metric in ("pr_auc", "roc_auc"):
        mean = np.mean([single[metric] for single in singles], axis=0)
        np.testing.assert_allclose(pooled[metric].to_numpy(), mean)
        difference = pooled.loc["good", metric] - pooled.loc["weak", metric]
        assert pooled.loc["weak", f"{metric}_diff"] == pytest.approx(difference)
        assert np.isnan(pooled.loc["good", f"{metric}_diff_low"])
        width = pooled[f"{metric}_high"] - pooled[f"{metric}_low"]
        single_width = np.mean([s[f"{metric}_high"] - s[f"{metric}_low"] for s in singles], axis=0)
        assert (width.to_numpy() < single_width).all()  # about 1 / sqrt(3) as wide
        low, high = pooled.loc["weak", [f"{metric}_diff_low", f"{metric}_diff_high"]]
        assert low <= difference <= high


def test_bad_arguments_exit_2_before_writing(history_bench, monkeypatch, tmp_path, capsys):
    out = tmp_path / "history.json"
    for argv in (["--replicates", "0"], ["--lengths", "28,x"], ["--lengths", "7"]):
        monkeypatch.setattr(sys, "argv", ["history_bench.py", *argv, "--out", str(out)])
        assert history_bench.main() == 2
        assert "--" in capsys.readouterr().out
    assert not out.exists() and not list(tmp_path.iterdir())
