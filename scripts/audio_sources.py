"""The music of the audio benchmarks: several kinds, each 10 minutes as four 150 s tracks of 44.1 kHz stereo WAV.

Which sources are held out of all tuning was decided before any of them was trained on or listened to, and is fixed
here: no default of wavegen may be chosen by looking at a held-out source's figures, which are reported apart.

- chorales (tuning): Bach chorales from music21's corpus through FluidR3_GM: dense four-voice polyphony, the
  benchmark wavegen's defaults were chosen on.
- grooves (tuning): drum-kit grooves under a bass line and chords, written here from a seed and rendered through
  TimGM6mb: percussion-heavy, pop-like, a second SoundFont.
- solo (held out): Essen folk songs played by one violin through MuseScore General (Lite): one line, a third
  SoundFont.
- wesnoth (held out): Battle for Wesnoth's recorded orchestral soundtrack (Debian's wesnoth-1.16-music, GPL-2+):
  recorded, not rendered, strings, brass, choir and percussion. The first pieces over 1 MB in name order.

Rendering needs fluidsynth and music21; wesnoth needs the Debian package file (fetched with `apt-get download`).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 44100
TRACK_SECONDS = 150.0
SOURCE_TRACKS = 4  # 10 minutes a source
SOURCES = {"chorales": "tuning", "grooves": "tuning", "solo": "held out", "wesnoth": "held out"}
SOUNDFONTS = {"fluid": Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
              "timgm": Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
              "musescore": Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3")}
PACKAGES = {"musescore": "musescore-general-soundfont-small", "wesnoth": "wesnoth-1.16-music"}
WESNOTH_MUSIC = "usr/share/games/wesnoth/1.16/data/core/music"
VIOLIN = 40  # General MIDI program


# --------------------------------------------------------------------------------------------------- rendering
def soundfont(name: str = "fluid") -> Path:
    """A SoundFont file: Debian's (installed, or unpacked from its package into DATA/.packages), or for "fluid" when
    missing pretty_midi's bundled TimGM6mb."""
    path = SOUNDFONTS[name]
    if path.is_file():
        return path
    if name == "fluid":
        import pretty_midi
        return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    raise SystemExit(f"{path} is missing: install Debian's {PACKAGES.get(name, 'timgm6mb-soundfont')}")


def renderer() -> str:
    """Which synthesizer renders the MIDI: 'fluidsynth' (with the SoundFont) or 'pretty_midi' (additive)."""
    return "fluidsynth" if shutil.which("fluidsynth") else "pretty_midi"


def render_midi(midi: Path, font: Path) -> np.ndarray:
    """A MIDI file as int16 stereo samples [n, 2] at 44.1 kHz: fluidsynth with ``font``, else additive synthesis."""
    if renderer() == "fluidsynth":
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "piece.wav"
            subprocess.run(["fluidsynth", "-ni", "-q", "-F", str(wav), "-r", str(SAMPLE_RATE), "-T", "wav",
                            "-O", "s16", str(font), str(midi)], check=True, capture_output=True)
            return sf.read(str(wav), dtype="int16", always_2d=True)[0]
    import pretty_midi
    audio = pretty_midi.PrettyMIDI(str(midi)).synthesize(fs=SAMPLE_RATE)
    audio = 0.9 * audio / max(np.abs(audio).max(), 1e-9)
    return (np.stack([audio, 0.8 * audio], axis=1) * 32767).astype(np.int16)


def render_score(score, font: Path, program: int | None = None) -> np.ndarray:
    """A music21 score as int16 stereo samples, every part played by General MIDI ``program`` when given."""
    import pretty_midi
    with tempfile.TemporaryDirectory() as tmp:
        midi = Path(tmp) / "piece.mid"
        score.write("midi", fp=str(midi))
        if program is not None:
            pm = pretty_midi.PrettyMIDI(str(midi))
            for instrument in pm.instruments:
                instrument.program, instrument.is_drum = program, False
            pm.write(str(midi))
        return render_midi(midi, font)


def render_piece(path: str, max_samples: int, font: Path, program: int | None = None) -> np.ndarray:
    """One corpus file as int16 stereo samples [n, 2] at 44.1 kHz: its score, or the scores of a collection (an
    .abc file of many folk songs) back to back until ``max_samples``; a song music21 cannot write as MIDI is named
    and left out."""
    from music21 import corpus, stream
    parsed = corpus.parse(path)
    scores = parsed.scores if isinstance(parsed, stream.Opus) else [parsed]
    rendered, samples = [], 0
    for number, score in enumerate(scores):
        try:
            rendered.append(render_score(score, font, program))
        except Exception as e:  # noqa: BLE001 - music21 raises many kinds on odd scores; one song is skippable
            print(f"skipped song {number} of {path}: {e}", file=sys.stderr)
            continue
        samples += len(rendered[-1])
        if samples >= max_samples:
            break
    return np.concatenate(rendered) if rendered else np.empty((0, 2), dtype=np.int16)


