"""The latent means of a folder's windows drawn in 2-D and coloured by sub-folder (the VRASH paper's Figure 6).

Each window is encoded to its posterior mean μ; the means are projected by PCA, or by t-SNE when scikit-learn is
installed. How well the latent space keeps the sub-folders apart is also measured, so the picture is not the only
evidence: the share of windows whose nearest neighbours in μ (not in the projection) come from their own sub-folder,
beside the share expected by chance.
"""
from __future__ import annotations

import importlib.util
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.atomic import atomic_path
from engine.errors import UserError
from symbolic.defaults import LATENT_MAP_METHODS
from symbolic.trained_model import TrainedModel

MAX_POINTS = 5000  # windows drawn at most (a random subset beyond): t-SNE and the neighbour count stay quick
NEIGHBOURS = 5
TOP_LEVEL = "(top level)"


@dataclass
class LatentMap:
    """What was drawn, and how well the sub-folders separate in the latent space."""

    method: str
    points: int
    groups: dict[str, int]  # sub-folder -> windows drawn
    neighbour_agreement: float  # share of the NEIGHBOURS nearest neighbours in μ from the same sub-folder
    chance_agreement: float  # the same share if sub-folders were assigned at random (sum of squared group shares)

    def summary(self) -> str:
        groups = ", ".join(f"{name} {count}" for name, count in self.groups.items())
        return (f"{self.points} windows ({groups}) mapped by {self.method}; their {NEIGHBOURS} nearest neighbours in "
                f"the latent space share their sub-folder {self.neighbour_agreement:.0%} of the time "
                f"(chance: {self.chance_agreement:.0%})")


def sub_folder(rel: str) -> str:
    """The first folder of a path relative to the examples folder, which labels its windows."""
    parts = Path(rel).parts
    return parts[0] if len(parts) > 1 else TOP_LEVEL


def pca_2d(points: np.ndarray) -> np.ndarray:
    """The projection of points [N, D] on their two principal axes: [N, 2]."""
    centred = points - points.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ axes[:2].T
    return np.pad(projected, ((0, 0), (0, 2 - projected.shape[1])))  # a 1-D latent space gets a zero y


def tsne_2d(points: np.ndarray, seed: int) -> np.ndarray:
    """t-SNE of points [N, D] to [N, 2] (scikit-learn)."""
    from sklearn.manifold import TSNE
    perplexity = min(30.0, max(2.0, (len(points) - 1) / 3))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(points)


def neighbour_agreement(points: np.ndarray, labels: np.ndarray, k: int = NEIGHBOURS) -> float:
    """Share of each point's k nearest neighbours (Euclidean, itself excluded) that carry its label."""
    k = min(k, len(points) - 1)
    squared = (points ** 2).sum(axis=1)
    distances = squared[:, None] + squared[None, :] - 2 * points @ points.T
    np.fill_diagonal(distances, np.inf)
    nearest = np.argpartition(distances, k - 1, axis=1)[:, :k]
    return float((labels[nearest] == labels[:, None]).mean())


def latent_map(model: TrainedModel, examples_path: str | os.PathLike, png: str | os.PathLike,
               method: str = "auto", split: str = "all", seed: int = 0, progress: bool = True) -> LatentMap:
    """Encode the windows of ``examples_path`` and draw their posterior means in 2-D into ``png``."""
    model.require("encode", "latent-map")
    if method not in LATENT_MAP_METHODS:
        raise UserError(f"unknown method {method!r}; choose one of {', '.join(LATENT_MAP_METHODS)}")
    has_sklearn = importlib.util.find_spec("sklearn") is not None
    if method == "tsne" and not has_sklearn:
        raise UserError("t-SNE needs scikit-learn (pip install scikit-learn); use --method pca")
    method = ("tsne" if has_sklearn else "pca") if method == "auto" else method
    windows, sources = model.example_windows_and_sources(examples_path, split, progress)
    labels = np.array([sub_folder(rel) for rel in sources])
    if len(windows) > MAX_POINTS:
        keep = np.sort(np.random.default_rng(seed).choice(len(windows), MAX_POINTS, replace=False))
        windows, labels = windows[keep], labels[keep]
    if len(windows) < 3:
        raise UserError(f"{examples_path}: a map needs at least 3 windows, got {len(windows)}")
    mu = model.encode_windows(windows, progress=progress)[1].cpu().numpy().astype(np.float64)
    xy = tsne_2d(mu, seed) if method == "tsne" else pca_2d(mu)
    groups = dict(Counter(labels.tolist()).most_common())
    shares = np.array(list(groups.values())) / len(labels)
    result = LatentMap(method, len(labels), groups, neighbour_agreement(mu, labels), float((shares ** 2).sum()))
    _draw(xy, labels, list(groups), result, model, png)
    return result


def _draw(xy: np.ndarray, labels: np.ndarray, groups: list[str], result: LatentMap, model: TrainedModel,
          png: str | os.PathLike) -> None:
    """A scatter plot of the 2-D points, one colour per sub-folder, written atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(7, 6), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for group in groups:
        at = labels == group
        ax.scatter(xy[at, 0], xy[at, 1], s=8, alpha=0.7, label=f"{group} ({int(at.sum())})")
    ax.set_title(f"{model.config_name}: latent means of {result.points} windows ({result.method.upper()})\n"
                 f"{NEIGHBOURS}-NN sub-folder agreement {result.neighbour_agreement:.0%} "
                 f"(chance {result.chance_agreement:.0%})", fontsize=10)
    ax.legend(fontsize=8, markerscale=2, loc="best")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png")
