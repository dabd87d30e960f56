"""Checks run before any work starts: every folder the run reads or writes, and the memory generation needs.

A run that would fail after minutes of preprocessing or training (a read-only output folder, a file where a folder
should be, clips too long to hold in memory) fails at once instead, with one line naming the flag and the reason.
This module never imports torch.
"""
from __future__ import annotations

import os
import shlex
from pathlib import Path

from engine.errors import UserError
from engine.paths import check_folder_or_absent, check_writable
from wavegen.audio import SAMPLE_RATE
from wavegen.example import EXAMPLE_FILE
from wavegen.framer import FrameSpec
from wavegen.frames import num_bins
from wavegen.settings import Settings

FALLBACK_MEMORY = 16 * 2 ** 30  # bytes assumed where the machine's memory cannot be asked
MEMORY_SHARE = 0.8  # generation may plan for this share of the machine's memory


def check_paths(settings: Settings) -> None:
    """Every path this run will read or write, checked before preprocessing, training or generation start."""
    dataset, cache, checkpoint = settings.datasets_folder_path, settings.traindata_folder_path, settings.checkpoint
    check_folder_or_absent(dataset, "-d")
    if not dataset.is_dir() or (settings.example and not (dataset / EXAMPLE_FILE).exists()):
        check_writable(dataset, f"the datasets folder (-d {dataset})")
    elif not os.access(dataset, os.R_OK | os.X_OK):
        raise UserError(f"-d {dataset} cannot be read (no permission)")
    check_folder_or_absent(cache, "-t")
    check_writable(cache, f"the cache (-t {cache})")
    if settings.preprocess_only:
        return
    if (checkpoint / "checkpoint.pt").is_file():  # the folder of a MIDI run (symbolic/train.py)
        raise UserError(midi_checkpoint_error(checkpoint, checkpoint))
    if checkpoint.is_dir():
        raise UserError(f"--checkpoint {checkpoint} is a folder, not a checkpoint file; give a file path such as "
                        f"{checkpoint / 'wavegen.pt'}")
    if settings.epochs > 0:
        check_writable(checkpoint.parent, f"the checkpoint (--checkpoint {checkpoint})")
    if settings.generated_music_num > 0:
        check_writable(Path(settings.output_music_name).parent, f"the clips (-o {settings.output_music_name})")


def midi_checkpoint_error(given: Path, run_dir: Path) -> str:
    """The one line for a MIDI run's checkpoint (or its folder) given as the audio model's ``--checkpoint``."""
    return (f"--checkpoint {given} is a MIDI model's checkpoint: use `music-composer midi sample --run-dir "
            f"{shlex.quote(str(run_dir))}`")


def generation_bytes(count: int, seconds: float, spec: FrameSpec, hidden_size: int) -> float:
    """About how many bytes generating ``count`` clips of ``seconds`` holds at its peak (float32 throughout).

    All clips are generated in one batch: their LSTM outputs [count, frames, hidden_size] and decoded frames
    [count, frames, frame_dim] with a copy on the host; for logmag frames Griffin-Lim's four complex spectrograms
    of one clip at a time; and the clips' samples at the framer's rate and at 44.1 kHz, a few copies of each.
    """
    frames = seconds * spec.frames_per_second + 1  # a float: an absurd -s must not overflow here
    griffin_lim = 8 * num_bins(spec.frame_size) * frames if spec.features == "logmag" else 0
    samples = 4 * seconds * (spec.sample_rate + SAMPLE_RATE)
    return 4.0 * (count * (frames * (hidden_size + 2 * spec.frame_dim) + samples) + griffin_lim)


def memory_limit() -> float:
    """The bytes generation may plan for: a share of this machine's memory (a fixed amount where unknown)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        total = FALLBACK_MEMORY
    return MEMORY_SHARE * total


def generation_problem(count: int, seconds: float, spec: FrameSpec, hidden_size: int) -> str | None:
    """Why ``count`` clips of ``seconds`` cannot be generated in this machine's memory, or None."""
    needed, limit = generation_bytes(count, seconds, spec, hidden_size), memory_limit()
    if needed <= limit:
        return None
    return (f"{count} clip(s) of {seconds:g} s need about {needed / 2 ** 30:,.1f} GiB of memory to generate, more "
            f"than the limit of {limit / 2 ** 30:,.1f} GiB ({MEMORY_SHARE:.0%} of this machine's memory); "
            "generate fewer (-g) or shorter (-s) clips")
