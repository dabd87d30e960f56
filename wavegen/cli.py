"""`music-composer`: the command line of the audio pipeline (wavegen.pipeline): parsing, checks, dispatch.

Every flag becomes a field of wavegen.settings.Settings. Parsing, validation and preprocessing never import torch,
so `-h` and `--preprocess-only` start fast.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from collections.abc import Callable, Collection, Mapping
from typing import NoReturn

from engine.arguments import (device_name, duration, fraction, non_negative_int, number, positive_float,
                              positive_int, seed_value)
from engine.errors import UserError
from wavegen.framer import FEATURES, FRAMERS, usable_cpus
from wavegen.pipeline import run
from wavegen.settings import GENERATION_NOISE, INPUT_NOISE, KEPT_GENERATION_NOISE, KEPT_INPUT_NOISE, Settings

DESCRIPTION = """\
Generate music from your audio: every run reconciles the cache in the train-data folder with the audio files in the
datasets folder (only new or changed files are processed), trains an LSTM on overlapping STFT frames (resuming from
--checkpoint), writes N clips {output}-0.wav ... {output}-(N-1).wav (44.1 kHz, 16-bit, mono) and scores them against
the held-out end of your music (--evaluate scores existing clips).

MIDI: `music-composer midi COMMAND` trains and uses models of three families (Magenta's MusicVAE, the VRASH paper's
note models, CNN-VRNN) on MIDI files; the commands are listed below. `music-composer studio --workspace DIR` opens a
local web page on the models under DIR (pip install -e ".[studio]")."""
EPILOG = """\
examples:
  music-composer --example                  run everything on a bundled public-domain piece
  music-composer -n 512 -l 2 -e 20 -s 10 -g 5
  music-composer --preprocess-only          only build or refresh the cache
  music-composer -e 0 -g 3 --png --include-seed   no training: 3 new clips from the saved checkpoint, each
                                            with its seed first and a spectrogram beside its seed's
  music-composer --evaluate                 score the clips the last generation wrote (output-clips.json lists
                                            them) against the held-out music
  music-composer midi sample -h             the MIDI tools (music-composer midi -h lists them)
  music-composer studio --workspace .       the web page: listen, look, sample, interpolate, vary"""
MIDI_SUFFIXES = (".mid", ".midi", ".kar")


block_size = number(int, 2, "at least 2")
frame_size = number(int, 16, "at least 16")
sample_rate = number(int, 1000, "in 1000 .. 192000", below=192001)
noise_level = number(float, 0.0, "0 or more and finite", below=float("inf"))
seconds = number(float, 0.0, "0 or more and finite", below=float("inf"))


def silence_limit(text: str) -> float | None:
    """--max-silence: seconds (0 or more), or off (None: every silence kept)."""
    if text.strip().lower() == "off":
        return None
    try:
        return seconds(text)
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"{e} (or off, to keep every silence)") from None


def output_name(text: str) -> str:
    """An argparse type: the clips' name prefix (it may include folders); ``song.wav`` means the prefix ``song``."""
    from wavegen.audio import AUDIO_EXTENSIONS
    if not text or text.endswith(("/", os.sep)):
        raise argparse.ArgumentTypeError(f"{text!r} must name files, e.g. out/song")
    suffix = Path(text).suffix.lower()
    if suffix == ".wav":
        return text[:-len(suffix)]
    if suffix[1:] in AUDIO_EXTENSIONS:
        raise argparse.ArgumentTypeError(f"{text!r}: the clips are WAV files; give a name without an extension "
                                         "or with .wav")
    return text


def midi_hint(argv: list[str], midi_commands: Collection[str]) -> str:
    """Advice for a command line that looks meant for the MIDI tools (a MIDI command or file), else ''."""
    if argv[:1] and argv[0] in midi_commands:
        return f"; the MIDI commands are under `music-composer midi`: music-composer midi {shlex.join(argv)}"
    if any(arg.lower().endswith(MIDI_SUFFIXES) for arg in argv):
        return "; MIDI files are for the MIDI tools: see `music-composer midi -h`"
    return ""


