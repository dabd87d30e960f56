"""Several configs trained under one budget on the same examples and compared on held-out files.

The VRASH paper's comparison (its Figure 5 and its claims about samples) for any configs: each config is trained
(or resumed) for the same number of steps in its own run dir, the untrained model of the first config is saved as
the baseline row, and every row is evaluated on the held-out test files (files no model trained on) with its
family's metrics, next to the family's trivial baselines. Configs may read the examples through different converters
(note tokens, 2-bar melodies, piano rolls): every row is then evaluated on its own converter's windows of the same
test files (those every converter finds windows in). Rows are grouped by converter and family, each group with its
own baselines, held-out data and units (nats per note, fraction of steps, nats per bar): figures are compared only
within a group. Prior samples of every row are compared with its group's held-out windows on the features that say
whether a model repeats itself (repeated-note rate) and how varied it is (pitch-class entropy). Written as a text
table, JSON and a bar chart.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine import distributed
from engine.atomic import atomic_path
from engine.errors import UserError
from symbolic.configs import ModelConfig, get_config
from symbolic.data.converters import converter_from_spec
from symbolic.data.prepare import PrepareResult, load_or_prepare
from symbolic.models.families import family_of
from symbolic.render import counted
from symbolic.studies.evaluate import baselines, evaluate_model, sample_quality
from symbolic.train import train
from symbolic.trained_model import PREPARED_DIR, TrainedModel

UNTRAINED = "untrained"
# The features of prior samples shown beside the held-out data's, with their units.
SAMPLE_FEATURES = {"repeated_note_rate": "fraction of consecutive notes", "pitch_class_entropy": "bits"}
NOT_COMPARED = {"n_sequences"}  # bookkeeping in evaluate's metrics, not a score
# metric -> its bound with the KL, by which a latent model is compared with one that has no latent
BOUNDS = {"cross_entropy": "nll_bound", "bce_per_bar": "nll_bound_per_bar"}


@dataclass
class Group:
    """The rows that read one converter's windows and are judged by one family: the rows comparable with each other,
    with the held-out windows they were scored on, the family's baselines and the held-out data's sample features."""

    converter: dict[str, Any]  # the converter spec
    family: str
    metric: str  # the compared metric
    unit: str  # its unit
    n_test_windows: int
    baselines: dict[str, float]
    data_features: dict[str, float]
    units: dict[str, str]  # of every metric the family reports, the baselines' included
    prepared: str  # the prepared examples, reusable by later commands

    @property
    def title(self) -> str:
        """E.g. "notes windows, note_model family"."""
        return f"{self.converter['kind']} windows, {self.family} family"


@dataclass
class Comparison:
    """Groups of comparable rows (the untrained model first), each row evaluated on the same held-out files."""

    num_steps: int
    n_samples: int
    test_files: list[str]  # the held-out files (relative paths) every row is evaluated on
    groups: list[Group]
    rows: list[dict[str, Any]]  # name, config, group (index), metric, unit, step, train_seconds, metrics, ...

    def group_rows(self, index: int) -> list[dict[str, Any]]:
        """The rows of group ``index``, in training order."""
        return [row for row in self.rows if row["group"] == index]

    def table(self) -> str:
        """The comparison as aligned text: one block per group, models by metrics, then the sample features beside
        the data's, the baselines and the unit of every column."""
        lines = [f"{counted(len(self.test_files), 'held-out file')}, {counted(self.num_steps, 'training step')} "
                 f"per model, {counted(self.n_samples, 'prior sample')} per model"]
        for index, group in enumerate(self.groups):
            lines += ["", f"{group.title}: {counted(group.n_test_windows, 'held-out window')}; compared: "
                          f"{group.metric} ({group.unit})"]
            lines += _block(group, self.group_rows(index), self.num_steps)
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def _block(group: Group, rows: list[dict[str, Any]], num_steps: int) -> list[str]:
    """The table of one group's rows."""
    columns = [group.metric]
    for row in rows:
        columns += [k for k, v in row["metrics"].items() if k not in columns and isinstance(v, float)
                    and k not in NOT_COMPARED]
    features = [f for f in SAMPLE_FEATURES if f in group.data_features]
    labels = [_label(row, num_steps) for row in rows]
    first = max(len("held-out data"), *map(len, labels)) + 2
    widths = [max(len(c), 9) + 2 for c in columns + features]
    lines = [f"{'model':{first}}" + "".join(f"{c:>{w}}" for c, w in zip(columns + features, widths))]
    for label, row in zip(labels, rows):
        values = [row["metrics"].get(c) for c in columns] + [row["sample_features"].get(f) for f in features]
        lines.append(f"{label:{first}}" + "".join(_cell(v, w) for v, w in zip(values, widths)))
    data = [None] * len(columns) + [group.data_features[f] for f in features]
    lines.append(f"{'held-out data':{first}}" + "".join(_cell(v, w) for v, w in zip(data, widths)))
    lines.append("baselines: " + ", ".join(f"{k} {v:.4f}" for k, v in group.baselines.items()))
    by_unit: dict[str, list[str]] = {}
    for name in columns + list(group.baselines):
        by_unit.setdefault(group.units[name], []).append(name)
    for name in features:
        by_unit.setdefault(SAMPLE_FEATURES[name], []).append(name)
    lines.append("units: " + "; ".join(f"{unit}: {', '.join(names)}" for unit, names in by_unit.items()))
    return lines


