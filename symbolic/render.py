"""Looking at and listening to generated MIDI: piano-roll PNGs (matplotlib, Agg) and WAV renderings.

Audio comes from FluidSynth (pretty_midi ``fluidsynth``) when pyfluidsynth is installed, with the SoundFont named by
$MUSIC_COMPOSER_SOUNDFONT, else the first system General MIDI SoundFont found, else pretty_midi's bundled one;
without pyfluidsynth it falls back to pretty_midi's sine-wave ``synthesize`` (drum tracks are then silent).
"""
from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import matplotlib
import numpy as np
import pretty_midi
import soundfile
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from engine.atomic import atomic_path
from engine.errors import UserError

SAMPLE_RATE = 44100
SOUNDFONT_ENV = "MUSIC_COMPOSER_SOUNDFONT"
SYSTEM_SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/soundfonts/FluidR3_GM.sf2",
                     "/usr/share/soundfonts/default.sf2", "/usr/share/sounds/sf2/default-GM.sf2")
PEAK = 0.9  # WAV peak level, a little below full scale


def has_fluidsynth() -> bool:
    """Whether pyfluidsynth (and the FluidSynth library it loads) can be imported."""
    try:
        import fluidsynth  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def find_soundfont() -> Path | None:
    """The SoundFont named by $MUSIC_COMPOSER_SOUNDFONT, or the first system one installed (None: none found)."""
    named = os.environ.get(SOUNDFONT_ENV)
    if named:
        if not Path(named).is_file():
            raise UserError(f"{named}: no such SoundFont (named by ${SOUNDFONT_ENV})")
        return Path(named)
    return next((Path(p) for p in SYSTEM_SOUNDFONTS if Path(p).is_file()), None)


