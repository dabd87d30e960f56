"""What one run of the audio pipeline is asked to do: every flag of `music-composer` as a field of ``Settings``.

The command line (wavegen.cli) and Python callers (wavegen.pipeline) build the same ``Settings``. A checkpoint
records the settings it was trained with; ``with_checkpoint_settings`` completes a run's settings with them.
This module never imports torch.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import UserError
from wavegen.audio import MAX_SILENCE
from wavegen.framer import FrameSpec, usable_cpus

HYPOTHESES = 4  # next-frame proposals per step: sharper than one blurry average (README: measured on five sets)
INPUT_NOISE = 0.5  # on training inputs, against drones; chosen on 10 min of Palestrina (docs/wavegen.md)
KEPT_INPUT_NOISE = 1.0  # the same for a keep-gate model, whose gate keeps the clean frame (docs/wavegen.md)
GENERATION_NOISE = 1.5  # on every frame fed back; measured on four kinds of music (docs/wavegen.md)
KEPT_GENERATION_NOISE = 2.5  # the same for a keep-gate model, which holds frames and stands still with less
CHOICE_TEMPERATURE = 1.0
DROPOUT = 0.2  # against learning the training music by heart (README: measured on the chorales)
EMA_DECAY = 0.998  # the weights' moving average that validation and generation use (README: measured)
WINDOW_FLAGS = ("sequence_length", "stride")  # what a resumed run may change: other windows over the same music


@dataclass
class Settings:
    """Every setting of a run, named as the `music-composer` flags' destinations, with the command's defaults.

    ``given``: the fields set on purpose; on a checkpoint the others take the checkpoint's values (the command line
    names the flags it was given; a Python caller names the fields it wants checked against the checkpoint).
    """

    # folders and files
    datasets_folder_path: Path = Path("input_music_dataset")
    traindata_folder_path: Path = Path("train_data")
    output_music_name: str = "output"  # clips are NAME-0.wav, NAME-1.wav, ...
    checkpoint: Path = Path("checkpoints/wavegen.pt")
    # model and framing
    hidden_layer_neurons: int = 1024
    hidden_layer_count: int = 4
    hypotheses: int = HYPOTHESES
    keep_gate: bool = True
    framer: str = "stft"
    features: str = "logmag"
    sample_rate: int = 22050
    frame_size: int = 2048
    hop_size: int = 512
    block_size: int = 11025
    max_silence: float | None = MAX_SILENCE
    # training
    epochs: int = 20
    max_time: float | None = None  # seconds of training in this run (None: no limit)
    batch_size: int = 10
    micro_batch: int | None = None  # windows per forward pass, gradients accumulated (None: what fits)
    learning_rate: float = 1e-3
    sequence_length: int | None = None  # None: 40 blocks or 128 stft frames
    stride: int | None = None  # None: the sequence length
    val_fraction: float = 0.1
    ema_decay: float = EMA_DECAY
    keep_best: bool = True
    dropout: float = DROPOUT
    input_noise: float | None = None  # None: the model's (default_input_noise)
    device: str = "auto"
    seed: int = 0
    # generation
    seconds_to_generate: float = 10.0
    generated_music_num: int = 10
    generation_noise: float | None = None  # None: the model's (default_generation_noise)
    choice_temperature: float = CHOICE_TEMPERATURE
    include_seed: bool = False
    png: bool = False
    evaluate: list[Path] | None = None  # not None: only score these clips ([]: those the last generation wrote)
    # the run
    preprocess_only: bool = False
    example: bool = False
    workers: int = field(default_factory=usable_cpus)
    wait: bool = False
    threads: int | None = None
    no_progress: bool = False
    given: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.sequence_length is None:
            self.sequence_length = 40 if self.framer == "blocks" else 128
        if self.stride is None:
            self.stride = self.sequence_length

    def frame_spec(self) -> FrameSpec:
        """The framing these settings ask for."""
        if self.framer == "blocks":
            return FrameSpec.blocks(self.block_size)
        return FrameSpec("stft", self.features, self.sample_rate, self.frame_size, self.hop_size)


def default_input_noise(keep_gate: bool) -> float:
    """The training input noise of a model without --input-noise: more for one with the keep gate, which keeps the
    clean last frame and so does not pay for the noise in validation error."""
    return KEPT_INPUT_NOISE if keep_gate else INPUT_NOISE


def default_generation_noise(keep_gate: bool) -> float:
    """The generation noise of a model without --generation-noise: more for one that holds frames (the keep gate)."""
    return KEPT_GENERATION_NOISE if keep_gate else GENERATION_NOISE


def flag_name(dest: str) -> str:
    """The long flag of a setting (every setting a checkpoint records has one spelt so)."""
    return "--" + dest.replace("_", "-")


def flag_text(value: object) -> str:
    """A flag's value as the command line spells it (None is --max-silence's off; a switch is on or off)."""
    if value is None or value is False:
        return "off"
    if value is True:
        return "on"
    return f"{value:g}" if isinstance(value, float) else str(value)


def with_checkpoint_settings(settings: Settings, saved: dict[str, object], resuming: bool = False) -> Settings:
    """``settings`` with every field in ``saved`` (a checkpoint's settings) that was not given set to the
    checkpoint's value; one given with another value is refused in one line.

    ``resuming``: training goes on, and other windows (WINDOW_FLAGS) are allowed, said in one line: they cut the same
    training and validation music differently, while another split or silence cut would move held-out music into
    training.
    """
    changed = {dest: value for dest, value in saved.items()
               if dest in settings.given and getattr(settings, dest) != value}
    refused = [f"{flag_name(dest)}: checkpoint has {flag_text(value)}, now {flag_text(getattr(settings, dest))}"
               for dest, value in changed.items() if not (resuming and dest in WINDOW_FLAGS)]
    if refused:
        afresh = f", or start afresh with another --checkpoint or by deleting {settings.checkpoint}" if resuming else ""
        raise UserError(f"checkpoint {settings.checkpoint} was made with other settings ({'; '.join(refused)}); "
                        f"leave these flags out to use the checkpoint's{afresh}")
    if changed:
        windows = " and ".join(f"{flag_name(dest)} {flag_text(getattr(settings, dest))} (the checkpoint's "
                               f"{flag_text(value)})" for dest, value in changed.items())
        print(f"note: resuming with {windows}: other windows over the same training and validation music")
    return dataclasses.replace(settings, **{dest: value for dest, value in saved.items() if dest not in settings.given})
