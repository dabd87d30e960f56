"""The audio pipeline, callable from Python: preprocess, train (or load a checkpoint), write clips and score them.

`music-composer` (wavegen.cli) parses its flags into a wavegen.settings.Settings and calls ``run``; from Python:

    settings = Settings(datasets_folder_path=Path("music"), output_music_name="out/song", epochs=5)
    trained = train(settings)  # epochs=0: the model saved in settings.checkpoint, untrained
    clips = generate(trained, count=3, seconds=10.0, output_name=settings.output_music_name)
    result = score_clips(clips.paths, trained.settings)  # also written as out/song-evaluation.json

torch is imported inside the functions that train or generate, so the command's --preprocess-only starts fast.
"""
from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import UserError
from wavegen.dataset import Windows
from wavegen.evaluate import EVAL_RATE, Music, report, score
from wavegen.example import install_example
from wavegen.preflight import check_paths, generation_problem
from wavegen.preprocess import prepare
from wavegen.settings import (CHOICE_TEMPERATURE, Settings, default_generation_noise, default_input_noise,
                              flag_text, with_checkpoint_settings)

if TYPE_CHECKING:
    from wavegen.generate import Clips
    from wavegen.model import WaveLSTM


@dataclass
class Trained:
    """A model ready to generate (eval mode), its training windows (the seeds of generation, holding its
    normalisation), the audio files it learnt from, and the run's settings as its checkpoint completed them."""

    model: WaveLSTM
    windows: Windows
    files: list[Path]
    settings: Settings


def run(settings: Settings) -> int:
    """What `music-composer` does: check every path, preprocess, then (unless ``preprocess_only``) score existing
    clips (``evaluate``) or train and generate; returns the exit code."""
    check_paths(settings)
    dataset = settings.datasets_folder_path
    if settings.example:
        install_example(dataset)
    elif not dataset.is_dir():
        dataset.mkdir(parents=True)
        print(f"created the datasets folder {dataset}/: copy your music into it (.wav, .flac, .ogg, ...) and run "
              "again, or try `music-composer --example`", file=sys.stderr)
        return 2  # guidance, not an error, but nothing was made
    if settings.preprocess_only:
        prepare(dataset, settings.traindata_folder_path, settings.frame_spec(), settings.workers,
                progress=not settings.no_progress, max_silence=settings.max_silence)
        return 0
    if settings.evaluate is not None:
        paths, source = clips_to_score(settings)
        score_clips(paths, settings, source)
        return 0
    from engine import distributed
    from engine.threads import configure_threads
    from wavegen.audio import resample
    configure_threads(settings.threads)
    distributed.setup(settings.device)  # under torchrun: join the process group now, so rank 0 builds the cache first
    try:
        generates = distributed.is_main_process()  # asked now: training ends by leaving the process group
        trained = train(settings)
        if settings.generated_music_num and generates:
            clips = generate(trained, settings.generated_music_num, settings.seconds_to_generate,
                             settings.output_music_name, settings.seed, settings.generation_noise,
                             settings.choice_temperature, settings.include_seed, settings.png,
                             progress=not settings.no_progress)
            try:  # the clips are written: music too short to hold anything out ends the run with a note, not an error
                write_score(list(resample(clips.audio, clips.rate, EVAL_RATE)), trained.files, trained.settings)
            except UserError as e:
                print(f"no evaluation: {e}")
        if settings.epochs and generates:
            print(f"the model is saved in {shlex.quote(str(settings.checkpoint))}; more clips from it, without "
                  f"training: {more_clips_command(settings)}")
    finally:
        distributed.teardown()
    return 0


