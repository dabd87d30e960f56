"""Training and loading of the audio model through engine/: checkpoint checks, normalisation, windows, Trainer."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.checkpoint import load_checkpoint, trained_weights
from engine.errors import UserError
from engine.trainer import TrainConfig, Trainer, run_training, seed_everything
from wavegen.dataset import Windows, split_segments
from wavegen.framer import FrameSpec
from wavegen.model import WaveLSTM, WaveLSTMConfig
from wavegen.preflight import midi_checkpoint_error
from wavegen.preprocess import FORMAT_VERSION, Prepared

# Settings that define the model's shape (or the meaning of its inputs), recorded in every checkpoint.
HPARAM_KEYS = [*FrameSpec().params(), "hidden_layer_neurons", "hidden_layer_count", "hypotheses", "keep_gate"]
LATER_KEYS = {"hypotheses": 1, "keep_gate": False}  # what a checkpoint from before these settings was made with
MIDI_HPARAMS = {"config_name", "family", "config"}  # what a MIDI run's checkpoint holds instead (symbolic/train.py)


def model_hparams(spec: FrameSpec, hidden_layer_neurons: int, hidden_layer_count: int, hypotheses: int = 1,
                  keep_gate: bool = False) -> dict:
    """The shape-defining settings stored in (and checked against) every checkpoint."""
    return {**spec.params(), "hidden_layer_neurons": hidden_layer_neurons, "hidden_layer_count": hidden_layer_count,
            "hypotheses": hypotheses, "keep_gate": keep_gate}


def build_model(hparams: dict, input_noise: float = 0.0, dropout: float = 0.0) -> WaveLSTM:
    """A fresh model of the shape ``hparams`` describe (the noise and dropout act in training only)."""
    return WaveLSTM(WaveLSTMConfig(frame_dim=FrameSpec.from_params(hparams).frame_dim,
                                   hidden_size=hparams["hidden_layer_neurons"],
                                   num_layers=hparams["hidden_layer_count"],
                                   **{key: hparams.get(key, default) for key, default in LATER_KEYS.items()},
                                   input_noise=input_noise, dropout=dropout))


def load_saved(checkpoint: Path) -> dict | None:
    """The audio model's checkpoint at ``checkpoint`` (None if there is none); any other is refused in one line."""
    if not checkpoint.is_file():
        return None
    state = load_checkpoint(checkpoint)
    hparams, extra = state.get("hparams") or {}, state.get("extra") or {}
    if MIDI_HPARAMS & set(hparams):
        raise UserError(midi_checkpoint_error(checkpoint, checkpoint.parent))
    if not (set(HPARAM_KEYS) - set(LATER_KEYS) <= set(hparams) and {"preprocessing", "windows"} <= set(extra)):
        raise UserError(f"--checkpoint {checkpoint} holds no audio model of music-composer; point it at one, or at "
                        "a new file to train one")
    made = extra["preprocessing"].get("format")
    if made != FORMAT_VERSION:
        raise UserError(f"checkpoint {checkpoint} was trained on frames of cache format {made}, this version makes "
                        f"format {FORMAT_VERSION}; start afresh with another --checkpoint, or delete {checkpoint}")
    gate = trained_weights(state).get("keep.weight")
    if gate is not None and len(gate) != FrameSpec.from_params(hparams).frame_dim:
        raise UserError(f"checkpoint {checkpoint} has a keep gate per hypothesis, from before the gate was shared "
                        f"(2026-12-07); train it afresh with another --checkpoint, or delete {checkpoint}")
    return state


def checkpoint_settings(state: dict) -> dict:
    """The flags a checkpoint was trained with, by argparse destination: framing, shape, --max-silence, windows.

    Only the flags of its framer: a blocks model records no --features, an stft model no --block-size. A checkpoint
    from before --hypotheses has one hypothesis, one from before --keep-gate none; one from before --max-silence was
    made of uncut audio (off).
    """
    hparams = state["hparams"]
    spec = FrameSpec.from_params(hparams)
    framing = ({"block_size": spec.frame_size} if spec.framer == "blocks" else
               {"features": spec.features, "sample_rate": spec.sample_rate, "frame_size": spec.frame_size,
                "hop_size": spec.hop_size})
    return {"framer": spec.framer, **framing, "hidden_layer_neurons": hparams["hidden_layer_neurons"],
            "hidden_layer_count": hparams["hidden_layer_count"],
            **{key: hparams.get(key, default) for key, default in LATER_KEYS.items()},
            "max_silence": state["extra"]["preprocessing"].get("max_silence"), **state["extra"]["windows"]}


