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


def test_output_files_are_named_like_magenta_and_never_overwrite(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "has_fluidsynth", lambda: False)
    first = render.OutputFiles(tmp_path, "model_sample", 2, png=True, wav=True)
    written = [first.write(melody()), first.write(melody((50, 52)))]
    assert [[p.suffix for p in paths] for paths in written] == [[".mid", ".png", ".wav"]] * 2
    assert written[0][0].name.startswith("model_sample_") and written[1][0].name.endswith("-002-of-002.mid")
    assert first.summary() == f"2 MIDI files, 2 piano rolls (.png), 2 WAV files written to {tmp_path}"
    second = render.OutputFiles(tmp_path, "model_sample", 2)
    again = [second.write(melody()), second.write(melody())]
    paths = [p for group in written + again for p in group]
    assert len(set(paths)) == 8 and all(p.exists() for p in paths)
    assert [n.pitch for n in pretty_midi.PrettyMIDI(str(written[1][0])).instruments[0].notes] == [50, 52]
    assert second.summary() == f"2 MIDI files written to {tmp_path}"
    with pytest.raises(UserError, match="not a folder"):
        render.OutputFiles(written[0][0], "x", 1)


def test_output_numbers_are_as_wide_as_the_count(tmp_path):
    outputs = render.OutputFiles(tmp_path, "many", 12345)
    assert outputs.write(melody())[0].name.endswith("-00001-of-12345.mid")


def test_summaries_count_in_singular_and_plural_and_add_earlier_outputs(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "has_fluidsynth", lambda: False)
    song = render.OutputFiles(tmp_path, "model_variations-input", 1, png=True, wav=True)
    song.write(melody())
    assert song.summary() == f"1 MIDI file, 1 piano roll (.png), 1 WAV file written to {tmp_path}"
    variations = render.OutputFiles(tmp_path, "model_variations", 2, png=True)
    for _ in range(2):
        variations.write(melody())
    assert variations.summary(song) == f"3 MIDI files, 3 piano rolls (.png), 1 WAV file written to {tmp_path}"
    assert render.counted(0, "window") == "0 windows" and render.counted(1, "2-bar melody window") == \
        "1 2-bar melody window"
