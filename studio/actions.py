"""What the page can do, callable from Python without HTTP: list the workspace, take an upload, and queue the MIDI and
audio actions as jobs. Each action checks its parameters at once (a bad one is a UserError before anything runs),
names the `music-composer` command that does the same from a terminal, and writes what it makes under
``studio/outputs/`` with the project's own writers (symbolic.render, wavegen.pipeline): MIDI with its piano roll and
WAV, audio clips with their spectrograms and the evaluation. Models are loaded once per checkpoint and kept."""
from __future__ import annotations

import hashlib
import os
import random
import re
import shlex
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import SourceError, UserError
from studio.jobs import Job, JobRunner
from studio.workspace import STUDIO_DIR, Workspace
from symbolic.data.midi_io import MIDI_SUFFIXES, find_midi_files, load_score
from symbolic.defaults import ATTRIBUTE_NAMES, DEFAULT_TEMPERATURE
from symbolic.examples import EXAMPLE_DATA

if TYPE_CHECKING:
    import pretty_midi

    from symbolic.trained_model import TrainedModel
    from wavegen.pipeline import Trained

EXAMPLE_PREFIX = "example:"  # an input named from the bundled melodies, e.g. example:bach/bwv10_7.mid
MAX_UPLOAD_MB = 5.0
CACHED_MODELS = 4  # models kept loaded (the least recently used is dropped)
MAX_SEED = 2**31 - 1
Work = Callable[[Job], dict[str, Any]]


def command(*words: Any) -> str:
    """A `music-composer` command line, quoted for a POSIX shell."""
    return shlex.join(["music-composer", *map(str, words)])


class Params:
    """An action's parameters from the page, each checked and converted with a one-line error naming it."""

    def __init__(self, values: dict[str, Any]):
        if not isinstance(values, dict):
            raise UserError("the parameters must be a JSON object")
        self.values = values

    def text(self, name: str, default: str | None = None) -> str:
        value = self.values.get(name, default)
        if not isinstance(value, str) or not value:
            raise UserError(f"{name}: missing (give a name or path)")
        return value

    def number(self, name: str, kind: type, low: float, high: float, default: float | None = None) -> Any:
        value = self.values.get(name, default)
        if value in (None, ""):
            raise UserError(f"{name}: missing (a number from {low:g} to {high:g})")
        try:
            number = float(value)
            if kind is int and number != int(number):
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            raise UserError(f"{name}: {value!r} is not {'a whole number' if kind is int else 'a number'}") from None
        if not low <= number <= high:
            raise UserError(f"{name}: {value} is out of range (from {low:g} to {high:g})")
        return kind(number)

    def chords(self) -> list[str]:
        """``--chords`` and the progression when one is given ("C G Am F"), else nothing."""
        chords = " ".join(str(self.values.get("chords") or "").split())
        return ["--chords", chords] if chords else []

    def optional_number(self, name: str, kind: type, low: float, high: float) -> Any:
        """A number that may be left empty (None: the command's own default)."""
        return None if self.values.get(name) in (None, "") else self.number(name, kind, low, high)

    def seed(self) -> int:
        """The seed asked for, else a new one (shown in the command, so the output can be made again)."""
        if self.values.get("seed") in (None, ""):
            return random.randrange(MAX_SEED)
        return self.number("seed", int, 0, MAX_SEED)


