"""The report's plots keep their text legible: RM labels on the scatter plots never overlap (names
where they can be kept apart, numbers with a list beside the axes where points are packed), and
the best-of-n legend sits outside the curves."""
import numpy as np
import pytest

from rlhf_eval.report import plots

NAMES = ["classifier-raw", "classifier-curated (seed 0)", "classifier-artifact", "classifier-length", "dpo-raw",
         "dpo-curated", "dpo-noisy", "toy-judge", "toy-judge-ab"]


def cell(bench: str, seed: int, spread: float) -> dict:
    r = np.random.default_rng(seed)
    x, y = 0.6 + r.normal(0, spread, len(NAMES)), 0.1 + r.normal(0, spread, len(NAMES))
    return {"static": f"{bench} score", "downstream": "RL gain", "benchmark": bench, "n_rms": len(NAMES),
            "spearman": {"value": 0.3, "ci": [-0.2, 0.8]}, "fit_band": {},
            "values": [{"rm": n, "static": a, "downstream": b, "static_ci": [a - 0.02, a + 0.02],
                        "downstream_ci": [b - 0.02, b + 0.02]} for n, a, b in zip(NAMES, x, y)]}


def point_labels(ax) -> list:
    return [t for t in ax.texts if not t.get_text().startswith("RMs\n")]


@pytest.mark.parametrize("spread", [0.2, 0.01, 0.0005])
def test_scatter_labels_never_overlap(spread):
    fig = plots.scatter_figure(cell("toy_rewardbench", 1, spread))
    texts = point_labels(fig.axes[0])
    assert len(texts) == len(NAMES) and plots.overlapping(fig, texts) == 0
    listed = [t for t in fig.axes[0].texts if t.get_text().startswith("RMs\n")]
    if {t.get_text() for t in texts} != set(NAMES):  # packed points: numbered, the names listed beside
        assert {t.get_text() for t in texts} == {str(k) for k in range(1, len(NAMES) + 1)}
        assert all(name in listed[0].get_text() for name in NAMES)


def test_the_combined_scatter_numbers_every_point_by_its_rm():
    cells = [cell(b, k, 0.01) for k, b in enumerate(["toy_rewardbench", "toy_rewardbench2", "toy_rmbench"])]
    fig = plots.panel_figure(cells, "RL gain")
    texts = point_labels(fig.axes[0])
    assert len(texts) == 3 * len(NAMES) and plots.overlapping(fig, texts) == 0
    listed = next(t for t in fig.axes[0].texts if t.get_text().startswith("RMs\n")).get_text().splitlines()[1:]
    assert listed == [f"{k} {n}" for k, n in enumerate(NAMES, 1)]


def test_the_best_of_n_legend_is_outside_the_curves():
    import matplotlib.pyplot as plt
    curve = [{"n": n, "value": 0.3 + 0.05 * k, "ci": [0.2, 0.5], "oracle": 0.9, "oracle_ci": [0.8, 1.0],
              "anti_oracle": 0.1, "kl_bound": np.log(n) - (n - 1) / n} for k, n in enumerate([1, 2, 4, 8, 16])]
    bon = [{"policy": "p", "task": "t", "rm": name, "curve": curve, "metric": "exact_match"} for name in NAMES]
    captured = {}
    real = plots._data_uri
    plots._data_uri = lambda fig: captured.setdefault("fig", fig) and "data:"
    try:
        plots.bon_curves(bon, "p", "t")
    finally:
        plots._data_uri = real
    fig = captured["fig"]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = next(ax.get_legend() for ax in fig.axes if ax.get_legend())
    axes = [ax.get_window_extent(renderer) for ax in fig.axes]
    assert not any(legend.get_window_extent(renderer).overlaps(a) for a in axes)
    plt.close(fig)


def test_the_best_of_n_axis_reads_as_plain_numbers():
    """Names are not parsed as mathtext (text.parse_math is off), so the log axis's default labels
    ($\\mathdefault{2^{4}}$) would print raw: the ticks are the n of the curve, as numbers."""
    import matplotlib.pyplot as plt
    curve = [{"n": n, "value": 0.3, "ci": [0.2, 0.5], "oracle": 0.9, "oracle_ci": [0.8, 1.0], "anti_oracle": 0.1,
              "kl_bound": 0.0} for n in [1, 2, 4, 8, 16]]
    captured = {}
    real = plots._data_uri
    plots._data_uri = lambda fig: captured.setdefault("fig", fig) and "data:"
    try:
        plots.bon_curves([{"policy": "p", "task": "t", "rm": "a", "curve": curve, "metric": "m"}], "p", "t")
    finally:
        plots._data_uri = real
    fig = captured["fig"]
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert labels == ["1", "2", "4", "8", "16"]
    plt.close(fig)
