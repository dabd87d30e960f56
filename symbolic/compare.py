"""Several configs trained under one budget on the same examples and compared on held-out files.

The VRASH paper's comparison (its Figure 5 and its claims about samples) for any configs: each config is trained
(or resumed) for the same number of steps in its own run dir, the untrained model of the first config is saved as
the baseline row, and every row is evaluated on the test split (files no model trained on) with its family's
metrics, next to the family's trivial baselines. Prior samples of every row are compared with the held-out data on
the features that say whether a model repeats itself (repeated-note rate) and how varied it is (pitch-class entropy).
Written as a text table, JSON and a bar chart.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine.atomic import atomic_path
from engine.errors import UserError
from symbolic.configs import get_config
from symbolic.converters import converter_from_spec
from symbolic.datasets import load_or_prepare
from symbolic.evaluate import baselines, evaluate_model, sample_quality
from symbolic.train import train
from symbolic.trained_model import PREPARED_DIR, TrainedModel

UNTRAINED = "untrained"
SAMPLE_FEATURES = ("repeated_note_rate", "pitch_class_entropy")
NOT_COMPARED = {"n_sequences"}  # bookkeeping in evaluate's metrics, not a score
DEFAULT_METRICS = ("cross_entropy", "accuracy", "bce_per_bar")  # the headline metric of each family
# metric -> its bound with the KL, by which a latent model is compared with one that has no latent
BOUNDS = {"cross_entropy": "nll_bound", "bce_per_bar": "nll_bound_per_bar"}


@dataclass
class Comparison:
    """One row per model (the untrained first), the baselines of the data and the data's own sample features."""

    metric: str
    num_steps: int
    rows: list[dict[str, Any]]  # name, config, step, train_seconds, metrics, sample_features
    baselines: dict[str, float]
    data_features: dict[str, float]
    n_test_windows: int
    n_samples: int
    prepared: list[str]  # the prepared examples (one folder per converter spec), reusable by later commands

    def columns(self) -> list[str]:
        """The scalar metrics of any row, the compared one first."""
        names = [self.metric]
        for row in self.rows:
            names += [k for k, v in row["metrics"].items() if k not in names and isinstance(v, float)
                      and k not in NOT_COMPARED]
        return names

    def table(self) -> str:
        """The comparison as aligned text: models by metrics, then the sample features beside the data's."""
        columns = self.columns()
        features = [f for f in SAMPLE_FEATURES if f in self.data_features]
        labels = [_label(row) for row in self.rows]
        first = max(len("held-out data"), *map(len, labels)) + 2
        widths = [max(len(c), 9) + 2 for c in columns + features]
        lines = [f"{self.n_test_windows} held-out windows, {self.num_steps} training steps per model, "
                 f"{self.n_samples} prior samples per model",
                 f"{'model':{first}}" + "".join(f"{c:>{w}}" for c, w in zip(columns + features, widths))]
        for label, row in zip(labels, self.rows):
            values = [row["metrics"].get(c) for c in columns] + [row["sample_features"].get(f) for f in features]
            lines.append(f"{label:{first}}" + "".join(_cell(v, w) for v, w in zip(values, widths)))
        data = [None] * len(columns) + [self.data_features[f] for f in features]
        lines.append(f"{'held-out data':{first}}" + "".join(_cell(v, w) for v, w in zip(data, widths)))
        lines.append("baselines: " + ", ".join(f"{k} {v:.4f}" for k, v in self.baselines.items()))
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def _cell(value: float | None, width: int) -> str:
    return f"{'-':>{width}}" if value is None or not math.isfinite(value) else f"{value:{width}.4f}"


def _label(row: dict[str, Any]) -> str:
    """The row's name, and for the untrained baseline the config whose initial weights it holds."""
    return f"{row['name']} {row['config']}" if row["name"] == UNTRAINED else row["name"]