def synthesize(midi: pretty_midi.PrettyMIDI, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono audio of ``midi``, peak-normalised to PEAK (at least a second of silence when nothing sounds)."""
    if has_fluidsynth():
        soundfont = find_soundfont()
        audio = midi.fluidsynth(fs=sample_rate, synthesizer=str(soundfont) if soundfont else None)
    else:
        audio = midi.synthesize(fs=sample_rate)
    peak = np.abs(audio).max() if audio.size else 0.0
    return (audio * (PEAK / peak) if peak > 0 else np.zeros(max(audio.size, sample_rate))).astype(np.float32)


def write_wav(midi: pretty_midi.PrettyMIDI, path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> None:
    """Render ``midi`` to a 16-bit WAV file."""
    with atomic_path(path) as tmp:
        soundfile.write(tmp, synthesize(midi, sample_rate), sample_rate, subtype="PCM_16", format="WAV")


def write_piano_roll(midi: pretty_midi.PrettyMIDI, path: str | os.PathLike, title: str = "",
                     above: tuple[pretty_midi.PrettyMIDI, str] | None = None) -> None:
    """Draw every note as a bar (pitch against seconds, one colour per instrument, bar lines dotted) to a PNG;
    ``above`` = (midi, title) draws another one over it on the same time axis (e.g. the song a variation is of)."""
    rolls = ([above] if above else []) + [(midi, title)]
    fig = Figure(figsize=(10, 4 * len(rolls)), dpi=100)
    FigureCanvasAgg(fig)  # Agg: renders to files, no display or GUI backend involved
    axes = fig.subplots(len(rolls), 1, sharex=True, squeeze=False)[:, 0]
    end = max(max(m.get_end_time() for m, _ in rolls), 1.0)
    for ax, (roll, roll_title) in zip(axes, rolls):
        _draw_roll(ax, roll, roll_title)
        ax.set_xlim(0, end)
    axes[-1].set_xlabel("seconds")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def _draw_roll(ax, midi: pretty_midi.PrettyMIDI, title: str) -> None:
    """One piano roll on ``ax``: notes as bars, downbeats dotted, pitch names on the y axis."""
    colours = matplotlib.colormaps["tab10"]
    for k, instrument in enumerate(midi.instruments):
        notes = instrument.notes
        ax.barh([n.pitch for n in notes], [n.end - n.start for n in notes], left=[n.start for n in notes],
                height=0.8, color=colours(k % 10), edgecolor="black", linewidth=0.3,
                label=pretty_midi.program_to_instrument_name(instrument.program) if not instrument.is_drum
                else "Drums")
    for downbeat in midi.get_downbeats():
        ax.axvline(downbeat, color="grey", linestyle=":", linewidth=0.8)
    pitches = [n.pitch for i in midi.instruments for n in i.notes]
    low, high = (min(pitches) - 2, max(pitches) + 2) if pitches else (58, 72)
    ax.set_ylim(low, high)
    for lyric in midi.lyrics:  # a lead sheet's chord symbols, written above the notes where each chord starts
        ax.text(lyric.time, high - 0.3, lyric.text, va="top", fontsize="small", fontweight="bold")
    ticks = [p for p in range(low, high + 1) if high - low <= 16 or p % 12 == 0]  # every note, or every C
    ax.set_yticks(ticks, labels=[pretty_midi.note_number_to_name(p) for p in ticks])
    ax.set_title(title if pitches else f"{title} (no notes)".strip())
    if len(midi.instruments) > 1:
        ax.legend(loc="upper right", fontsize="small")


class OutputFiles:
    """A command's n output files ``<prefix>_<date>_<time>-<i>-of-<n>.mid`` (Magenta's naming; ``<time>.2`` etc. when
    a run of the same second is there, so nothing is overwritten), each with a .png and a .wav beside it if asked;
    ``beside`` = (midi, title) is drawn above every output's piano roll.

    Files are written one at a time, so a command can decode and write in batches.
    """

    def __init__(self, output_dir: str | os.PathLike, prefix: str, n: int, png: bool = False, wav: bool = False,
                 beside: tuple[pretty_midi.PrettyMIDI, str] | None = None):
        self.output_dir = Path(output_dir)
        self.beside = beside  # (midi, title) drawn above each output's piano roll
        if self.output_dir.exists() and not self.output_dir.is_dir():
            raise UserError(f"{self.output_dir}: not a folder")
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.png, self.wav = png, wav
        width = max(3, len(str(n)))
        stamp = time.strftime("%Y-%m-%d_%H%M%S")
        stamp = next(s for s in (stamp if k == 1 else f"{stamp}.{k}" for k in itertools.count(1))
                     if not (self.output_dir / f"{prefix}_{s}-{1:0{width}d}-of-{n:0{width}d}.mid").exists())
        self._name = f"{prefix}_{stamp}-{{:0{width}d}}-of-{n:0{width}d}.mid"
        self.count = 0  # MIDI files written so far

    def write(self, midi: pretty_midi.PrettyMIDI) -> list[Path]:
        """Write the next MIDI file and its renderings; returns their paths, the MIDI file first."""
        self.count += 1
        path = self.output_dir / self._name.format(self.count)
        with atomic_path(path) as tmp:
            midi.write(str(tmp))
        paths = [path]
        if self.png:
            write_piano_roll(midi, path.with_suffix(".png"), title=path.stem, above=self.beside)
            paths.append(path.with_suffix(".png"))
        if self.wav:
            write_wav(midi, path.with_suffix(".wav"))
            paths.append(path.with_suffix(".wav"))
        return paths

    def summary(self, *earlier: OutputFiles) -> str:
        """What was written where, in one line, counting in the files that ``earlier`` outputs of the same command
        wrote into the same folder (e.g. the song that variations are of)."""
        every = [*earlier, self]
        counts = [counted(sum(o.count for o in every), "MIDI file")]
        if any(o.png for o in every):
            counts.append(counted(sum(o.count for o in every if o.png), "piano roll") + " (.png)")
        if any(o.wav for o in every):
            counts.append(counted(sum(o.count for o in every if o.wav), "WAV file"))
        return f"{', '.join(counts)} written to {self.output_dir}"


def counted(n: int, noun: str) -> str:
    """``n`` and the noun, plural unless n is 1: "1 MIDI file", "2 MIDI files", "0 piano rolls"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