def train(settings: Settings) -> Trained:
    """Preprocess, then train the model of ``settings.checkpoint`` to ``settings.epochs`` epochs in total (resuming
    from the checkpoint when there is one); with ``epochs`` 0, the checkpoint's model as it was saved.

    On a checkpoint, its settings replace those not ``given``; one given with another value is refused in one line
    before preprocessing, as are ``generated_music_num`` clips that would not fit in memory.
    """
    from engine import distributed
    from engine.device import select_device
    from engine.trainer import TrainConfig
    from wavegen.train import checkpoint_settings, fit, load_saved, model_hparams, saved_model, saved_training_windows
    saved = load_saved(settings.checkpoint)
    if settings.epochs == 0 and saved is None:
        raise UserError(f"-e 0 generates from a saved model, but there is no checkpoint at {settings.checkpoint}; "
                        "train first (-e 1 or more) or point --checkpoint at one")
    if saved is not None:  # before preprocessing: a refused run must not rebuild the cache
        settings = with_checkpoint_settings(settings, checkpoint_settings(saved), resuming=settings.epochs > 0)
    spec = settings.frame_spec()
    if settings.generated_music_num:  # the model's size is known now: the checkpoint's, or the settings' for a new one
        problem = generation_problem(settings.generated_music_num, settings.seconds_to_generate, spec,
                                     settings.hidden_layer_neurons)
        if problem:
            raise UserError(problem)
    hparams = model_hparams(spec, settings.hidden_layer_neurons, settings.hidden_layer_count, settings.hypotheses,
                            settings.keep_gate)
    with distributed.main_process_first():
        prepared = prepare(settings.datasets_folder_path, settings.traindata_folder_path, spec, settings.workers,
                           progress=not settings.no_progress, max_silence=settings.max_silence)
    if settings.epochs == 0:
        model = saved_model(saved, hparams, settings.keep_best)
        model.to(select_device(settings.device))
        windows = saved_training_windows(prepared, saved)
    else:
        checkpoint = settings.checkpoint
        config = TrainConfig(run_dir=f"{checkpoint.with_suffix('')}-logs", checkpoint_path=str(checkpoint),
                             epochs=settings.epochs, batch_size=settings.batch_size,
                             learning_rate=settings.learning_rate, device=settings.device, seed=settings.seed,
                             progress=not settings.no_progress, wait=settings.wait,
                             ema_decay=settings.ema_decay or None,
                             keep_best=settings.keep_best, max_time=settings.max_time,
                             micro_batch=settings.micro_batch)
        stats = (saved["extra"]["mean"], saved["extra"]["std"]) if saved else None
        input_noise = default_input_noise(settings.keep_gate) if settings.input_noise is None else settings.input_noise
        del saved  # the Trainer loads the checkpoint itself: holding this copy too would double the memory
        model, windows = fit(prepared, hparams, config, stats, settings.sequence_length, settings.stride,
                             settings.val_fraction, input_noise, settings.dropout)
    files = [settings.datasets_folder_path / entry.rel for entry in prepared.entries]
    return Trained(model, windows, files, settings)


def generate(trained: Trained, count: int, seconds: float, output_name: str, seed: int = 0,
             noise: float | None = None, temperature: float = CHOICE_TEMPERATURE, include_seed: bool = False,
             png: bool = False, progress: bool = True) -> Clips:
    """Write ``count`` clips continuing ``seconds`` each as ``{output_name}-{i}.wav`` (wavegen.generate.write_clips),
    with ``png`` each clip's spectrogram beside its seed's as ``{output_name}-{i}.png``."""
    from wavegen.generate import write_clips
    noise = default_generation_noise(trained.settings.keep_gate) if noise is None else noise
    clips = write_clips(trained.model, trained.windows, trained.settings.frame_spec(), count, seconds, output_name,
                        seed, noise, temperature, include_seed, with_seeds=png, progress=progress)
    if png:
        from wavegen.plots import write_spectrogram_png
        for path, seed_audio, clip in zip(clips.paths, clips.seeds, clips.audio):
            write_spectrogram_png(path.with_suffix(".png"), seed_audio, clip, clips.rate)
        print(f"wrote {len(clips.paths)} spectrogram(s): {clips.paths[0].with_suffix('.png')} ...")
    return clips


