"""--png: each clip's spectrogram beside its seed's, on one colour scale, so the take-over is visible at a glance."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.atomic import atomic_path
from wavegen.audio import resample
from wavegen.evaluate import EVAL_RATE, HOP, log_mel


def write_spectrogram_png(path: Path, seed: np.ndarray, clip: np.ndarray, rate: int) -> None:
    """Write the log-mel spectrograms of ``seed`` and ``clip`` (audio at ``rate``) side by side as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    images = [log_mel(resample(audio, rate, EVAL_RATE)).T for audio in (seed, clip)]
    low, high = max(min(i.min() for i in images), max(i.max() for i in images) - 80.0), max(i.max() for i in images)
    widths = [max(i.shape[1], 1) for i in images]
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True, gridspec_kw={"width_ratios": widths})
    for axis, image, title in zip(axes, images, ("seed", "continuation")):
        seconds = image.shape[1] * HOP / EVAL_RATE
        axis.imshow(image, origin="lower", aspect="auto", vmin=low, vmax=high, cmap="magma",
                    extent=(0.0, seconds, 0, image.shape[0]))
        axis.set_title(title)
        axis.set_xlabel("seconds")
    axes[0].set_ylabel("mel band")
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)
