"""The workspace: the one folder the studio reads and writes. Every path a request names is resolved here and refused
when it leads outside (``..``, absolute paths, symlinks out); the models under it are found by their checkpoints."""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import UserError

STUDIO_DIR = "studio"  # the studio's own files under the workspace: uploads/ and outputs/
SKIPPED_DIRS = {"prepared", "tensorboard", "__pycache__", "train_data", "input_music_dataset", STUDIO_DIR}
MAX_DEPTH = 4  # folders below the workspace searched for models
MIDI_CHECKPOINT = "checkpoint.pt"  # symbolic.trained_model.CHECKPOINT_NAME (not imported: listing needs no torch)
PERSONALISED = "personalised.pt"  # symbolic.personalise.PERSONALISED_NAME: a `midi personalise` run dir
CURVE_POINTS = 400  # rows of a metrics log sent to the page at most (evenly thinned, the last row kept)


@dataclass
class ModelEntry:
    """One model found in the workspace: a MIDI run dir or an audio checkpoint, as the page lists it."""

    id: str  # path relative to the workspace: the run dir, or the audio checkpoint file
    kind: str  # "midi", "audio", or "unusable" (then ``problem`` says why)
    family: str = ""
    config: str = ""
    description: str = ""
    step: int | None = None
    capabilities: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)  # the last held-out (val/*) row of its log
    chords: bool = False  # a chord-conditioned MIDI model: sampling needs a progression
    personalised: bool = False  # a `midi personalise` run dir (its prior is the small model of the user's songs)
    problem: str = ""


class Workspace:
    """The root folder, path checks inside it, and the models under it (their checkpoints read once per change)."""

    def __init__(self, root: str | os.PathLike):
        root = Path(root)
        if not root.is_dir():
            raise UserError(f"{root}: no such folder (--workspace names a folder of run dirs and checkpoints)")
        self.root = root.resolve()
        self._checkpoints: dict[Path, tuple[tuple[int, int], ModelEntry]] = {}

    def resolve(self, relative: str, must_exist: bool = True) -> Path:
        """The path ``relative`` names inside the workspace; a UserError when it leads outside or is missing."""
        if not relative or Path(relative).is_absolute() or "\0" in relative:
            raise UserError(f"{relative or '(empty)'}: give a path inside the workspace, relative to it")
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root):
            raise UserError(f"{relative}: outside the workspace; the studio reads and writes only in {self.root}")
        if must_exist and not path.exists():
            raise UserError(f"{relative}: no such file or folder in the workspace")
        return path

    def relative(self, path: Path) -> str:
        """``path`` (inside the workspace) as the page and the shown commands name it."""
        return path.resolve().relative_to(self.root).as_posix()

    def studio_dir(self, *parts: str) -> Path:
        """A folder of the studio's own files, created on first use."""
        folder = self.root.joinpath(STUDIO_DIR, *parts)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # ------------------------------------------------------------------------------------------------ models
    def models(self) -> list[ModelEntry]:
        """Every MIDI run dir (a folder with checkpoint.pt or a metrics log) and audio checkpoint (*.pt) found."""
        entries = []
        for folder, names in self._folders():
            if PERSONALISED in names:
                entries.append(self._entry(folder / PERSONALISED, folder))
            elif MIDI_CHECKPOINT in names or ("metrics.jsonl" in names and not folder.name.endswith("-logs")):
                entries.append(self._entry(folder / MIDI_CHECKPOINT, folder))
            entries += [self._entry(folder / name, folder / name) for name in sorted(names)
                        if name.endswith(".pt") and name not in (MIDI_CHECKPOINT, PERSONALISED)]
        return sorted(entries, key=lambda e: (e.kind == "unusable", e.id))

    def _folders(self) -> list[tuple[Path, list[str]]]:
        """(folder, its file names) for the workspace and its folders down to MAX_DEPTH, skipping data and caches."""
        found = []
        for folder, dirs, files in os.walk(self.root):
            depth = len(Path(folder).relative_to(self.root).parts)
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith(".") and depth < MAX_DEPTH)
            found.append((Path(folder), files))
        return found

    def _entry(self, checkpoint: Path, model_id: Path) -> ModelEntry:
        """The listing of one model, its checkpoint read again only when the file changed."""
        try:
            stat = checkpoint.stat()
        except FileNotFoundError:
            entry = ModelEntry(self.relative(model_id), "unusable", problem="no checkpoint.pt yet (training?)")
            entry.metrics = held_out(log_rows(metrics_log(checkpoint)))
            return entry
        key = (stat.st_mtime_ns, stat.st_size)
        cached = self._checkpoints.get(checkpoint)
        if cached is None or cached[0] != key:
            cached = (key, describe_checkpoint(checkpoint, self.relative(model_id)))
            self._checkpoints[checkpoint] = cached
        entry = cached[1]
        entry.metrics = held_out(log_rows(metrics_log(checkpoint)))
        return entry

    def metrics(self, model_id: str) -> dict[str, Any]:
        """The training curves of a model: its log's rows (thinned to CURVE_POINTS), for the page to draw."""
        path = self.resolve(model_id)
        rows = log_rows(metrics_log(path / MIDI_CHECKPOINT if path.is_dir() else path))
        if len(rows) > CURVE_POINTS:
            keep = sorted({round(i * (len(rows) - 1) / (CURVE_POINTS - 1)) for i in range(CURVE_POINTS)})
            rows = [rows[i] for i in keep]
        return {"id": model_id, "rows": rows}


