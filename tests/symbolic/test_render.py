"""Piano-roll PNGs, WAV renderings (FluidSynth when available, else pretty_midi's synthesizer) and output naming."""
import matplotlib.image
import numpy as np
import pretty_midi
import pytest
import soundfile

from engine.errors import UserError
from symbolic import render


def melody(pitches=(60, 64, 67, 72), seconds_per_note=0.5) -> pretty_midi.PrettyMIDI:
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    piano = pretty_midi.Instrument(program=0)
    for i, pitch in enumerate(pitches):
        piano.notes.append(pretty_midi.Note(80, pitch, i * seconds_per_note, (i + 1) * seconds_per_note))
    pm.instruments.append(piano)
    return pm


def test_piano_roll_draws_the_notes(tmp_path):
    render.write_piano_roll(melody(), tmp_path / "roll.png", title="four notes")
    image = matplotlib.image.imread(tmp_path / "roll.png")
    assert image.shape[:2] == (400, 1000)
    assert len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 10  # drawn, not a blank canvas
    render.write_piano_roll(pretty_midi.PrettyMIDI(), tmp_path / "empty.png")
    assert matplotlib.image.imread(tmp_path / "empty.png").shape[:2] == (400, 1000)


def test_wav_without_fluidsynth_uses_pretty_midis_synthesizer(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "has_fluidsynth", lambda: False)
    render.write_wav(melody(), tmp_path / "a.wav", sample_rate=8000)
    audio, rate = soundfile.read(tmp_path / "a.wav")
    assert rate == 8000 and 2.0 <= len(audio) / rate <= 3.0  # the 2 s of notes and at most pretty_midi's 1 s tail
    assert all(np.abs(audio[int(t * rate):int((t + 0.5) * rate)]).max() > 0.1 for t in (0.0, 0.5, 1.0, 1.5))
    assert np.abs(audio).max() == pytest.approx(render.PEAK, abs=1e-3)
    render.write_wav(pretty_midi.PrettyMIDI(), tmp_path / "silent.wav", sample_rate=8000)
    audio, _ = soundfile.read(tmp_path / "silent.wav")
    assert len(audio) == 8000 and not audio.any()


def test_fluidsynth_gets_the_soundfont_named_by_the_environment(tmp_path, monkeypatch):
    calls = []

    def fake_fluidsynth(self, fs=None, synthesizer=None, **kwargs):
        calls.append((fs, synthesizer))
        return np.full(fs, 0.5)

    soundfont = tmp_path / "mine.sf2"
    soundfont.write_bytes(b"RIFF")
    monkeypatch.setattr(render, "has_fluidsynth", lambda: True)
    monkeypatch.setattr(pretty_midi.PrettyMIDI, "fluidsynth", fake_fluidsynth)
    monkeypatch.setenv(render.SOUNDFONT_ENV, str(soundfont))
    audio = render.synthesize(melody(), sample_rate=1000)
    assert calls == [(1000, str(soundfont))] and np.allclose(audio, render.PEAK)

    monkeypatch.setenv(render.SOUNDFONT_ENV, str(tmp_path / "missing.sf2"))
    with pytest.raises(UserError, match="missing.sf2: no such SoundFont"):
        render.synthesize(melody())


def test_save_midis_names_files_like_magenta_and_never_overwrites(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "has_fluidsynth", lambda: False)
    first = render.save_midis([melody(), melody((50, 52))], tmp_path, "model_sample", png=True, wav=True)
    second = render.save_midis([melody(), melody((50, 52))], tmp_path, "model_sample")
    assert [p.suffix for p in first] == [".mid", ".mid", ".png", ".wav", ".png", ".wav"]
    assert first[0].name.startswith("model_sample_") and first[1].name.endswith("-002-of-002.mid")
    assert len(set(first + second)) == 8 and all(p.exists() for p in first + second)
    assert [n.pitch for n in pretty_midi.PrettyMIDI(str(first[1])).instruments[0].notes] == [50, 52]
    with pytest.raises(UserError, match="not a folder"):
        render.save_midis([melody()], first[0], "x")
