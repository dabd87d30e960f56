"""The built-in example: a bundled public-domain MIDI rendered offline into the dataset folder, plus a small setup.

The MIDI (wavegen/data/minuet_in_g.mid, see wavegen/data/README.md) is the Minuet in G major, BWV Anh. 114, from the
1725 Notebook for Anna Magdalena Bach (attributed to Christian Petzold; public domain), melody with a simple bass line
written for this project. It is rendered with pretty_midi's additive synthesizer using a few decaying harmonics, so
no SoundFont, fluidsynth or network is needed, three times in a row in three keys (72 s): the held-out last 10 % is
then the end of the third rendition, whose bars the model has heard in the other two keys.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.atomic import atomic_path
from wavegen.audio import SAMPLE_RATE

EXAMPLE_MIDI = Path(__file__).parent / "data" / "minuet_in_g.mid"
EXAMPLE_FILE = "example-minuet-in-g-3-keys.flac"
TRANSPOSITIONS = (0, 5, -4)  # semitones: G, C and E-flat major
# Flag defaults under --example: a model small enough to train in seconds on a laptop CPU.
EXAMPLE_DEFAULTS = {"hidden_layer_neurons": 128, "hidden_layer_count": 1, "epochs": 30, "batch_size": 4,
                    "seconds_to_generate": 6.0, "generated_music_num": 3, "sequence_length": 64, "stride": 16,
                    "checkpoint": Path("checkpoints/example.pt")}


def harmonic_wave(phase: np.ndarray) -> np.ndarray:
    """A periodic wave with four harmonics of halving amplitude: warmer than a plain sine."""
    return sum(0.5 ** k * np.sin((k + 1) * phase) for k in range(4))


def render_example(path: Path) -> None:
    """Render the bundled MIDI once per key of TRANSPOSITIONS, back to back, to a mono 44.1 kHz 16-bit FLAC at
    ``path``, atomically."""
    import pretty_midi
    import soundfile as sf
    renditions = []
    for semitones in TRANSPOSITIONS:
        midi = pretty_midi.PrettyMIDI(str(EXAMPLE_MIDI))
        for instrument in midi.instruments:
            for note in instrument.notes:
                note.pitch += semitones
        renditions.append(midi.synthesize(fs=SAMPLE_RATE, wave=harmonic_wave))
    audio = np.concatenate(renditions)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), 0.8 * audio / max(np.abs(audio).max(), 1e-9), SAMPLE_RATE, subtype="PCM_16",
                 format="FLAC")


def install_example(dataset_dir: Path) -> Path:
    """Put the rendered example into ``dataset_dir`` (once; an existing copy is kept as is) and return its path."""
    path = dataset_dir / EXAMPLE_FILE
    if not path.exists():
        dataset_dir.mkdir(parents=True, exist_ok=True)
        render_example(path)
        print(f"added {path}: the Minuet in G (BWV Anh. 114, public domain), rendered from {EXAMPLE_MIDI.name}")
    return path
