"""Render Bach chorales (music21 corpus) into album-like 44.1 kHz stereo 16-bit WAV tracks: realistic benchmark audio.

``--composer`` renders another composer or collection of the corpus instead (e.g. palestrina or essenFolksong: music
to tune on, so the chorales stay unseen). Each piece is written to MIDI by music21 and rendered with Debian's
``fluidsynth`` and a General MIDI SoundFont (FluidR3_GM when installed, else the TimGM6mb.sf2 bundled in pretty_midi).
Without a ``fluidsynth`` binary the MIDI is rendered with pretty_midi's additive synthesizer instead (the summary says
which). The pieces play back to back, cut into tracks of ``--track-seconds`` (like the songs of an album). Nothing is
downloaded.

    python scripts/bench_wavegen_data.py OUT_DIR --minutes 10 [--composer bach]
"""
from __future__ import annotations

import argparse
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


def soundfont() -> Path:
    """The richest General MIDI SoundFont available offline."""
    system = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
    if system.is_file():
        return system
    import pretty_midi
    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


def renderer() -> str:
    """Which synthesizer renders the MIDI: 'fluidsynth' (with the SoundFont) or 'pretty_midi' (additive)."""
    return "fluidsynth" if shutil.which("fluidsynth") else "pretty_midi"


def render_piece(path: str, max_samples: int) -> np.ndarray:
    """One corpus file as int16 stereo samples [n, 2] at 44.1 kHz: its score, or the scores of a collection (an
    .abc file of many folk songs) back to back until ``max_samples``; a song music21 cannot write as MIDI is named
    and left out."""
    from music21 import corpus, stream
    parsed = corpus.parse(path)
    scores = parsed.scores if isinstance(parsed, stream.Opus) else [parsed]
    rendered, samples = [], 0
    for number, score in enumerate(scores):
        try:
            rendered.append(render_score(score))
        except Exception as e:  # noqa: BLE001 - music21 raises many kinds on odd scores; one song is skippable
            print(f"skipped song {number} of {path}: {e}", file=sys.stderr)
            continue
        samples += len(rendered[-1])
        if samples >= max_samples:
            break
    return np.concatenate(rendered) if rendered else np.empty((0, 2), dtype=np.int16)


def render_score(score) -> np.ndarray:
    """A music21 score as int16 stereo samples [n, 2] at 44.1 kHz."""
    with tempfile.TemporaryDirectory() as tmp:
        midi, wav = Path(tmp) / "piece.mid", Path(tmp) / "piece.wav"
        score.write("midi", fp=str(midi))
        if renderer() == "fluidsynth":
            subprocess.run(["fluidsynth", "-ni", "-q", "-F", str(wav), "-r", str(SAMPLE_RATE), "-T", "wav",
                            "-O", "s16", str(soundfont()), str(midi)], check=True, capture_output=True)
            return sf.read(str(wav), dtype="int16", always_2d=True)[0]
        import pretty_midi
        audio = pretty_midi.PrettyMIDI(str(midi)).synthesize(fs=SAMPLE_RATE)
        audio = 0.9 * audio / max(np.abs(audio).max(), 1e-9)
        return (np.stack([audio, 0.8 * audio], axis=1) * 32767).astype(np.int16)


def corpus_files(name: str) -> list[Path]:
    """The scores of a composer in music21's corpus, or of a collection (a corpus folder, e.g. essenFolksong)."""
    from music21 import corpus
    found = corpus.getComposer(name) or [p for p in corpus.getPaths() if name in Path(p).parts]
    return [Path(p) for p in found if Path(p).suffix in (".mxl", ".xml", ".krn", ".mid", ".abc")]


def render_tracks(out_dir: Path, minutes: float, track_seconds: float = 150.0, jobs: int = 2,
                  composer: str = "bach") -> list[Path]:
    """Write tracks of exactly ``track_seconds`` (the composer's pieces played back to back) until ``minutes`` are
    written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    scores = corpus_files(composer)
    if not scores:
        raise SystemExit(f"music21's corpus has no scores by {composer!r} (a composer or a corpus folder)")
    main_format = Counter(p.suffix for p in scores).most_common(1)[0][0]  # bach: mxl, as earlier results used
    pieces = [str(p) for p in scores if p.suffix == main_format]
    track_len = round(track_seconds * SAMPLE_RATE)
    needed = round(minutes * 60 / track_seconds)
    tracks: list[Path] = []
    buffer = np.empty((0, 2), dtype=np.int16)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for audio in pool.map(partial(render_piece, max_samples=needed * track_len), pieces):
            buffer = np.concatenate([buffer, audio])
            while len(buffer) >= track_len and len(tracks) < needed:
                tracks.append(out_dir / f"track-{len(tracks) + 1:02d}.wav")
                sf.write(tracks[-1], buffer[:track_len], SAMPLE_RATE, subtype="PCM_16")
                buffer = buffer[track_len:]
            if len(tracks) == needed:
                pool.shutdown(cancel_futures=True)
                return tracks
    raise SystemExit(f"the corpus holds only {len(tracks) * track_seconds / 60:.1f} minutes of {composer}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--track-seconds", type=float, default=150.0)
    parser.add_argument("--composer", default="bach",
                        help="a composer or collection of music21's corpus (default bach)")
    args = parser.parse_args()
    tracks = render_tracks(args.out_dir, args.minutes, args.track_seconds, composer=args.composer)
    total = sum(sf.info(str(p)).duration for p in tracks)
    print(f"rendered {len(tracks)} tracks, {total / 60:.1f} min, with {renderer()}", file=sys.stderr)


if __name__ == "__main__":
    main()