MidiCommands = Callable[[], Mapping[str, str]]  # the `midi` commands and their help, read when needed


def no_midi_commands() -> Mapping[str, str]:
    return {}


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose help lists the MIDI commands and whose errors end with the MIDI advice for the
    command line parsed; both read ``midi_commands`` only when shown (the MIDI tools are slower to load)."""

    argv: list[str] = []
    midi_commands: MidiCommands = staticmethod(no_midi_commands)

    def format_help(self) -> str:
        commands = self.midi_commands()
        width = max(map(len, commands), default=0) + 2
        listed = "".join(f"\n  {name:{width}}{text}" for name, text in commands.items())
        return super().format_help() + (f"\nMIDI commands (music-composer midi COMMAND -h):{listed}\n" if listed else "")

    def error(self, message: str) -> NoReturn:
        super().error(message + midi_hint(self.argv, self.midi_commands()))


def build_parser() -> Parser:
    """The command line; every flag is typed and range-checked here, and defaults to its field of Settings."""
    p = Parser(prog="music-composer", description=DESCRIPTION, epilog=EPILOG,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    io = p.add_argument_group("folders and files")
    io.add_argument("-d", "--datasets-folder-path", type=Path, default=Settings.datasets_folder_path,
                    help="folder with your audio (.wav, .flac, .ogg, ... any rate and channel count; "
                         "searched recursively) (default: %(default)s)")
    io.add_argument("-t", "--traindata-folder-path", type=Path, default=Settings.traindata_folder_path,
                    help="cache of preprocessed frames, kept in sync automatically (default: %(default)s)")
    io.add_argument("-o", "--output-music-name", type=output_name, default=Settings.output_music_name,
                    help="clips are written to NAME-0.wav, NAME-1.wav, ... (NAME.wav works too) (default: %(default)s)")
    io.add_argument("--checkpoint", type=Path, default=Settings.checkpoint,
                    help="model checkpoint, saved every epoch; a rerun resumes from it. Training logs (CSV, JSON, "
                         "TensorBoard) go to the folder NAME-logs next to it (default: %(default)s)")

    model = p.add_argument_group("model")
    model.add_argument("-n", "--hidden-layer-neurons", type=positive_int, default=Settings.hidden_layer_neurons,
                       help="LSTM units per layer (default: %(default)s)")
    model.add_argument("-l", "--hidden-layer-count", type=positive_int, default=Settings.hidden_layer_count,
                       help="stacked LSTM layers (default: %(default)s)")
    model.add_argument("--hypotheses", type=positive_int, default=Settings.hypotheses,
                       help="next-frame proposals per step: each learns one way the music may go and generation "
                            "draws one per frame (sharper than their blurry average); 1: a plain MSE regressor "
                            "(default: %(default)s)")
    model.add_argument("--keep-gate", action=argparse.BooleanOptionalAction, default=Settings.keep_gate,
                       help="a learned gate: each bin holds the last frame or takes a hypothesis's new value, as "
                            "generation draws from it, instead of the whole frame predicted anew; it beats repeating "
                            "the last frame on music it was not trained on, where a model without it may not, at 1.4x "
                            "the cost of a training step (docs/wavegen.md) (default: on)")
    model.add_argument("--framer", choices=FRAMERS, default=Settings.framer,
                       help="stft: overlapping windowed STFT frames, overlap-added back to audio; blocks: the original "
                            "tool's disjoint rfft blocks of --block-size samples (a click at every block boundary) "
                            "(default: %(default)s)")
    model.add_argument("--features", choices=FEATURES, default=Settings.features,
                       help="stft frames as logmag (log-magnitudes; Griffin-Lim rebuilds the phase) or complex "
                            "(real and imaginary parts) (default: %(default)s)")
    model.add_argument("--sample-rate", type=sample_rate, default=Settings.sample_rate,
                       help="sample rate of the stft framer; clips are written at 44.1 kHz (default: %(default)s)")
    model.add_argument("--frame-size", type=frame_size, default=Settings.frame_size,
                       help="stft FFT size in samples, even (default: %(default)s)")
    model.add_argument("--hop-size", type=positive_int, default=Settings.hop_size,
                       help="samples between stft frames, at most half the frame size (default: %(default)s: 43 "
                            "frames/s at 22050 Hz)")
    model.add_argument("--block-size", type=block_size, default=Settings.block_size,
                       help="--framer blocks: samples per block at 44.1 kHz (default: %(default)s = 0.25 s)")
    model.add_argument("--max-silence", type=silence_limit, default=Settings.max_silence, metavar="SECONDS",
                       help="silences longer than this (50 dB under a file's loudest moment: the gaps between "
                            "pieces) are cut to it, for training and evaluation alike; off keeps them "
                            "(default: %(default)s)")

    train = p.add_argument_group("training")
    train.add_argument("-e", "--epochs", type=non_negative_int, default=Settings.epochs,
                       help="total epochs (a resumed run trains only the missing ones); 0: no training, generate "
                            "from the saved checkpoint, seeded from the training windows it records "
                            "(default: %(default)s)")
    train.add_argument("--max-time", type=duration, metavar="DURATION",
                       help="stop training after this long (90, 90s, 15m, 1.5h, 2d) with a checkpoint, as Ctrl-C "
                            "does, then generate and score as usual; the same command resumes (default: no limit)")
    train.add_argument("-b", "--batch-size", type=positive_int, default=Settings.batch_size,
                       help="windows per training batch (default: %(default)s)")
    train.add_argument("--micro-batch", type=positive_int, metavar="N",
                       help="windows per forward pass, their gradients accumulated to the batch (default: the whole "
                            "batch when the memory estimate finds room for it, else the largest part that fits)")
    train.add_argument("--learning-rate", "--lr", type=positive_float, default=Settings.learning_rate,
                       help="Adam learning rate (default: %(default)s)")
    train.add_argument("--sequence-length", type=positive_int, default=None,
                       help="frames per training window, also the seed of every clip; shortened automatically when no "
                            "file is that long (default: 128 stft frames = 3 s, 40 blocks = 10 s)")
    train.add_argument("--stride", type=positive_int, default=None,
                       help="frames between the starts of consecutive windows (default: the sequence length)")
    train.add_argument("--val-fraction", type=fraction, default=Settings.val_fraction,
                       help="the last part of every file held out for validation; the log shows train and "
                            "validation MSE and the MSE of repeating the last frame (default: %(default)s)")
    train.add_argument("--ema-decay", type=fraction, default=Settings.ema_decay,
                       help="validation, checkpoints and generation use an exponential moving average of the weights "
                            "with this decay per step (smoother than the last step's weights); 0: the last weights "
                            "(default: %(default)s)")
    train.add_argument("--keep-best", action=argparse.BooleanOptionalAction, default=Settings.keep_best,
                       help="checkpoints and generation use the weights of the lowest validation loss, not the last: "
                            "on music unlike the training parts, the model may get worse as it learns them (default: "
                            "on; off without validation)")
    train.add_argument("--dropout", type=fraction, default=Settings.dropout,
                       help="share of every LSTM layer's outputs zeroed in training, so the model generalises to "
                            "music it has not heard instead of learning yours by heart (default: %(default)s)")
    train.add_argument("--input-noise", type=noise_level, default=Settings.input_noise,
                       help="std of Gaussian noise on the training inputs (normalised frames), so the model learns to "
                            "continue from imperfect frames like its own "
                            f"(default: {KEPT_INPUT_NOISE} with the keep gate, {INPUT_NOISE} with --no-keep-gate)")
    train.add_argument("--device", type=device_name, default=Settings.device,
                       help="auto (CUDA when available), cpu, mps, cuda or cuda:N (default: %(default)s)")
    train.add_argument("--seed", type=seed_value, default=Settings.seed,
                       help="random seed for training and for picking generation seeds (default: %(default)s)")

    gen = p.add_argument_group("generation")
    gen.add_argument("-s", "--seconds-to-generate", type=positive_float, default=Settings.seconds_to_generate,
                     help="length of every clip in seconds (default: %(default)s)")
    gen.add_argument("-g", "--generated-music-num", type=non_negative_int, default=Settings.generated_music_num,
                     help="number of clips; 0 trains without generating (default: %(default)s)")
    gen.add_argument("--generation-noise", type=noise_level, default=Settings.generation_noise,
                     help="std of Gaussian noise on every frame fed back during generation (normalised frames) "
                          f"(default: {KEPT_GENERATION_NOISE} for a model with the keep gate, {GENERATION_NOISE} for "
                          "one without)")
    gen.add_argument("--choice-temperature", type=positive_float, default=Settings.choice_temperature,
                     help="how generation draws among the --hypotheses: their chosen shares are softened by this "
                          "temperature, so above 1 the less likely ones are drawn more often (more varied clips), "
                          "below 1 the likeliest (default: %(default)s)")
    gen.add_argument("--include-seed", action="store_true",
                     help="start every clip with its seed, so you hear where the model takes over")
    gen.add_argument("--png", action="store_true",
                     help="write NAME-i.png beside every clip: its spectrogram beside its seed's")
    gen.add_argument("--evaluate", nargs="*", type=Path, metavar="CLIP",
                     help="only score existing clips against the held-out end of the music (the last --val-fraction "
                          "of every file, the checkpoint's when there is one), as every generation does: the CLIP "
                          "files named, else those the last generation wrote (listed in NAME-clips.json), else "
                          "NAME-0.wav, NAME-1.wav, ...; writes NAME-evaluation.json")

    run = p.add_argument_group("run")
    run.add_argument("--preprocess-only", action="store_true", help="build or refresh the cache, then exit")
    run.add_argument("--example", action="store_true",
                     help="add a bundled public-domain piece (rendered offline) to the datasets folder and use a "
                          "small model that trains in seconds; flags given explicitly still apply")
    run.add_argument("--workers", type=positive_int, default=usable_cpus(),
                     help="processes decoding audio in parallel (default: %(default)s, one per CPU core)")
    run.add_argument("--wait", action="store_true",
                     help="if another run is training into the same checkpoint, wait for it instead of stopping")
    run.add_argument("--threads", type=positive_int, metavar="N",
                     help="CPU threads of training and generation (default: OMP_NUM_THREADS, else the CPUs this "
                          "process may use less those busy with other work)")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def parse_args(argv: list[str], midi_commands: MidiCommands = no_midi_commands) -> Settings:
    """The run's settings from ``argv``; with --example the example's defaults replace the normal ones.
    ``midi_commands`` gives the MIDI commands that help and errors name (wavegen never imports symbolic)."""
    parser = build_parser()
    parser.argv, parser.midi_commands = argv, midi_commands
    args = parser.parse_args(argv)
    if args.example:
        from wavegen.example import EXAMPLE_DEFAULTS
        parser.set_defaults(**EXAMPLE_DEFAULTS)
        args = parser.parse_args(argv)
    if args.framer == "stft" and (args.frame_size % 2 or 2 * args.hop_size > args.frame_size):
        parser.error(f"--frame-size {args.frame_size} must be even and at least twice --hop-size {args.hop_size} "
                     "(frames overlapping by half or more)")
    return Settings(**vars(args), given=given_flags(argv))


def given_flags(argv: list[str]) -> frozenset[str]:
    """The destinations of the flags ``argv`` gives, so that a checkpoint's settings replace only the defaults.

    ``argv`` is parsed again into a namespace whose every attribute starts as a marker: argparse fills in no default
    over an attribute already there, so what is no longer the marker was given.
    """
    parser = build_parser()
    unset = object()
    parsed = parser.parse_args(argv, argparse.Namespace(**dict.fromkeys(vars(parser.parse_args([])), unset)))
    return frozenset(dest for dest, value in vars(parsed).items() if value is not unset)


def main(argv: list[str] | None = None, midi_commands: MidiCommands = no_midi_commands) -> int:
    """Entry point of `music-composer` (the `midi` subcommand is dispatched before this); returns the exit code."""
    settings = parse_args(sys.argv[1:] if argv is None else argv, midi_commands)
    try:
        return run(settings)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the checkpoint holds the training done so far and the cache is intact; run the same "
              "command again to resume", file=sys.stderr)
        return 130