class Studio:
    """The workspace, the job queue and the loaded models behind the page."""

    def __init__(self, workspace: str | os.PathLike, device: str = "auto", max_upload_mb: float = MAX_UPLOAD_MB):
        self.workspace = Workspace(workspace)
        self.device = device
        self.max_upload_mb = max_upload_mb
        self.max_upload_bytes = int(max_upload_mb * 2**20)
        self.jobs = JobRunner()
        self._loaded: OrderedDict[tuple, Any] = OrderedDict()
        self._outputs_lock = threading.Lock()
        self.actions: dict[str, Callable[[Params], tuple[str, Work]]] = {
            "sample": self.sample, "interpolate": self.interpolate, "variations": self.variations,
            "attribute": self.attribute, "personalise": self.personalise, "clips": self.clips}

    # ------------------------------------------------------------------------------------------------ reading
    def state(self) -> dict[str, Any]:
        """What the page shows besides results: the models, the bundled examples and the uploads."""
        uploads = self.workspace.root / STUDIO_DIR / "uploads"
        return {"workspace": str(self.workspace.root),
                "models": [asdict(entry) for entry in self.workspace.models()],
                "examples": [EXAMPLE_PREFIX + p.relative_to(EXAMPLE_DATA).as_posix()
                             for p in find_midi_files(EXAMPLE_DATA)],
                "uploads": [self.workspace.relative(p) for p in find_midi_files(uploads)] if uploads.is_dir() else [],
                "attributes": list(ATTRIBUTE_NAMES), "default_temperature": DEFAULT_TEMPERATURE}

    def file(self, relative: str) -> Path:
        """A file the page may fetch: MIDI, WAV, PNG or JSON inside the workspace."""
        path = self.workspace.resolve(relative)
        if not path.is_file() or path.suffix.lower() not in (*MIDI_SUFFIXES, ".wav", ".png", ".json"):
            raise UserError(f"{relative}: not a MIDI, WAV, PNG or JSON file of the workspace")
        return path

    def input_path(self, ref: str) -> Path:
        """A MIDI input: a bundled melody (example:…) or a file in the workspace (an upload)."""
        if ref.startswith(EXAMPLE_PREFIX):
            path = (EXAMPLE_DATA / ref.removeprefix(EXAMPLE_PREFIX)).resolve()
            if not path.is_relative_to(EXAMPLE_DATA.resolve()) or not path.is_file():
                raise UserError(f"{ref}: no such bundled melody")
            return path
        path = self.workspace.resolve(ref)
        if path.suffix.lower() not in MIDI_SUFFIXES or not path.is_file():
            raise UserError(f"{ref}: not a MIDI file ({', '.join(MIDI_SUFFIXES)})")
        return path

    def shown(self, path: Path) -> str:
        """A path as the shown commands name it: relative to the workspace (they run there), else absolute."""
        return self.workspace.relative(path) if path.is_relative_to(self.workspace.root) else str(path)

    # ------------------------------------------------------------------------------------------------ uploads
    def upload(self, name: str, data: bytes) -> dict[str, str]:
        """Keep an uploaded MIDI file in studio/uploads/ once it parses as MIDI; a one-line error otherwise."""
        base = re.sub(r"[^A-Za-z0-9._ -]", "_", Path(name.replace("\\", "/")).name).strip(" .") or "upload.mid"
        if Path(base).suffix.lower() not in MIDI_SUFFIXES:
            raise UserError(f"{base}: not a MIDI file name (upload {', '.join(MIDI_SUFFIXES)})")
        if len(data) > self.max_upload_bytes:
            raise UserError(f"{base}: over the studio's upload limit of {self.max_upload_mb:g} MB (--max-upload-mb)")
        path = self.workspace.studio_dir("uploads") / f"{hashlib.blake2b(data, digest_size=4).hexdigest()}-{base}"
        tmp = path.with_name(f".{path.name}.part")
        tmp.write_bytes(data)
        try:
            load_score(tmp)  # the parser every MIDI command reads files with
        except SourceError as e:
            tmp.unlink()
            raise UserError(f"{base}: {e}") from e
        os.replace(tmp, path)
        return {"ref": self.workspace.relative(path), "name": base}

    # ------------------------------------------------------------------------------------------------ jobs
    def submit(self, action: str, values: dict[str, Any]) -> Job:
        """Check an action's parameters and queue it; returns the job at once."""
        if action not in self.actions:
            raise UserError(f"unknown action {action!r}; the studio does {', '.join(self.actions)}")
        shown, work = self.actions[action](Params(values))
        return self.jobs.submit(action, shown, work)

    def output_dir(self, action: str) -> Path:
        """A new folder studio/outputs/N-ACTION for one job's files."""
        outputs = self.workspace.studio_dir("outputs")
        with self._outputs_lock:
            n = 1 + max((int(p.name.split("-")[0]) for p in outputs.iterdir() if p.name.split("-")[0].isdigit()),
                        default=0)
            folder = outputs / f"{n}-{action}"
            folder.mkdir()
        return folder

    def _cached(self, key: tuple, load: Callable[[], Any]) -> Any:
        """The model under ``key`` (its path and the checkpoint's mtime), loaded at most once while cached."""
        if key in self._loaded:
            self._loaded.move_to_end(key)
            return self._loaded[key]
        value = self._loaded[key] = load()
        while len(self._loaded) > CACHED_MODELS:
            self._loaded.popitem(last=False)
        return value

    # ------------------------------------------------------------------------------------------------ MIDI
    def _midi_run(self, params: Params, capability: str, name: str) -> Path:
        """The run dir named by ``model``; a one-line error when its model cannot do ``capability``."""
        run_dir = self.workspace.resolve(params.text("model"))
        entry = next((e for e in self.workspace.models() if self.workspace.resolve(e.id) == run_dir), None)
        if entry is None or entry.kind != "midi":
            problem = {None: "not a MIDI run dir (no checkpoint.pt with a model config)",
                       "audio": f"an audio model: it makes audio clips, not {name}"}.get(entry and entry.kind)
            raise UserError(f"{params.values['model']}: {problem or entry.problem}")
        if capability not in entry.capabilities:
            raise UserError(f"{name} needs a model that can {capability}; {entry.config} can only "
                            f"{', '.join(entry.capabilities)}")
        return run_dir

    def trained_model(self, run_dir: Path) -> TrainedModel:
        """The run's model, loaded once per checkpoint version."""
        from symbolic.trained_model import TrainedModel
        versions = tuple(path.stat().st_mtime_ns for path in (run_dir / "checkpoint.pt", run_dir / "personalised.pt")
                         if path.is_file())
        return self._cached(("midi", run_dir, versions), lambda: TrainedModel(run_dir, self.device))

    def _loaded_model(self, job: Job, run_dir: Path, seed: int) -> TrainedModel:
        import torch
        job.step(0, 0, "loading the model (once per run)")
        model = self.trained_model(run_dir)
        torch.manual_seed(seed)
        return model

    def _write_midis(self, job: Job, model: TrainedModel, out: Path, mode: str, midis: list[pretty_midi.PrettyMIDI],
                     beside: tuple[pretty_midi.PrettyMIDI, str] | None = None) -> list[dict[str, str]]:
        """Write each MIDI with its piano roll and WAV as `midi` commands do (symbolic.render.OutputFiles)."""
        from symbolic.render import OutputFiles
        outputs = OutputFiles(out, f"{model.config_name}_{mode}", len(midis), png=True, wav=True, beside=beside)
        items = []
        for i, midi in enumerate(midis):
            job.step(i, len(midis), f"writing {i + 1} of {len(midis)}: MIDI, piano roll, audio")
            midi_path, png, wav = outputs.write(midi)
            items.append({"title": midi_path.stem, "midi": self.workspace.relative(midi_path),
                          "png": self.workspace.relative(png), "wav": self.workspace.relative(wav)})
        job.step(len(midis), len(midis), "written")
        return items

    def _generation(self, params: Params, capability: str, name: str) -> tuple[Path, float, int, Path, list[str]]:
        """What every MIDI action takes: run dir, temperature, seed, output folder and their flags."""
        run_dir = self._midi_run(params, capability, name)
        temperature = params.number("temperature", float, 0.0, 5.0, DEFAULT_TEMPERATURE)
        seed = params.seed()
        out = self.output_dir(name)
        flags = ["--run-dir", self.shown(run_dir), "--temperature", f"{temperature:g}", "--seed", seed,
                 "--output-dir", self.shown(out), "--png", "--wav"]
        return run_dir, temperature, seed, out, flags

    def sample(self, params: Params) -> tuple[str, Work]:
        """n sequences from the prior (or a language model run freely)."""
        count = params.number("count", int, 1, 32, 4)
        chords = params.chords()
        run_dir, temperature, seed, out, flags = self._generation(params, "sample", "sample")

        def work(job: Job) -> dict[str, Any]:
            model = self._loaded_model(job, run_dir, seed)
            job.step(0, count, f"sampling {count}")
            midis = model.sample(count, temperature, chords=chords[1]) if chords else model.sample(count, temperature)
            return {"items": self._write_midis(job, model, out, "sample", midis)}
        return command("midi", "sample", *flags, "-n", count, *chords), work

    def interpolate(self, params: Params) -> tuple[str, Work]:
        """Points along the slerp between two MIDI files' latent codes, endpoints included, in order."""
        count = params.number("count", int, 2, 16, 5)
        a, b = self.input_path(params.text("a")), self.input_path(params.text("b"))
        chords = params.chords()
        run_dir, temperature, seed, out, flags = self._generation(params, "interpolate", "interpolate")

        def work(job: Job) -> dict[str, Any]:
            model = self._loaded_model(job, run_dir, seed)
            job.step(0, count, "encoding both songs and decoding the path")
            midis = model.interpolate(a, b, count, temperature, *chords[1:])
            return {"items": self._write_midis(job, model, out, "interpolate", midis)}
        return command("midi", "interpolate", *flags, "--input-midi-1", self.shown(a), "--input-midi-2",
                       self.shown(b), "-n", count, *chords), work

    def variations(self, params: Params) -> tuple[str, Work]:
        """Variations of a whole song, each drawn above the song as the model reads it."""
        from symbolic.render import counted
        count = params.number("count", int, 1, 8, 3)
        song_path = self.input_path(params.text("song"))
        run_dir, temperature, seed, out, flags = self._generation(params, "variations", "variations")

        def work(job: Job) -> dict[str, Any]:
            from symbolic.studies.variations import Distance, make_variations
            model = self._loaded_model(job, run_dir, seed)
            job.step(0, count, "encoding the song window by window and decoding variations")
            made = make_variations(model, song_path, count, temperature)
            song = self._write_midis(job, model, out, "variations-input", [made.song])
            items = self._write_midis(job, model, out, "variations", made.variations,
                                      beside=(made.song, f"{song_path.name} as the model reads it"))
            mean = Distance.mean(made.prior_distances)
            lines = [f"{song_path.name}: {counted(made.n_windows, f'{model.description} window')}"]
            lines += [f"variation {k}: onset F1 {d.onset_f1:.3f}, pitch-class distance {d.pitch_class_distance:.3f}"
                      for k, d in enumerate(made.distances, 1)]
            lines.append(f"prior samples (the reference): onset F1 {mean.onset_f1:.3f}, pitch-class distance "
                         f"{mean.pitch_class_distance:.3f}")
            return {"items": song + items, "lines": lines}
        return command("midi", "variations", *flags, "--input-midi", self.shown(song_path), "-n", count), work

    def attribute(self, params: Params) -> tuple[str, Work]:
        """A song moved along a MusicVAE attribute vector computed from a folder of examples (cached in the run)."""
        name = params.text("attribute")
        if name not in ATTRIBUTE_NAMES:
            raise UserError(f"attribute: {name!r} is not one of {', '.join(ATTRIBUTE_NAMES)}")
        amount = params.number("amount", float, -5.0, 5.0, 1.0)
        song_path = self.input_path(params.text("song"))
        examples = self.examples_folder(params.values.get("examples"))
        run_dir, temperature, seed, out, flags = self._generation(params, "attribute", "attribute")

        def work(job: Job) -> dict[str, Any]:
            from symbolic.studies.attributes import apply_attribute, attribute_vectors
            model = self._loaded_model(job, run_dir, seed)
            job.step(0, 1, "attribute vectors from the examples (cached in the run dir after the first time)")
            vectors = attribute_vectors(model, examples, progress=False)
            edit = apply_attribute(model, vectors, name, amount, song_path, temperature, source=str(examples))
            items = self._write_midis(job, model, out, f"attribute_{name}{amount:+g}", [edit.midi])
            return {"items": items, "lines": [f"{name}: {edit.before:.3f} in {song_path.name}, {edit.after:.3f} after "
                                              f"adding {amount:g} x its vector (from {vectors.n_windows} windows)"]}
        return command("midi", "attribute", *flags, "--examples-path", self.shown(examples), "--attribute", name,
                       "--amount", f"{amount:g}", "--input-midi", self.shown(song_path)), work

    def personalise(self, params: Params) -> tuple[str, Work]:
        """A personalised run dir (MidiMe) from the chosen songs, under personalised/NAME; the page lists it as a
        model to sample from."""
        run_dir = self._midi_run(params, "encode", "personalise")
        refs = params.values.get("songs")
        if not isinstance(refs, list) or not refs:
            raise UserError("songs: choose one or more songs to personalise on")
        songs = [self.input_path(str(ref)) for ref in refs]
        name = params.text("name", "mine")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name):
            raise UserError(f"name: {name!r} must be letters, digits, '.', '_' or '-' (a folder name)")
        out = self.workspace.resolve(f"personalised/{name}", must_exist=False)
        if (out / "checkpoint.pt").exists():
            raise UserError(f"personalised/{name}: holds a trained model; choose another name")
        steps = params.number("steps", int, 1, 5000, 300)
        seed = params.seed()

        def work(job: Job) -> dict[str, Any]:
            from symbolic.personalise import MidiMeConfig
            from symbolic.studies.personalised import personalise, run_dir_summary
            job.step(0, 1, f"encoding {len(songs)} song(s) and training the small model ({steps} steps)")
            record = personalise(run_dir, songs, out, MidiMeConfig(steps=steps), seed, self.device, progress=False)
            return {"items": [], "lines": [run_dir_summary(record)], "model": self.workspace.relative(out)}
        return command("midi", "personalise", "--run-dir", self.shown(run_dir), "--input-midi",
                       *map(self.shown, songs), "--output-dir", self.shown(out), "--steps", steps, "--seed",
                       seed), work

    def examples_folder(self, relative: str | None) -> Path:
        """A folder of MIDI examples in the workspace; the bundled melodies when none is named."""
        if not relative:
            return EXAMPLE_DATA
        folder = self.workspace.resolve(relative)
        if not folder.is_dir():
            raise UserError(f"{relative}: not a folder")
        return folder

    # ------------------------------------------------------------------------------------------------ audio
    def clips(self, params: Params) -> tuple[str, Work]:
        """Audio clips from a wavegen checkpoint, each with its spectrogram beside its seed's, then scored against
        the held-out end of the music it learnt from."""
        from wavegen.preflight import generation_problem
        from wavegen.settings import CHOICE_TEMPERATURE, Settings, with_checkpoint_settings
        from wavegen.train import checkpoint_settings, load_saved
        checkpoint = self.workspace.resolve(params.text("model"))
        count = params.number("count", int, 1, 8, 2)
        seconds = params.number("seconds", float, 0.25, 60.0, 5.0)
        temperature = params.number("choice_temperature", float, 0.05, 5.0, CHOICE_TEMPERATURE)
        noise = params.optional_number("generation_noise", float, 0.0, 10.0)  # None: the model's default
        seed = params.seed()
        music = self.workspace.resolve(params.text("music", "input_music_dataset"))
        cache = self.workspace.resolve(params.text("cache", "train_data"), must_exist=False)
        saved = load_saved(checkpoint) if checkpoint.is_file() else None
        if saved is None:
            raise UserError(f"{params.values['model']}: not an audio checkpoint")
        settings = with_checkpoint_settings(
            Settings(datasets_folder_path=music, traindata_folder_path=cache, checkpoint=checkpoint, epochs=0,
                     generated_music_num=count, seconds_to_generate=seconds, device=self.device, seed=seed,
                     no_progress=True, workers=1), checkpoint_settings(saved))
        del saved
        problem = generation_problem(count, seconds, settings.frame_spec(), settings.hidden_layer_neurons)
        if problem:
            raise UserError(problem)
        out = self.output_dir("clips")
        name = out / "clip"

        def work(job: Job) -> dict[str, Any]:
            from wavegen.evaluate import summary
            from wavegen.pipeline import generate, score_clips
            job.step(0, 3, "loading the model and its seed windows (once per checkpoint)")
            trained = self.trained_audio(settings)
            job.step(1, 3, f"generating {count} clip(s) of {seconds:g} s")
            clips = generate(trained, count, seconds, str(name), seed, noise, temperature, png=True,
                             progress=False)
            job.step(2, 3, "scoring the clips against the held-out music")
            items = [{"title": path.stem, "wav": self.workspace.relative(path),
                      "png": self.workspace.relative(path.with_suffix(".png"))} for path in clips.paths]
            try:
                lines = summary(score_clips(clips.paths, replace(trained.settings, output_music_name=str(name),
                                                                 seed=seed))).splitlines()
            except UserError as e:  # music too short to hold anything out: the clips stand, with a note
                lines = [f"no evaluation: {e}"]
            job.step(3, 3, "done")
            return {"items": items, "lines": lines}
        chosen = ["--choice-temperature", f"{temperature:g}"] if temperature != CHOICE_TEMPERATURE else []
        if noise is not None:
            chosen += ["--generation-noise", f"{noise:g}"]
        return command("-e", 0, "-d", self.shown(music), "-t", self.shown(cache), "--checkpoint",
                       self.shown(checkpoint), "-g", count, "-s", f"{seconds:g}", *chosen, "--png", "--seed", seed,
                       "-o", self.shown(name)), work

    def trained_audio(self, settings: Any) -> Trained:
        """The audio model and its training windows (the seeds), loaded once per checkpoint version and music."""
        from wavegen.pipeline import train
        key = ("audio", settings.checkpoint, settings.checkpoint.stat().st_mtime_ns, settings.datasets_folder_path)
        return self._cached(key, lambda: train(settings))