def _cell(value: float | None, width: int) -> str:
    return f"{'-':>{width}}" if value is None or not math.isfinite(value) else f"{value:{width}.4f}"


def _label(row: dict[str, Any], num_steps: int) -> str:
    """The row's name, for the untrained baseline the config whose initial weights it holds, and the step a trained
    row reached when a time budget stopped it short of ``num_steps``."""
    if row["name"] == UNTRAINED:
        return f"{row['name']} {row['config']}"
    return row["name"] + (f" (step {row['step']:,})" if row["step"] != num_steps else "")


def held_out_files(datasets: list[PrepareResult], examples_path: str | os.PathLike) -> list[str]:
    """The test files (relative paths, sorted) in which every dataset's converter found windows: the files every
    row is evaluated on, so that each converter's rows are scored on the same music."""
    common = set.intersection(*(set(dataset.window_sources("test")) for dataset in datasets))
    if not common:
        found = "; ".join(f"{d.spec['kind']} windows in {d.files['test']} test files" + (f" ({d.note})" if d.note
                                                                                          else "")
                          for d in datasets)
        raise UserError(f"{examples_path}: no held-out test file gives windows for every config ({found}); "
                        "compare on a folder with more files")
    return sorted(common)


def held_out_windows(dataset: PrepareResult, files: list[str]) -> np.ndarray:
    """The windows of ``files`` in the dataset's test split, in its packed order."""
    wanted = set(files)
    keep = np.array([rel in wanted for rel in dataset.window_sources("test")], dtype=bool)
    return np.load(dataset.split_path("test"), mmap_mode="r")[keep]