def compare(config_names: list[str], examples_path: str | os.PathLike, run_dir: str | os.PathLike, num_steps: int,
            hparams: str | None = None, metric: str | None = None, samples: int = 100,
            sample_temperature: float = 1.0, device: str = "auto", seed: int = 0,
            progress: bool = True) -> Comparison:
    """Train each config for ``num_steps`` in ``run_dir``/<name> (resuming what is there) and compare them.

    The examples are prepared once per converter spec in ``run_dir``, and every model trains and is tested on them.

    ``hparams`` apply to every config; ``metric`` (default: the first of DEFAULT_METRICS that the first model
    reports) is the one the bar chart shows; samples are drawn at ``sample_temperature`` (1: the model's own
    distribution, which the sample features then describe).
    """
    if not config_names or len(set(config_names)) != len(config_names):
        raise UserError(f"--configs needs distinct config names, got {', '.join(config_names) or 'none'}")
    configs = {name: get_config(name, hparams) for name in config_names}  # every name and override checked first
    if samples < 4:
        raise UserError(f"comparing samples needs at least 4 samples per model, got {samples}")
    run_dir = Path(run_dir)
    runs = [(UNTRAINED, config_names[0], 0)] + [(name, name, num_steps) for name in config_names]
    prepared: dict[str, Path] = {}  # converter spec -> the examples prepared once for every config that reads them
    rows, test = [], None
    for row_name, config_name, steps in runs:
        spec = configs[config_name].data
        key = json.dumps(spec, sort_keys=True)
        if key not in prepared:
            prepared[key] = load_or_prepare(converter_from_spec(spec), examples_path, run_dir / PREPARED_DIR,
                                            progress=progress).result.output_dir
        start = time.perf_counter()
        train(run_dir / row_name, prepared[key], config_name, hparams, num_steps=steps, val_every=max(steps, 1),
              checkpoint_every=max(steps // 4, 1), device=device, progress=progress, seed=seed)
        seconds = time.perf_counter() - start
        model = TrainedModel(run_dir / row_name, device)
        if test is None:
            test = model.example_windows(prepared[key], "test", progress=False)
            train_windows = model.example_windows(prepared[key], "train", progress=False)
            scores = baselines(train_windows, test, configs[config_name])
        metrics = evaluate_model(model, test, seed=seed, progress=progress)
        quality = sample_quality(model, test, samples, sample_temperature, seed)
        rows.append({"name": row_name, "config": config_name, "step": model.step, "train_seconds": round(seconds, 1),
                     "metrics": {k: v for k, v in metrics.items() if not isinstance(v, list)},
                     "sample_features": {f: quality["features"][f]["sample_mean"] for f in SAMPLE_FEATURES},
                     "sample_overlap": quality["overlap"]})
    data_features = {f: quality["features"][f]["real_mean"] for f in SAMPLE_FEATURES}
    metric = metric or next((m for m in DEFAULT_METRICS if m in rows[1]["metrics"]), None)
    if metric is None or any(metric not in row["metrics"] for row in rows):
        common = sorted(set.intersection(*(set(row["metrics"]) for row in rows)) - NOT_COMPARED)
        raise UserError(f"metric {metric!r} is not reported by every model; they all report: {', '.join(common)}")
    return Comparison(metric, num_steps, rows, scores, data_features, len(test), samples,
                      [str(path) for path in prepared.values()])


def write_outputs(comparison: Comparison, prefix: str | os.PathLike) -> list[Path]:
    """``prefix``.txt, .json and .png (bars of the compared metric, and of the sample features beside the data's)."""
    prefix = Path(prefix)
    paths = [prefix.with_suffix(".txt"), prefix.with_suffix(".json"), prefix.with_suffix(".png")]
    for path, text in zip(paths, (comparison.table() + "\n", comparison.to_json() + "\n")):
        with atomic_path(path) as tmp:
            tmp.write_text(text)
    _draw(comparison, paths[2])
    return paths


def _draw(comparison: Comparison, png: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    names = [_label(row) for row in comparison.rows]
    fig = Figure(figsize=(4 + 1.6 * len(names), 4), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 1 + len(SAMPLE_FEATURES))
    panels = [(comparison.metric, [row["metrics"][comparison.metric] for row in comparison.rows],
               {k: v for k, v in comparison.baselines.items() if k.endswith(f"_{comparison.metric}")})]
    panels += [(f"samples: {f}", [row["sample_features"][f] for row in comparison.rows],
                {"held-out data": comparison.data_features[f]}) for f in SAMPLE_FEATURES]
    for ax, (title, values, references) in zip(axes, panels):
        ax.bar(names, [v if math.isfinite(v) else 0.0 for v in values])
        if title == comparison.metric and comparison.metric in BOUNDS:  # the fair figure of the latent models too
            bounds = [row["metrics"].get(BOUNDS[comparison.metric], math.nan) for row in comparison.rows]
            ax.scatter(names, bounds, marker="_", s=900, linewidths=2, color="black", zorder=3,
                       label=f"{BOUNDS[comparison.metric]} (with the KL)")
        for k, (label, value) in enumerate(references.items()):
            ax.axhline(value, color=f"C{k + 3}", linestyle="--", linewidth=1, label=f"{label} {value:.3g}")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, markerscale=0.4)
        ax.set_title(title, fontsize=9)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.suptitle(f"{comparison.num_steps} steps each, {comparison.n_test_windows} held-out windows", fontsize=9)
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png")