def corpus_files(name: str) -> list[Path]:
    """The scores of a composer in music21's corpus, or of a collection (a corpus folder, e.g. essenFolksong)."""
    from music21 import corpus
    found = corpus.getComposer(name) or [p for p in corpus.getPaths() if name in Path(p).parts]
    return [Path(p) for p in found if Path(p).suffix in (".mxl", ".xml", ".krn", ".mid", ".abc")]


def mastered(pieces):
    """Each piece (int16 stereo) scaled to peak at -1 dBFS, as a released recording is: SoundFonts render quietly
    (TimGM6mb's grooves peak at -18 dBFS), and 16-bit noise would then weigh in what the model hears."""
    for audio in pieces:
        peak = max(int(np.abs(audio.astype(np.int32)).max()), 1)
        yield np.clip(np.round(audio * (0.891 * 32767 / peak)), -32768, 32767).astype(np.int16)


def write_tracks(pieces, out_dir: Path, needed: int, track_seconds: float = TRACK_SECONDS) -> list[Path]:
    """Pieces (int16 stereo arrays, from any iterable) played back to back, like the songs of an album, cut into
    ``needed`` tracks of exactly ``track_seconds``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    track_len = round(track_seconds * SAMPLE_RATE)
    tracks: list[Path] = []
    buffer = np.empty((0, 2), dtype=np.int16)
    for audio in pieces:
        buffer = np.concatenate([buffer, audio])
        while len(buffer) >= track_len and len(tracks) < needed:
            tracks.append(out_dir / f"track-{len(tracks) + 1:02d}.wav")
            sf.write(tracks[-1], buffer[:track_len], SAMPLE_RATE, subtype="PCM_16")
            buffer = buffer[track_len:]
        if len(tracks) == needed:
            return tracks
    raise SystemExit(f"only {len(tracks) * track_seconds / 60:.1f} minutes of music for {out_dir}")


def render_tracks(out_dir: Path, minutes: float, track_seconds: float = TRACK_SECONDS, jobs: int = 2,
                  composer: str = "bach", font: str = "fluid", program: int | None = None,
                  master: bool = False) -> list[Path]:
    """Tracks of exactly ``track_seconds`` of a composer's (or corpus collection's) pieces until ``minutes``, each
    piece ``mastered`` when asked (the chorales are not, as when the earlier figures were measured)."""
    scores = corpus_files(composer)
    if not scores:
        raise SystemExit(f"music21's corpus has no scores by {composer!r} (a composer or a corpus folder)")
    main_format = Counter(p.suffix for p in scores).most_common(1)[0][0]  # bach: mxl, as earlier results used
    pieces = [str(p) for p in scores if p.suffix == main_format]
    needed = round(minutes * 60 / track_seconds)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        rendered = pool.map(partial(render_piece, max_samples=needed * round(track_seconds * SAMPLE_RATE),
                                    font=soundfont(font), program=program), pieces)
        tracks = write_tracks(mastered(rendered) if master else rendered, out_dir, needed, track_seconds)
        pool.shutdown(cancel_futures=True)
    return tracks


# ------------------------------------------------------------------------------------------------------ grooves
KICK, SNARE, CLOSED_HAT, OPEN_HAT, CRASH, LOW_TOM, HIGH_TOM = 36, 38, 42, 46, 49, 45, 50
PROGRESSIONS = ([0, 5, 3, 4], [0, 3, 4, 4], [5, 3, 0, 4], [0, 4, 5, 3], [1, 4, 0, 0])  # scale degrees
MAJOR = [0, 2, 4, 5, 7, 9, 11]
# (bass program, chord program): fingered bass / electric piano, picked bass / clean guitar, synth bass / pad
BANDS = ((33, 4), (34, 27), (38, 89), (33, 0))


def groove_song(rng: np.random.Generator, seconds: float):
    """One pretty_midi song of about ``seconds``: a drum kit playing a 16th-note groove (kick, snare, hats, a fill
    and a crash every 4 bars), a bass line on the chord roots and chords on the off-beats."""
    import pretty_midi
    tempo = float(rng.integers(84, 132))
    beat = 60.0 / tempo
    key = int(rng.integers(0, 12))
    progression = PROGRESSIONS[rng.integers(len(PROGRESSIONS))]
    bass_program, chord_program = BANDS[rng.integers(len(BANDS))]
    kick = np.zeros(16, bool)
    kick[[0, 8]] = True
    kick[rng.choice([3, 6, 10, 11, 14], size=rng.integers(1, 3), replace=False)] = True
    hats = rng.choice([2, 4])  # hats on every 8th or 16th
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    bass, chords = pretty_midi.Instrument(program=bass_program), pretty_midi.Instrument(program=chord_program)
    bars = max(4, int(seconds / (4 * beat)))
    for bar in range(bars):
        start, degree = bar * 4 * beat, progression[bar % len(progression)]
        root = 36 + key + MAJOR[degree]
        third, fifth = MAJOR[(degree + 2) % 7] + 12 * ((degree + 2) // 7), MAJOR[(degree + 4) % 7] + 12 * ((degree + 4) // 7)
        fill = bar % 4 == 3
        for step in range(16):
            t, v = start + step * beat / 4, int(rng.integers(70, 110))
            note = lambda pitch, velocity=v, length=beat / 4: drums.notes.append(  # noqa: E731
                pretty_midi.Note(velocity, pitch, t, t + length))
            if fill and step >= 8:
                note([HIGH_TOM, LOW_TOM, SNARE][step % 3] if step % 2 == 0 or rng.random() < 0.5 else SNARE)
                continue
            if kick[step]:
                note(KICK, 110)
            if step in (4, 12):
                note(SNARE, 105)
            if step % hats == 0:
                note(OPEN_HAT if step == 14 and rng.random() < 0.3 else CLOSED_HAT, int(rng.integers(50, 85)))
            if kick[step]:
                bass.notes.append(pretty_midi.Note(95, root if rng.random() < 0.8 else root + 7, t, t + beat / 2))
        if bar % 4 == 0:
            drums.notes.append(pretty_midi.Note(100, CRASH, start, start + 4 * beat))
        for off_beat in (1, 3):
            t = start + (off_beat + 0.5) * beat
            for pitch in (root + 24, root + 12 + third, root + 12 + fifth):
                chords.notes.append(pretty_midi.Note(70, pitch, t, t + 0.4 * beat))
    pm.instruments.extend([drums, bass, chords])
    return pm


def groove_pieces(seed: int = 0):
    """Rendered groove songs of 20-50 s each, forever (``write_tracks`` stops taking them)."""
    rng = np.random.default_rng(seed)
    font = soundfont("timgm")
    with tempfile.TemporaryDirectory() as tmp:
        while True:
            midi = Path(tmp) / "groove.mid"
            groove_song(rng, float(rng.uniform(20, 50))).write(str(midi))
            yield render_midi(midi, font)


# ------------------------------------------------------------------------------------------------------ wesnoth
def package_file(package: str, folder: Path) -> Path:
    """The Debian package file of ``package`` in ``folder``, fetched with `apt-get download` when missing."""
    found = sorted(folder.glob(f"{package}_*.deb"))
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", package], cwd=folder, check=True)
        found = sorted(folder.glob(f"{package}_*.deb"))
    return found[-1]


def wesnoth_pieces(data: Path):
    """The soundtrack's pieces over 1 MB in name order, as int16 stereo at 44.1 kHz."""
    import soxr
    unpacked = data / ".packages" / "wesnoth"
    if not (unpacked / WESNOTH_MUSIC).is_dir():
        subprocess.run(["dpkg-deb", "-x", str(package_file(PACKAGES["wesnoth"], data / ".packages")), str(unpacked)],
                       check=True)
    for path in sorted((unpacked / WESNOTH_MUSIC).glob("*.ogg")):
        if path.stat().st_size > 2 ** 20:
            audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
            audio = np.repeat(audio, 2, axis=1) if audio.shape[1] == 1 else audio[:, :2]
            audio = soxr.resample(audio, rate, SAMPLE_RATE) if rate != SAMPLE_RATE else audio
            yield (np.clip(audio, -1, 1) * 32767).astype(np.int16)


