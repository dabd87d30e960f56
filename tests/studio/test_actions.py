"""The studio's handlers from Python, without HTTP: the workspace listing, the actions and the commands they show,
uploads, paths kept inside the workspace, one model load per checkpoint, jobs' progress, cancel and errors."""
import os
import shlex
import threading

import pretty_midi
import pytest

import music_composer
from engine.errors import UserError
from studio.jobs import JobRunner


def done(studio, action, **params):
    """Submit an action and wait for it; the job, finished."""
    job = studio.jobs.wait(studio.submit(action, params).id, timeout=300)
    assert job.status == "done", job.error
    return job


def files_of(studio, job, kinds=("midi", "png", "wav")):
    return [studio.workspace.root / item[k] for item in job.result["items"] for k in kinds]


def test_the_listing_names_every_model_with_its_family_steps_and_held_out_metrics(studio):
    models = {m["id"]: m for m in studio.state()["models"]}
    assert {"runs/mel", "runs/chords", "checkpoints/wavegen.pt", "runs/training", "runs/notes.pt"} <= set(models)
    assert (models["runs/mel"]["chords"], models["runs/chords"]["chords"]) == (False, True)
    mel = models["runs/mel"]
    assert (mel["kind"], mel["family"], mel["config"], mel["step"]) == ("midi", "music_vae", "cat-mel_2bar_small", 4)
    assert {"sample", "interpolate", "variations", "attribute"} <= set(mel["capabilities"])
    assert mel["metrics"]["step"] == 4 and "val/accuracy" in mel["metrics"]
    audio = models["checkpoints/wavegen.pt"]
    assert (audio["kind"], audio["step"], audio["capabilities"]) == ("audio", 1, ["clips"])
    assert audio["config"] == "1 x 16 LSTM, stft frames, keep gate"  # the default gate, named
    assert "val/mse" in audio["metrics"]  # from checkpoints/wavegen-logs/metrics.jsonl
    assert models["runs/training"]["problem"] == "no checkpoint.pt yet (training?)"
    assert models["runs/notes.pt"]["kind"] == "unusable" and "\n" not in models["runs/notes.pt"]["problem"]
    assert studio.workspace.metrics("runs/training")["rows"] == [{"step": 1, "train/loss": 2.5}]  # torn line skipped


def notes_of(path) -> list[tuple[int, float, float]]:
    """The (pitch, start, end) of every note of a MIDI file."""
    return [(n.pitch, round(n.start, 4), round(n.end, 4)) for i in pretty_midi.PrettyMIDI(str(path)).instruments
            for n in i.notes]


def test_sample_writes_midi_piano_rolls_and_wavs_and_its_command_does_the_same(studio, monkeypatch):
    job = done(studio, "sample", model="runs/mel", count=2, temperature=0.7, seed=5)
    paths = files_of(studio, job)
    assert len(paths) == 6 and all(p.is_file() and p.stat().st_size > 0 for p in paths)
    assert all(p.is_relative_to(studio.workspace.root / "studio" / "outputs") for p in paths)
    words = shlex.split(job.command)
    assert words[:3] == ["music-composer", "midi", "sample"] and "--png" in words and "--wav" in words
    assert words[words.index("--seed") + 1] == "5" and words[words.index("-n") + 1] == "2"
    out = studio.workspace.root / words[words.index("--output-dir") + 1]
    before = set(out.glob("*.mid"))
    monkeypatch.chdir(studio.workspace.root)  # the page says the commands run from the workspace
    assert music_composer.main(words[1:]) == 0
    again = sorted(set(out.glob("*.mid")) - before)
    assert len(again) == 2 and list(map(notes_of, again)) == list(map(notes_of, sorted(before)))  # the same notes