def saved_model(saved: dict, hparams: dict, keep_best: bool = True) -> WaveLSTM:
    """The model in a loaded checkpoint (CPU, eval mode); its normalisation is that of saved_training_windows.
    ``keep_best`` False: the last epoch's weights even where the checkpoint kept those of the lowest validation loss."""
    model = build_model(hparams)
    model.load_state_dict(trained_weights(saved if keep_best else {k: v for k, v in saved.items() if k != "best"}))
    return model.eval()


def split_windows(prepared: Prepared, mean: np.ndarray, std: np.ndarray, length: int, stride: int,
                  val_fraction: float) -> tuple[Windows, Windows, int]:
    """Training and validation windows over the cached frames, and how many files gave a validation tail."""
    train_segments, val_segments = split_segments(prepared.frames(), val_fraction)
    return (Windows(train_segments, length, stride, mean, std), Windows(val_segments, length, stride, mean, std),
            len(val_segments))


def make_windows(prepared: Prepared, mean: np.ndarray, std: np.ndarray, length: int, stride: int,
                 val_fraction: float) -> tuple[Windows, Windows]:
    """Training and validation windows over the cached frames; prints a one-line summary of what is used."""
    train, val, val_files = split_windows(prepared, mean, std, length, stride, val_fraction)
    if len(train) == 0:
        raise UserError("the audio is too short to train on: one file must hold at least 2 frames "
                        f"({2 / prepared.spec.frames_per_second:.2f} s)")
    if train.length < length:
        print(f"note: the longest stretch of training audio is {train.length + 1} frames, so windows are "
              f"{train.length} frames long instead of --sequence-length {length}")
    seconds = train.length / prepared.spec.frames_per_second
    files = len(prepared.entries)
    tails = ("each file" if val_files == files
             else f"{val_files} of {files} files ({files - val_files} too short to split)")
    val_text = (f"validating on {len(val)} window(s) of {val.length} frame(s), the last {val_fraction:.0%} of {tails}"
                if len(val) else "no validation windows (--val-fraction 0, or files too short)")
    print(f"training on {len(train)} window(s) of {train.length} frame(s) ({seconds:.2f} s); {val_text}")
    return train, val


def saved_training_windows(prepared: Prepared, saved: dict) -> Windows:
    """The training windows of a saved model (its window settings, its normalisation), to seed generation from.

    The same windows training-time generation uses, so ``-e 0`` with the same ``--seed`` gives the same clips and
    never seeds from the held-out validation tails.
    """
    settings = saved["extra"]["windows"]
    train_set, _, _ = split_windows(prepared, saved["extra"]["mean"], saved["extra"]["std"],
                                    settings["sequence_length"], settings["stride"], settings["val_fraction"])
    return train_set


def fit(prepared: Prepared, hparams: dict, config: TrainConfig, stats: tuple[np.ndarray, np.ndarray] | None,
        length: int, stride: int, val_fraction: float,
        input_noise: float = 0.0, dropout: float = 0.0) -> tuple[WaveLSTM, Windows]:
    """Train the model for ``config.epochs`` in total (the Trainer resumes from ``config.checkpoint`` if it exists).

    ``input_noise``: the standard deviation of the noise added to the input frames (see WaveLSTM.training_loss);
    ``dropout``: the share of every LSTM layer's outputs zeroed in training (WaveLSTMConfig.dropout).
    ``stats``: the normalisation a resumed model was trained with (kept even if files were added since); None for
    a new model, which uses the statistics of the training frames. Returns the model (eval mode) and the training
    windows (to seed generation; they hold the normalisation).
    """
    mean, std = stats if stats is not None else prepared.normalisation(val_fraction)
    train_set, val_set = make_windows(prepared, mean, std, length, stride, val_fraction)
    seed_everything(config.seed)  # the Trainer seeds too, but only after the model's weights are drawn
    model = build_model(hparams, input_noise, dropout)
    extra = {"mean": mean, "std": std, "preprocessing": prepared.cache.params,
             "windows": {"sequence_length": length, "stride": stride, "val_fraction": val_fraction}}
    trainer = Trainer(model, train_set, val_set, config, hparams=hparams, extra_state=extra)
    run_training(trainer)
    return model.eval(), train_set