def clips_to_score(settings: Settings) -> tuple[list[Path], str]:
    """--evaluate's clips and how they were chosen: those named, else those the last generation listed
    (NAME-clips.json), else, for clips written before generations listed them, NAME-0.wav, NAME-1.wav, ..."""
    from wavegen.generate import clips_manifest, recorded_clips
    name = settings.output_music_name
    if settings.evaluate:
        paths, source = settings.evaluate, "as named"
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


def score_clips(paths: list[Path], settings: Settings, source: str = "as named") -> dict:
    """Score the clips at ``paths`` against the held-out end of every file in ``settings.datasets_folder_path``
    (split as the checkpoint's training split it, when there is one) and write NAME-evaluation.json; ``source``
    says how the clips were chosen."""
    from engine.errors import SourceError
    from wavegen.audio import AudioReader, find_audio_files
    from wavegen.generate import path_span
    from wavegen.train import checkpoint_settings, load_saved
    saved = load_saved(settings.checkpoint)
    if saved is not None:  # the music held out as the model's training held it out
        split = {dest: value for dest, value in checkpoint_settings(saved).items()
                 if dest in ("val_fraction", "max_silence")}
        settings = with_checkpoint_settings(settings, split)
    files = find_audio_files(settings.datasets_folder_path)
    if not files:
        raise UserError(f"no audio files in {settings.datasets_folder_path}/ to evaluate against")
    clips = []
    for path in paths:
        try:
            with AudioReader(path, EVAL_RATE) as reader:
                clips.append(reader.samples())
        except SourceError as e:
            raise UserError(f"--evaluate: {path}: {e}") from e
    print(f"scoring {len(paths)} clip(s), {source}: {path_span(paths)}, against the last {settings.val_fraction:.0%} "
          f"of every file in {settings.datasets_folder_path}/")
    return write_score(clips, files, settings)


def write_score(clips: list[np.ndarray], files: list[Path], settings: Settings) -> dict:
    """Score ``clips`` (audio at EVAL_RATE) against the held-out end of ``files``, print the summary and write it as
    NAME-evaluation.json."""
    result = score(clips, Music.load(files, settings.val_fraction, settings.max_silence), settings.seed)
    report(result, Path(f"{settings.output_music_name}-evaluation.json"))
    return result


def more_clips_command(settings: Settings) -> str:
    """The command that generates new clips from this run's checkpoint without training (paths quoted).

    It names every flag that differs from the normal defaults and matters to ``-e 0`` beyond what the checkpoint
    records (the model, its framing and windows), asks for the default number of clips after ``-g 0``, takes the
    next seed (the same seed gives the same clips) and writes NAME-more-*.wav beside this run's clips.
    """
    words = ["-e", "0"]
    for flag, dest in [("-d", "datasets_folder_path"), ("-t", "traindata_folder_path"), ("--checkpoint", "checkpoint"),
                       ("-s", "seconds_to_generate"), ("-g", "generated_music_num"),
                       ("--generation-noise", "generation_noise"), ("--choice-temperature", "choice_temperature"),
                       ("--device", "device")]:
        value = getattr(settings, dest)
        if value != getattr(Settings, dest) and (dest, value) != ("generated_music_num", 0):  # -g 0 makes none
            words += [flag, flag_text(value)]
    words += [flag for flag, on in (("--include-seed", settings.include_seed), ("--png", settings.png)) if on]
    words += ["--seed", str((settings.seed + 1) % 2 ** 32), "-o", f"{settings.output_music_name}-more"]
    return f"{program()} {shlex.join(words)}"


def program() -> str:
    """The command as the user started it, for commands they can paste: a script path, or `music-composer`."""
    started = sys.argv[0] if sys.argv else ""
    if Path(started).name in ("music-composer.py", "music_composer.py"):
        return f"{shlex.quote(sys.executable)} {shlex.quote(started)}"
    return shlex.quote(started) if Path(started).name == "music-composer" else "music-composer"