def test_a_model_is_loaded_once_per_checkpoint_version(studio, workspace):
    run = workspace / "runs" / "mel"
    first = studio.trained_model(run)
    assert studio.trained_model(run) is first
    stat = (run / "checkpoint.pt").stat()
    os.utime(run / "checkpoint.pt", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # trained further
    assert studio.trained_model(run) is not first


def test_interpolate_between_two_bundled_melodies_gives_the_points_in_order(studio):
    a, b = studio.state()["examples"][:2]
    job = done(studio, "interpolate", model="runs/mel", a=a, b=b, count=3, seed=1)
    titles = [item["title"] for item in job.result["items"]]
    assert [t.rsplit("_", 1)[-1].split("-", 1)[1] for t in titles] == ["001-of-003", "002-of-003", "003-of-003"]
    assert "--input-midi-1" in job.command and a.removeprefix("example:") in job.command


def test_variations_of_an_upload_and_an_attribute_move(studio, workspace):
    song = studio.upload("my song.mid", (workspace / "melodies" / "song03.mid").read_bytes())["ref"]
    job = done(studio, "variations", model="runs/mel", song=song, count=2, seed=2)
    assert len(job.result["items"]) == 3 and "as the model reads it" not in job.result["items"][0]["title"]
    assert job.result["lines"][-1].startswith("prior samples (the reference)")
    job = done(studio, "attribute", model="runs/mel", song=song, attribute="note_density", amount=1.0,
               examples="melodies", seed=2)
    assert job.result["lines"][0].startswith("note_density: ") and "--examples-path melodies" in job.command


def test_a_chord_conditioned_model_samples_over_the_progression_given(studio):
    job = done(studio, "sample", model="runs/chords", count=2, chords=" C  G Am F ", seed=4)
    assert len(job.result["items"]) == 2 and job.command.endswith("-n 2 --chords 'C G Am F'")
    job = studio.jobs.wait(studio.submit("sample", {"model": "runs/chords", "count": 1}).id, timeout=300)
    assert job.status == "failed" and "chord-conditioned" in job.error and "\n" not in job.error


def test_personalise_makes_a_run_the_listing_shows_and_sampling_reads(studio):
    job = done(studio, "personalise", model="runs/mel", songs=["melodies/song01.mid", "melodies/song04.mid"],
               name="mine", steps=5, seed=0)
    assert job.result["model"] == "personalised/mine" and job.result["lines"][0].startswith("personalised ")
    assert job.command == ("music-composer midi personalise --run-dir runs/mel --input-midi melodies/song01.mid "
                           "melodies/song04.mid --output-dir personalised/mine --steps 5 --seed 0")
    listed = [m for m in studio.state()["models"] if m["id"] == "personalised/mine"]
    assert len(listed) == 1  # its personalised.pt is not listed again as a checkpoint of its own
    mine = listed[0]
    assert mine["personalised"] and mine["config"] == "cat-mel_2bar_small" and "2 song(s)" in mine["description"]
    assert len(done(studio, "sample", model="personalised/mine", count=2, seed=1).result["items"]) == 2
    with pytest.raises(UserError, match="name: '../up' must be letters"):
        studio.submit("personalise", {"model": "runs/mel", "songs": ["melodies/song01.mid"], "name": "../up"})


def test_audio_clips_play_with_their_spectrograms_and_are_scored(studio):
    job = done(studio, "clips", model="checkpoints/wavegen.pt", count=1, seconds=0.5, seed=3)
    assert all(p.is_file() for p in files_of(studio, job, ("wav", "png")))
    assert job.result["lines"] and ("evaluation against" in job.result["lines"][0]
                                     or job.result["lines"][0].startswith("no evaluation"))
    assert job.command.startswith("music-composer -e 0 -d input_music_dataset -t train_data --checkpoint "
                                  "checkpoints/wavegen.pt -g 1 -s 0.5 --png --seed 3 -o studio/outputs/")
    varied = done(studio, "clips", model="checkpoints/wavegen.pt", count=1, seconds=0.5, seed=3, choice_temperature=2)
    assert " -s 0.5 --choice-temperature 2 --png --seed 3 " in varied.command
    noisier = done(studio, "clips", model="checkpoints/wavegen.pt", count=1, seconds=0.5, seed=3, generation_noise=3)
    assert " -s 0.5 --generation-noise 3 --png --seed 3 " in noisier.command
    first, noisy = (files_of(studio, j, ("wav",))[0].read_bytes() for j in (job, noisier))
    assert first != noisy  # the noise reaches generation


@pytest.mark.parametrize("action, params, message", [
    ("sample", {"model": "runs/mel", "count": 0}, "count: 0 is out of range (from 1 to 32)"),
    ("sample", {"model": "runs/mel", "count": "many"}, "count: 'many' is not a whole number"),
    ("sample", {"model": "runs/mel", "temperature": -1}, "temperature: -1 is out of range"),
    ("clips", {"model": "checkpoints/wavegen.pt", "choice_temperature": 0}, "choice_temperature: 0 is out of range"),
    ("clips", {"model": "checkpoints/wavegen.pt", "generation_noise": -1}, "generation_noise: -1 is out of range"),
    ("sample", {"model": "../outside"}, "../outside: outside the workspace"),
    ("sample", {"model": "/etc"}, "/etc: give a path inside the workspace"),
    ("sample", {"model": "runs/training"}, "runs/training: no checkpoint.pt yet"),
    ("sample", {"model": "checkpoints/wavegen.pt"}, "an audio model: it makes audio clips, not sample"),
    ("clips", {"model": "runs/mel/checkpoint.pt"}, "is a MIDI model's checkpoint"),
    ("interpolate", {"model": "runs/mel", "a": "example:../../trained_model.py", "b": "x"}, "no such bundled melody"),
    ("attribute", {"model": "runs/mel", "song": "melodies/song01.mid", "attribute": "loudness"}, "not one of"),
    ("train", {}, "unknown action 'train'"),
])
def test_bad_parameters_are_refused_in_one_line_before_anything_runs(studio, action, params, message):
    with pytest.raises(UserError, match=None) as e:
        studio.submit(action, params)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_no_path_from_a_request_leaves_the_workspace(studio, workspace, tmp_path):
    (tmp_path / "secret.wav").write_bytes(b"RIFF")
    (workspace / "link").symlink_to(tmp_path)
    try:
        for path in ("../secret.wav", "link/secret.wav", "runs/../../secret.wav", str(tmp_path / "secret.wav")):
            with pytest.raises(UserError, match="outside the workspace|inside the workspace"):
                studio.file(path)
    finally:
        (workspace / "link").unlink()
    with pytest.raises(UserError, match="not a MIDI, WAV, PNG or JSON file"):
        studio.file("runs/mel/checkpoint.pt")  # inside, but not something the page shows


def test_uploads_are_parsed_size_limited_and_kept_in_the_uploads_folder(studio, workspace):
    with pytest.raises(UserError, match=r"^broken\.mid: corrupt: "):
        studio.upload("broken.mid", b"MThd this is not a MIDI file")
    with pytest.raises(UserError, match=r"^notes\.txt: not a MIDI file name"):
        studio.upload("notes.txt", b"")
    with pytest.raises(UserError, match="over the studio's upload limit of 0.01 MB"):
        studio.upload("big.mid", bytes(20_000))
    made = studio.upload("../../evil name.mid", (workspace / "melodies" / "song00.mid").read_bytes())
    assert made["name"] == "evil name.mid" and made["ref"].startswith("studio/uploads/")
    assert studio.input_path(made["ref"]).parent == workspace / "studio" / "uploads"
    assert made["ref"] in studio.state()["uploads"]
    assert not list((workspace / "studio" / "uploads").glob("*broken*"))


def test_a_queued_job_cancelled_never_runs_and_a_running_one_stops_at_its_next_step():
    runner = JobRunner()
    started, release = threading.Event(), threading.Event()
    steps = []

    def long(job):
        started.set()
        release.wait(10)
        for i in range(100):
            job.step(i, 100, f"step {i}")
            steps.append(i)
        return {}

    running = runner.submit("long", "music-composer long", long)
    queued = runner.submit("never", "music-composer never", lambda job: steps.append("ran") or {})
    assert started.wait(10)
    assert runner.cancel(queued.id).status == "cancelled"
    runner.cancel(running.id)
    release.set()
    assert runner.wait(running.id).status == "cancelled" and steps == []
    assert runner.wait(queued.id).status == "cancelled" and "ran" not in steps
    runner.close()


def test_a_failing_job_reports_one_line_and_the_worker_goes_on(capsys):
    runner = JobRunner()
    bad = runner.submit("bad", "", lambda job: (_ for _ in ()).throw(UserError("x.mid: no 2-bar melody\nwindow")))
    bug = runner.submit("bug", "", lambda job: {}["missing"])
    good = runner.submit("good", "", lambda job: {"items": []})
    assert runner.wait(bad.id).error == "x.mid: no 2-bar melody window"
    assert runner.wait(bug.id).error == "internal error (KeyError: 'missing'); see the studio's console"
    assert runner.wait(good.id).status == "done"
    assert "Traceback" in capsys.readouterr().err  # the console gets the traceback, the page one line
    runner.close()