def musescore_font(data: Path) -> None:
    """Unpack MuseScore General (Lite) from its Debian package when it is not installed."""
    if SOUNDFONTS["musescore"].is_file():
        return
    unpacked = data / ".packages" / "musescore"
    font = unpacked / SOUNDFONTS["musescore"].relative_to("/")
    if not font.is_file():
        subprocess.run(["dpkg-deb", "-x", str(package_file(PACKAGES["musescore"], data / ".packages")),
                        str(unpacked)], check=True)
    SOUNDFONTS["musescore"] = font


# ------------------------------------------------------------------------------------------------------ sources
def make_source(name: str, data: Path) -> Path:
    """``data/name``: the source's four tracks, made once (in a staging folder renamed when complete)."""
    folder = data / name
    if folder.is_dir():
        return folder
    staging = data / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    minutes = SOURCE_TRACKS * TRACK_SECONDS / 60
    print(f"making {minutes:g} min of {name} in {folder} ...", file=sys.stderr)
    if name == "chorales":
        render_tracks(staging, minutes)
    elif name == "solo":
        musescore_font(data)
        render_tracks(staging, minutes, composer="essenFolksong", font="musescore", program=VIOLIN, master=True)
    elif name == "grooves":
        write_tracks(mastered(groove_pieces()), staging, SOURCE_TRACKS)
    elif name == "wesnoth":
        write_tracks(wesnoth_pieces(data), staging, SOURCE_TRACKS)
    else:
        raise SystemExit(f"unknown source {name!r}; known: {', '.join(SOURCES)}")
    staging.rename(folder)
    return folder