def compare(config_names: list[str], examples_path: str | os.PathLike, run_dir: str | os.PathLike, num_steps: int,
            hparams: str | None = None, metric: str | None = None, samples: int = 100,
            sample_temperature: float = 1.0, device: str = "auto", seed: int = 0,
            progress: bool = True, max_time: float | None = None, micro_batch: int | None = None) -> Comparison:
    """Train each config for ``num_steps`` in ``run_dir``/<name> (resuming what is there) and compare them.

    The examples are prepared once per converter spec in ``run_dir`` before any training, and every model trains
    on its converter's training split and is tested on its converter's windows of the common held-out files.

    ``hparams`` apply to every config; ``metric`` (default: each family's headline metric) is the one the bar chart
    shows; samples are drawn at ``sample_temperature`` (1: the model's own distribution, which the sample features
    then describe); ``max_time`` (seconds) bounds each config's training, a row stopped by it holds the step it
    reached; ``micro_batch`` is each training's (see ``symbolic.train.train``).
    """
    if not config_names or len(set(config_names)) != len(config_names):
        raise UserError(f"--configs needs distinct config names, got {', '.join(config_names) or 'none'}")
    configs = {name: get_config(name, hparams) for name in config_names}  # every name and override checked first
    if samples < 4:
        raise UserError(f"comparing samples needs at least 4 samples per model, got {samples}")
    # Every rank trains each row together, then evaluates it alone (the same figures on each).
    with distributed.one_group(device) as device:
        run_dir = Path(run_dir)
        datasets: dict[str, PrepareResult] = {}  # converter spec -> the examples prepared once for every config
        with distributed.main_process_first():  # under torchrun rank 0 prepares, the others then find it done
            for config in configs.values():
                key = _spec_key(config)
                if key not in datasets:
                    datasets[key] = load_or_prepare(converter_from_spec(config.data), examples_path,
                                                    run_dir / PREPARED_DIR, progress=progress)
        files = held_out_files(list(datasets.values()), examples_path)
        windows = {key: held_out_windows(dataset, files) for key, dataset in datasets.items()}
        groups: dict[tuple[str, str], Group] = {}  # (converter spec, family) -> its group, in order of first row
        rows = []
        plan = [(UNTRAINED, config_names[0], 0)] + [(name, name, num_steps) for name in config_names]
        for row_name, config_name, steps in plan:
            config = configs[config_name]
            key = _spec_key(config)
            start = time.perf_counter()
            train(run_dir / row_name, datasets[key].output_dir, config_name, hparams, num_steps=steps,
                  val_every=max(steps, 1), checkpoint_every=max(steps // 4, 1), device=device, progress=progress,
                  seed=seed, max_time=max_time, micro_batch=micro_batch)
            seconds = time.perf_counter() - start
            model = TrainedModel(run_dir / row_name, device)
            metrics = {k: v for k, v in evaluate_model(model, windows[key], seed=seed, progress=progress).items()
                       if not isinstance(v, list)}
            row_metric = metric or family_of(config).headline
            if row_metric not in metrics:
                reported = ", ".join(sorted(set(metrics) - NOT_COMPARED))
                raise UserError(f"metric {row_metric!r} is not reported by {config_name} ({config.what}); it reports: "
                                f"{reported}")
            quality = sample_quality(model, windows[key], samples, sample_temperature, seed)
            group = (key, config.family)
            if group not in groups:
                groups[group] = _group(config, row_metric, datasets[key], windows[key], quality)
            rows.append({"name": row_name, "config": config_name, "group": list(groups).index(group),
                         "metric": row_metric, "unit": groups[group].unit, "step": model.step,
                         "train_seconds": round(seconds, 1), "metrics": metrics,
                         "sample_features": {f: quality["features"][f]["sample_mean"] for f in SAMPLE_FEATURES},
                         "sample_overlap": quality["overlap"]})
        return Comparison(num_steps, samples, files, list(groups.values()), rows)


def _spec_key(config: ModelConfig) -> str:
    return json.dumps(config.data, sort_keys=True)


def _group(config: ModelConfig, metric: str, dataset: PrepareResult, windows: np.ndarray,
           quality: dict[str, Any]) -> Group:
    """The group of the first row of ``config``'s converter and family, with the held-out data's features from
    that row's sample comparison."""
    units = family_of(config).units
    return Group(converter=dict(config.data), family=config.family, metric=metric, unit=units[metric],
                 n_test_windows=len(windows),
                 baselines=baselines(np.load(dataset.split_path("train"), mmap_mode="r"), windows, config),
                 data_features={f: quality["features"][f]["real_mean"] for f in SAMPLE_FEATURES},
                 units=dict(units),
                 prepared=str(dataset.output_dir))


def write_outputs(comparison: Comparison, prefix: str | os.PathLike) -> list[Path]:
    """``prefix``.txt, .json and .png (per group, bars of the compared metric and of the sample features beside
    the data's)."""
    prefix = Path(prefix)
    paths = [prefix.with_suffix(".txt"), prefix.with_suffix(".json"), prefix.with_suffix(".png")]
    for path, text in zip(paths, (comparison.table() + "\n", comparison.to_json() + "\n")):
        with atomic_path(path) as tmp:
            tmp.write_text(text)
    _draw(comparison, paths[2])
    return paths


def _draw(comparison: Comparison, png: Path) -> None:
    """One line of panels per group (figures of different units never share an axis)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    widest = max(len(comparison.group_rows(index)) for index in range(len(comparison.groups)))
    fig = Figure(figsize=(5 + 1.6 * widest, 4 * len(comparison.groups)), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(comparison.groups), 1 + len(SAMPLE_FEATURES), squeeze=False)
    for index, (group, line) in enumerate(zip(comparison.groups, axes)):
        rows = comparison.group_rows(index)
        names = [_label(row, comparison.num_steps) for row in rows]
        panels = [(f"{group.metric} ({group.unit})", [row["metrics"][group.metric] for row in rows],
                   {k: v for k, v in group.baselines.items() if k.endswith(f"_{group.metric}")})]
        panels += [(f"samples: {f}", [row["sample_features"][f] for row in rows],
                    {"held-out data": group.data_features[f]}) for f in SAMPLE_FEATURES]
        for position, (ax, (title, values, references)) in enumerate(zip(line, panels)):
            ax.bar(names, [v if v is not None and math.isfinite(v) else 0.0 for v in values])
            if position == 0 and group.metric in BOUNDS:  # the fair figure of the latent models too
                bounds = [row["metrics"].get(BOUNDS[group.metric], math.nan) for row in rows]
                ax.scatter(names, bounds, marker="_", s=900, linewidths=2, color="black", zorder=3,
                           label=f"{BOUNDS[group.metric]} (with the KL)")
            for k, (label, value) in enumerate(references.items()):
                ax.axhline(value, color=f"C{k + 3}", linestyle="--", linewidth=1, label=f"{label} {value:.3g}")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7, markerscale=0.4)
            ax.set_title(f"{group.title}\n{title}" if position == 0 else title, fontsize=9)
            ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    files = counted(len(comparison.test_files), "held-out file")
    fig.suptitle(f"{counted(comparison.num_steps, 'step')} each, {files}", fontsize=9)
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png")