def metrics_log(checkpoint: Path) -> Path:
    """Where the metrics log of a checkpoint is: beside a MIDI run's checkpoint.pt, in NAME-logs/ for an audio one."""
    if checkpoint.name in (MIDI_CHECKPOINT, PERSONALISED):
        return checkpoint.parent / "metrics.jsonl"
    return Path(f"{checkpoint.with_suffix('')}-logs") / "metrics.jsonl"  # wavegen.pipeline.train's run_dir


def log_rows(path: Path) -> list[dict[str, float]]:
    """The numeric fields of every row of a metrics.jsonl (a torn last line, written while training, is skipped)."""
    try:
        lines = path.read_text().splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return []
    rows = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append({k: v for k, v in row.items()
                         if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)})
    return rows


def held_out(rows: list[dict[str, float]]) -> dict[str, float]:
    """The held-out metrics of the last row that has any (val/*), with its step."""
    last = next((row for row in reversed(rows) if any(k.startswith("val/") for k in row)), None)
    if last is None:
        return {}
    return {"step": last.get("step", 0), **{k: v for k, v in last.items() if k.startswith("val/")}}


def describe_checkpoint(path: Path, model_id: str) -> ModelEntry:
    """What the page says about one checkpoint: a MIDI model (family, config, capabilities), an audio model (its
    shape and framing), or why it is neither."""
    from engine.checkpoint import load_checkpoint
    from symbolic.personalise import Personalised
    from symbolic.trained_model import config_from_hparams
    from wavegen.train import checkpoint_settings, load_saved
    try:
        personalised = Personalised.read(path.parent) if path.name == PERSONALISED else None
        base = personalised.base_dir / MIDI_CHECKPOINT if personalised else path
        state = load_checkpoint(base, map_location="cpu")
        hparams = state.get("hparams") or {}
        if isinstance(hparams, dict) and "config" in hparams:
            name, config = config_from_hparams(hparams, str(base))
            description = (f"{config.description}, personalised on {len(personalised.state.get('songs', []))} "
                           "song(s)" if personalised else config.description)
            return ModelEntry(model_id, "midi", config.family, name, description, state.get("step"),
                              sorted(config.capabilities), chords=bool(getattr(config, "chord_depth", 0)),
                              personalised=personalised is not None)
        del state
        saved = load_saved(path)
        settings = checkpoint_settings(saved)
        shape = (f"{settings['hidden_layer_count']} x {settings['hidden_layer_neurons']} LSTM, {settings['framer']} "
                 f"frames{', keep gate' if settings['keep_gate'] else ''}")
        return ModelEntry(model_id, "audio", "wavegen", shape, "audio continuation", saved.get("step"), ["clips"])
    except UserError as e:
        return ModelEntry(model_id, "unusable", problem=str(e))
