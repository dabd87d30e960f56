"""`music-composer`: audio in a folder -> cached STFT frames -> LSTM training -> N generated WAV clips, scored.

Parsing, validation and preprocessing never import torch, so `-h` and `--preprocess-only` start fast.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, NoReturn

from engine.arguments import (device_name, fraction, non_negative_int, number, positive_float, positive_int,
                              seed_value)
from engine.errors import UserError
from wavegen.audio import MAX_SILENCE
from wavegen.framer import FEATURES, FRAMERS, FrameSpec, usable_cpus

if TYPE_CHECKING:
    from wavegen.dataset import Windows
    from wavegen.model import WaveLSTM

HYPOTHESES = 4  # next-frame proposals per step: sharper than one blurry average (README: measured on five sets)
INPUT_NOISE = 0.5  # the anti-drone defaults, chosen by measurement on 10 min of Palestrina (README)
GENERATION_NOISE = 2.5
DROPOUT = 0.2  # against learning the training music by heart (README: measured on the chorales)
EMA_DECAY = 0.998  # the weights' moving average that validation and generation use (README: measured)

DESCRIPTION = """\
Generate music from your audio: every run reconciles the cache in the train-data folder with the audio files in the
datasets folder (only new or changed files are processed), trains an LSTM on overlapping STFT frames (resuming from
--checkpoint), writes N clips {output}-0.wav ... {output}-(N-1).wav (44.1 kHz, 16-bit, mono) and scores them against
the held-out end of your music (--evaluate scores existing clips).

MIDI: `music-composer midi COMMAND` trains and uses models of three families (Magenta's MusicVAE, the VRASH paper's
note models, CNN-VRNN) on MIDI files; the commands are listed below."""
EPILOG = """\
examples:
  music-composer --example                  run everything on a bundled public-domain piece
  music-composer -n 512 -l 2 -e 20 -s 10 -g 5
  music-composer --preprocess-only          only build or refresh the cache
  music-composer -e 0 -g 3 --png --include-seed   no training: 3 new clips from the saved checkpoint, each
                                            with its seed first and a spectrogram beside its seed's
  music-composer --evaluate                 score the clips the last generation wrote (output-clips.json lists
                                            them) against the held-out music
  music-composer midi sample -h             the MIDI tools (music-composer midi -h lists them)"""
MIDI_SUFFIXES = (".mid", ".midi", ".kar")
WINDOW_FLAGS = ("sequence_length", "stride")  # what a resumed run may change: other windows over the same music


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
    """The command line; every flag is typed and range-checked here."""
    p = Parser(prog="music-composer", description=DESCRIPTION, epilog=EPILOG,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    io = p.add_argument_group("folders and files")
    io.add_argument("-d", "--datasets-folder-path", type=Path, default=Path("input_music_dataset"),
                    help="folder with your audio (.wav, .flac, .ogg, ... any rate and channel count; "
                         "searched recursively) (default: %(default)s)")
    io.add_argument("-t", "--traindata-folder-path", type=Path, default=Path("train_data"),
                    help="cache of preprocessed frames, kept in sync automatically (default: %(default)s)")
    io.add_argument("-o", "--output-music-name", type=output_name, default="output",
                    help="clips are written to NAME-0.wav, NAME-1.wav, ... (NAME.wav works too) (default: %(default)s)")
    io.add_argument("--checkpoint", type=Path, default=Path("checkpoints/wavegen.pt"),
                    help="model checkpoint, saved every epoch; a rerun resumes from it. Training logs (CSV, JSON, "
                         "TensorBoard) go to the folder NAME-logs next to it (default: %(default)s)")

    model = p.add_argument_group("model")
    model.add_argument("-n", "--hidden-layer-neurons", type=positive_int, default=1024,
                       help="LSTM units per layer (default: %(default)s)")
    model.add_argument("-l", "--hidden-layer-count", type=positive_int, default=4,
                       help="stacked LSTM layers (default: %(default)s)")
    model.add_argument("--hypotheses", type=positive_int, default=HYPOTHESES,
                       help="next-frame proposals per step: each learns one way the music may go and generation "
                            "draws one per frame (sharper than their blurry average); 1: a plain MSE regressor "
                            "(default: %(default)s)")
    model.add_argument("--framer", choices=FRAMERS, default="stft",
                       help="stft: overlapping windowed STFT frames, overlap-added back to audio; blocks: the original "
                            "tool's disjoint rfft blocks of --block-size samples (a click at every block boundary) "
                            "(default: %(default)s)")
    model.add_argument("--features", choices=FEATURES, default="logmag",
                       help="stft frames as logmag (log-magnitudes; Griffin-Lim rebuilds the phase) or complex "
                            "(real and imaginary parts) (default: %(default)s)")
    model.add_argument("--sample-rate", type=sample_rate, default=22050,
                       help="sample rate of the stft framer; clips are written at 44.1 kHz (default: %(default)s)")
    model.add_argument("--frame-size", type=frame_size, default=2048,
                       help="stft FFT size in samples, even (default: %(default)s)")
    model.add_argument("--hop-size", type=positive_int, default=512,
                       help="samples between stft frames, at most half the frame size (default: %(default)s: 43 "
                            "frames/s at 22050 Hz)")
    model.add_argument("--block-size", type=block_size, default=11025,
                       help="--framer blocks: samples per block at 44.1 kHz (default: %(default)s = 0.25 s)")
    model.add_argument("--max-silence", type=silence_limit, default=MAX_SILENCE, metavar="SECONDS",
                       help="silences longer than this (50 dB under a file's loudest moment: the gaps between "
                            "pieces) are cut to it, for training and evaluation alike; off keeps them "
                            "(default: %(default)s)")

    train = p.add_argument_group("training")
    train.add_argument("-e", "--epochs", type=non_negative_int, default=20,
                       help="total epochs (a resumed run trains only the missing ones); 0: no training, generate "
                            "from the saved checkpoint, seeded from the training windows it records "
                            "(default: %(default)s)")
    train.add_argument("-b", "--batch-size", type=positive_int, default=10,
                       help="windows per training batch (default: %(default)s)")
    train.add_argument("--learning-rate", "--lr", type=positive_float, default=1e-3,
                       help="Adam learning rate (default: %(default)s)")
    train.add_argument("--sequence-length", type=positive_int, default=None,
                       help="frames per training window, also the seed of every clip; shortened automatically when no "
                            "file is that long (default: 128 stft frames = 3 s, 40 blocks = 10 s)")
    train.add_argument("--stride", type=positive_int, default=None,
                       help="frames between the starts of consecutive windows (default: the sequence length)")
    train.add_argument("--val-fraction", type=fraction, default=0.1,
                       help="the last part of every file held out for validation; the log shows train and "
                            "validation MSE and the MSE of repeating the last frame (default: %(default)s)")
    train.add_argument("--ema-decay", type=fraction, default=EMA_DECAY,
                       help="validation, checkpoints and generation use an exponential moving average of the weights "
                            "with this decay per step (smoother than the last step's weights); 0: the last weights "
                            "(default: %(default)s)")
    train.add_argument("--dropout", type=fraction, default=DROPOUT,
                       help="share of every LSTM layer's outputs zeroed in training, so the model generalises to "
                            "music it has not heard instead of learning yours by heart (default: %(default)s)")
    train.add_argument("--input-noise", type=noise_level, default=INPUT_NOISE,
                       help="std of Gaussian noise on the training inputs (normalised frames), so the model learns to "
                            "continue from imperfect frames like its own (default: %(default)s)")
    train.add_argument("--device", type=device_name, default="auto",
                       help="auto (CUDA when available), cpu, mps, cuda or cuda:N (default: %(default)s)")
    train.add_argument("--seed", type=seed_value, default=0,
                       help="random seed for training and for picking generation seeds (default: %(default)s)")

    gen = p.add_argument_group("generation")
    gen.add_argument("-s", "--seconds-to-generate", type=positive_float, default=10.0,
                     help="length of every clip in seconds (default: %(default)s)")
    gen.add_argument("-g", "--generated-music-num", type=non_negative_int, default=10,
                     help="number of clips; 0 trains without generating (default: %(default)s)")
    gen.add_argument("--generation-noise", type=noise_level, default=GENERATION_NOISE,
                     help="std of Gaussian noise on every frame fed back during generation (normalised frames) "
                          "(default: %(default)s)")
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


def parse_args(argv: list[str], midi_commands: MidiCommands = no_midi_commands) -> argparse.Namespace:
    """Parse ``argv``; with --example the example's defaults replace the normal ones. ``midi_commands`` gives the
    MIDI commands that help and errors name (the caller knows them: wavegen never imports symbolic)."""
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
    if args.sequence_length is None:
        args.sequence_length = 40 if args.framer == "blocks" else 128
    if args.stride is None:
        args.stride = args.sequence_length
    args.given = given_flags(argv)
    return args


def given_flags(argv: list[str]) -> frozenset[str]:
    """The destinations of the flags ``argv`` gives, so that a checkpoint's settings replace only the defaults.

    ``argv`` is parsed again into a namespace whose every attribute starts as a marker: argparse fills in no default
    over an attribute already there, so what is no longer the marker was given.
    """
    parser = build_parser()
    unset = object()
    parsed = parser.parse_args(argv, argparse.Namespace(**dict.fromkeys(vars(parser.parse_args([])), unset)))
    return frozenset(dest for dest, value in vars(parsed).items() if value is not unset)


def frame_spec(args: argparse.Namespace) -> FrameSpec:
    """The framing the flags ask for."""
    if args.framer == "blocks":
        return FrameSpec.blocks(args.block_size)
    return FrameSpec("stft", args.features, args.sample_rate, args.frame_size, args.hop_size)


def program() -> str:
    """The command as the user started it, for commands they can paste: a script path, or `music-composer`."""
    started = sys.argv[0] if sys.argv else ""
    if Path(started).name in ("music-composer.py", "music_composer.py"):
        return f"{shlex.quote(sys.executable)} {shlex.quote(started)}"
    return shlex.quote(started) if Path(started).name == "music-composer" else "music-composer"


def flag_text(value: object) -> str:
    """A flag's value as the command line spells it (None is --max-silence's off)."""
    if value is None:
        return "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def more_clips_command(args: argparse.Namespace) -> str:
    """The command that generates new clips from this run's checkpoint without training (paths quoted).

    It names every flag that differs from the normal defaults and matters to ``-e 0`` beyond what the checkpoint
    records (the model, its framing and windows), asks for the default number of clips after ``-g 0``, takes the
    next seed (the same seed gives the same clips) and writes NAME-more-*.wav beside this run's clips.
    """
    defaults = build_parser()
    words = ["-e", "0"]
    for flag, dest in [("-d", "datasets_folder_path"), ("-t", "traindata_folder_path"), ("--checkpoint", "checkpoint"),
                       ("-s", "seconds_to_generate"), ("-g", "generated_music_num"),
                       ("--generation-noise", "generation_noise"), ("--device", "device")]:
        value = getattr(args, dest)
        if value != defaults.get_default(dest) and (dest, value) != ("generated_music_num", 0):  # -g 0 makes none
            words += [flag, flag_text(value)]
    words += [flag for flag, on in (("--include-seed", args.include_seed), ("--png", args.png)) if on]
    words += ["--seed", str((args.seed + 1) % 2 ** 32), "-o", f"{args.output_music_name}-more"]
    return f"{program()} {shlex.join(words)}"


def run(args: argparse.Namespace) -> int:
    """Check every path, preprocess, then (unless --preprocess-only) train and generate; returns the exit code."""
    from wavegen.preflight import check_paths
    check_paths(args)
    dataset = args.datasets_folder_path
    if args.example:
        from wavegen.example import install_example
        install_example(dataset)
    elif not dataset.is_dir():
        dataset.mkdir(parents=True)
        print(f"created the datasets folder {dataset}/: copy your music into it (.wav, .flac, .ogg, ...) and run "
              "again, or try `music-composer --example`", file=sys.stderr)
        return 2  # guidance, not an error, but nothing was made
    if args.preprocess_only:
        from wavegen.preprocess import prepare
        prepare(dataset, args.traindata_folder_path, frame_spec(args), args.workers, progress=not args.no_progress,
                max_silence=args.max_silence)
        return 0
    if args.evaluate is not None:
        evaluate_existing(args)
        return 0
    from engine import distributed
    from engine.threads import configure_threads
    configure_threads(args.threads)
    distributed.setup(args.device)  # under torchrun: join the process group now, so rank 0 builds the cache first
    try:
        train_and_generate(args)
    finally:
        distributed.teardown()
    return 0


def train_and_generate(args: argparse.Namespace) -> None:
    """Check the checkpoint, preprocess, train (or load, with -e 0) and write the clips (rank 0 only)."""
    from engine import distributed
    from engine.device import select_device
    from engine.trainer import TrainConfig
    from wavegen.preflight import generation_problem
    from wavegen.preprocess import prepare
    from wavegen.train import checkpoint_settings, load_saved, model_hparams, saved_model, saved_training_windows, train
    saved = load_saved(args.checkpoint)
    if args.epochs == 0 and saved is None:
        raise UserError(f"-e 0 generates from a saved model, but there is no checkpoint at {args.checkpoint}; "
                        "train first (-e 1 or more) or point --checkpoint at one")
    if saved is not None:  # before preprocessing: a refused run must not rebuild the cache
        use_checkpoint_settings(args, checkpoint_settings(saved), resuming=args.epochs > 0)
    spec = frame_spec(args)
    if args.generated_music_num:  # the model's size is known now: the checkpoint's, or the flags' for a new one
        problem = generation_problem(args.generated_music_num, args.seconds_to_generate, spec,
                                     args.hidden_layer_neurons)
        if problem:
            raise UserError(problem)
    hparams = model_hparams(spec, args.hidden_layer_neurons, args.hidden_layer_count, args.hypotheses)
    generates = distributed.is_main_process()  # asked now: training ends by leaving the process group
    with distributed.main_process_first():
        prepared = prepare(args.datasets_folder_path, args.traindata_folder_path, spec, args.workers,
                           progress=not args.no_progress, max_silence=args.max_silence)
    if args.epochs == 0:
        model = saved_model(saved, hparams)
        model.to(select_device(args.device))
        windows = saved_training_windows(prepared, saved)
    else:
        config = TrainConfig(run_dir=f"{args.checkpoint.with_suffix('')}-logs", checkpoint_path=str(args.checkpoint),
                             epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                             device=args.device, seed=args.seed, progress=not args.no_progress, wait=args.wait,
                             ema_decay=args.ema_decay or None)
        stats = (saved["extra"]["mean"], saved["extra"]["std"]) if saved else None
        del saved  # the Trainer loads the checkpoint itself: holding this copy too would double the memory
        model, windows = train(prepared, hparams, config, stats, args.sequence_length, args.stride,
                               args.val_fraction, args.input_noise, args.dropout)
    if args.generated_music_num and generates:
        generate_and_score(args, model, windows, spec, [args.datasets_folder_path / e.rel for e in prepared.entries])
    if args.epochs and generates:
        print(f"the model is saved in {shlex.quote(str(args.checkpoint))}; more clips from it, without training: "
              f"{more_clips_command(args)}")


def generate_and_score(args: argparse.Namespace, model: WaveLSTM, windows: Windows, spec: FrameSpec,
                       files: list[Path]) -> None:
    """Write the clips (and with --png their spectrograms), then score them against the held-out music."""
    from wavegen.audio import resample
    from wavegen.evaluate import EVAL_RATE, Music, report, score
    from wavegen.generate import write_clips
    clips = write_clips(model, windows, spec, args.generated_music_num, args.seconds_to_generate,
                        args.output_music_name, args.seed, args.generation_noise, args.include_seed,
                        with_seeds=args.png, progress=not args.no_progress)
    if args.png:
        from wavegen.plots import write_spectrogram_png
        for path, seed, clip in zip(clips.paths, clips.seeds, clips.audio):
            write_spectrogram_png(path.with_suffix(".png"), seed, clip, clips.rate)
        print(f"wrote {len(clips.paths)} spectrogram(s): {clips.paths[0].with_suffix('.png')} ...")
    try:  # the clips are written: music too short to hold anything out ends the run with a note, not an error
        result = score(list(resample(clips.audio, clips.rate, EVAL_RATE)),
                       Music.load(files, args.val_fraction, args.max_silence), args.seed)
    except UserError as e:
        print(f"no evaluation: {e}")
        return
    report(result, Path(f"{args.output_music_name}-evaluation.json"))


def use_checkpoint_settings(args: argparse.Namespace, saved: dict[str, object], resuming: bool = False) -> None:
    """Give every flag in ``saved`` (a checkpoint's settings by destination) that the command line left out the
    checkpoint's value; refuse, in one line, one given with another value.

    ``resuming``: training goes on, and other windows (WINDOW_FLAGS) are allowed, said in one line: they cut the same
    training and validation music differently, while another split or silence cut would move held-out music into
    training.
    """
    changed = {}
    for dest, value in saved.items():
        if dest not in args.given:
            setattr(args, dest, value)
        elif getattr(args, dest) != value:
            changed[dest] = value
    refused = [f"{flag_name(dest)}: checkpoint has {flag_text(value)}, now {flag_text(getattr(args, dest))}"
               for dest, value in changed.items() if not (resuming and dest in WINDOW_FLAGS)]
    if refused:
        afresh = f", or start afresh with another --checkpoint or by deleting {args.checkpoint}" if resuming else ""
        raise UserError(f"checkpoint {args.checkpoint} was made with other settings ({'; '.join(refused)}); leave "
                        f"these flags out to use the checkpoint's{afresh}")
    if changed:
        windows = " and ".join(f"{flag_name(dest)} {flag_text(getattr(args, dest))} (the checkpoint's "
                               f"{flag_text(value)})" for dest, value in changed.items())
        print(f"note: resuming with {windows}: other windows over the same training and validation music")


def flag_name(dest: str) -> str:
    """The long flag of an argparse destination (every setting a checkpoint records has one spelt so)."""
    return "--" + dest.replace("_", "-")


def clips_to_score(args: argparse.Namespace) -> tuple[list[Path], str]:
    """--evaluate's clips and how they were chosen: those named, else those the last generation listed
    (NAME-clips.json), else, for clips written before generations listed them, NAME-0.wav, NAME-1.wav, ..."""
    from wavegen.generate import clips_manifest, recorded_clips
    name = args.output_music_name
    if args.evaluate:
        paths, source = args.evaluate, "as named"
    elif (recorded := recorded_clips(name)) is not None:
        paths, source = recorded, f"the last generation's as {clips_manifest(name)} lists them"
    else:
        paths = []
        while Path(f"{name}-{len(paths)}.wav").is_file():
            paths.append(Path(f"{name}-{len(paths)}.wav"))
        source = f"found as {Path(name).name}-0.wav, {Path(name).name}-1.wav, ..."
    if not paths:
        raise UserError(f"--evaluate: no clips {name}-0.wav, ... to score; generate some first, or name them with -o "
                        "or as --evaluate CLIP.wav ...")
    missing = next((path for path in paths if not path.is_file()), None)
    if missing is not None:
        raise UserError(f"--evaluate: there is no clip {missing}")
    return paths, source


def evaluate_existing(args: argparse.Namespace) -> None:
    """--evaluate: score existing clips (clips_to_score) against the held-out music of the checkpoint's settings."""
    from engine.errors import SourceError
    from wavegen.audio import AudioReader, find_audio_files
    from wavegen.evaluate import EVAL_RATE, Music, report, score
    from wavegen.generate import path_span
    from wavegen.train import checkpoint_settings, load_saved
    paths, source = clips_to_score(args)
    saved = load_saved(args.checkpoint)
    if saved is not None:  # the music held out as the model's training held it out
        settings = checkpoint_settings(saved)
        use_checkpoint_settings(args, {dest: settings[dest] for dest in ("val_fraction", "max_silence")})
    files = find_audio_files(args.datasets_folder_path)
    if not files:
        raise UserError(f"no audio files in {args.datasets_folder_path}/ to evaluate against")
    clips = []
    for path in paths:
        try:
            with AudioReader(path, EVAL_RATE) as reader:
                clips.append(reader.samples())
        except SourceError as e:
            raise UserError(f"--evaluate: {path}: {e}") from e
    print(f"scoring {len(paths)} clip(s), {source}: {path_span(paths)}, against the last {args.val_fraction:.0%} of "
          f"every file in {args.datasets_folder_path}/")
    music = Music.load(files, args.val_fraction, args.max_silence)
    report(score(clips, music, args.seed), Path(f"{args.output_music_name}-evaluation.json"))


def main(argv: list[str] | None = None, midi_commands: MidiCommands = no_midi_commands) -> int:
    """Entry point of `music-composer` (the `midi` subcommand is dispatched before this); returns the exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv, midi_commands)
    try:
        return run(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the checkpoint holds the training done so far and the cache is intact; run the same "
              "command again to resume", file=sys.stderr)
        return 130
