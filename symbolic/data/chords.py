"""Chord symbols, the triad one-hot encoding and chord inference, with Magenta note_seq's semantics.

Symbols: a root (A-G with any number of # or b), a kind (Magenta's abbreviations: "", m, +/aug, dim/o, 7, maj7, m7,
m7b5, sus4, 9, 13, ...), scale-degree modifications ((add9), b5, (no3), ...) and an optional /bass; "N.C." is no
chord. The triad encoding (Magenta's TriadChordOneHotEncoding, 49 classes): 0 no chord, 1-12 major, 13-24 minor,
25-36 augmented, 37-48 diminished triads rooted on C..B; sevenths and extensions go to their triad, and a chord
without one (sus, power chord) has none.

Inference (Magenta's chord_inference): a hidden Markov model over (key, chord) pairs of 12 keys and 97 chords (no
chord and 12 roots of 8 kinds) observes each frame's unit pitch-class vector of note time; Viterbi gives the most
likely path. Torch-free.
"""
from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass

import numpy as np

from engine.errors import UserError

NO_CHORD = "N.C."
PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
TRIAD_KINDS = ("", "m", "aug", "dim")  # the triad encoding's kinds, in its order
TRIAD_OFFSETS = ((0, 4, 7), (0, 3, 7), (0, 4, 8), (0, 3, 6))
TRIAD_CLASSES = 1 + 12 * len(TRIAD_KINDS)  # 49

# Scale degrees of every kind (Magenta's chord_symbols_lib._CHORD_KINDS): abbreviations -> degrees.
_KINDS = [
    (["", "maj", "M"], ["1", "3", "5"]), (["m", "min", "-"], ["1", "b3", "5"]), (["+", "aug"], ["1", "3", "#5"]),
    (["o", "dim"], ["1", "b3", "b5"]), (["7"], ["1", "3", "5", "b7"]), (["maj7", "M7"], ["1", "3", "5", "7"]),
    (["m7", "min7", "-7"], ["1", "b3", "5", "b7"]), (["o7", "dim7"], ["1", "b3", "b5", "bb7"]),
    (["+7", "aug7"], ["1", "3", "#5", "b7"]), (["m7b5", "-7b5", "/o", "/o7"], ["1", "b3", "b5", "b7"]),
    (["mmaj7", "mM7", "minmaj7", "minM7", "-maj7", "-M7", "m(maj7)", "m(M7)", "min(maj7)", "min(M7)", "-(maj7)",
      "-(M7)"], ["1", "b3", "5", "7"]),
    (["6"], ["1", "3", "5", "6"]), (["m6", "min6", "-6"], ["1", "b3", "5", "6"]),
    (["9"], ["1", "3", "5", "b7", "9"]), (["maj9", "M9"], ["1", "3", "5", "7", "9"]),
    (["m9", "min9", "-9"], ["1", "b3", "5", "b7", "9"]), (["+9", "aug9"], ["1", "3", "#5", "b7", "9"]),
    (["6/9"], ["1", "3", "5", "6", "9"]), (["11"], ["1", "3", "5", "b7", "9", "11"]),
    (["maj11", "M11"], ["1", "3", "5", "7", "9", "11"]), (["m11", "min11", "-11"], ["1", "b3", "5", "b7", "9", "11"]),
    (["13"], ["1", "3", "5", "b7", "9", "11", "13"]), (["maj13", "M13"], ["1", "3", "5", "7", "9", "11", "13"]),
    (["m13", "min13", "-13"], ["1", "b3", "5", "b7", "9", "11", "13"]), (["sus2"], ["1", "2", "5"]),
    (["sus", "sus4"], ["1", "4", "5"]), (["sus7", "7sus"], ["1", "4", "5", "b7"]), (["ped"], ["1"]),
    (["5"], ["1", "5"]),
]
_KIND_DEGREES = {abbrev: degrees for abbrevs, degrees in _KINDS for abbrev in abbrevs}
_STEP_PITCH = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_DEGREE_OFFSET = {1: 0, 2: 2, 3: 4, 4: 5, 5: 7, 6: 9, 7: 11}
_MODIFICATIONS = ("add", "add#", "addb", "no", "#", "b")
_ROOT = r"[A-G](?:#*|b*)(?![#b])"
_SYMBOL = re.compile("(%s)(%s)((?:\\(?(?:%s)[0-9]+\\)?)*)(|/%s)$" % (
    _ROOT, "|".join(re.escape(a) for a in _KIND_DEGREES), "|".join(re.escape(m) for m in _MODIFICATIONS), _ROOT))
_MODIFICATION = re.compile(r"\(?(%s)([0-9]+)\)?" % "|".join(re.escape(m) for m in _MODIFICATIONS))
SYMBOL_HELP = "a root A-G (# or b), a kind such as m, dim, aug, 7, maj7, m7, m7b5, sus4, an optional /bass; N.C."


@dataclass(frozen=True)
class Chord:
    """A parsed chord symbol: root and bass pitch classes and its scale degrees (degree -> semitones altered)."""

    root: int
    degrees: dict
    bass: int

    @property
    def pitch_classes(self) -> frozenset[int]:
        """The pitch classes the chord holds (the bass only when it is one of its degrees)."""
        return frozenset((self.root + _DEGREE_OFFSET[(d - 1) % 7 + 1] + alter) % 12
                         for d, alter in self.degrees.items())

    @property
    def triad(self) -> int | None:
        """Index of its kind in TRIAD_KINDS (sevenths and extensions as their triad); None without a triad."""
        if not {1, 3, 5} <= self.degrees.keys():
            return None
        return {(0, 0, 0): 0, (0, -1, 0): 1, (0, 0, 1): 2, (0, -1, -1): 3}.get(
            (self.degrees[1], self.degrees[3], self.degrees[5]))


def _pitch_class(text: str) -> int:
    """"Eb" -> 3, "B#" -> 0."""
    return (_STEP_PITCH[text[0]] + len(text[1:]) * (1 if "#" in text else -1)) % 12


def parse_chord(symbol: str) -> Chord:
    """The chord a symbol names (Magenta's grammar); a UserError naming the symbol when it is not one."""
    match = _SYMBOL.match(symbol)
    if not match:
        raise UserError(f"unknown chord symbol {symbol!r} (expected {SYMBOL_HELP})")
    root, kind, modifications, bass = match.groups()
    degrees = {int(d.lstrip("#b")): d.count("#") - d.count("b") for d in _KIND_DEGREES[kind]}
    while modifications:
        mod = _MODIFICATION.match(modifications)
        kind_of, degree = mod.group(1), int(mod.group(2))
        modifications = modifications[mod.end():]
        if kind_of.startswith("add"):
            if degree in degrees:
                raise UserError(f"unknown chord symbol {symbol!r}: degree {degree} is already in the chord")
            degrees[degree] = {"add": 0, "add#": 1, "addb": -1}[kind_of] - (degree == 7)
        elif kind_of == "no":
            if degree not in degrees:
                raise UserError(f"unknown chord symbol {symbol!r}: degree {degree} is not in the chord")
            del degrees[degree]
        else:
            degrees[degree] = degrees.get(degree, 0) + (1 if kind_of == "#" else -1)
    root_pc = _pitch_class(root)
    return Chord(root_pc, degrees, _pitch_class(bass[1:]) if bass else root_pc)


def triad_index(symbol: str) -> int:
    """The triad class (0 no chord, 1 + 12 * kind + root) of a symbol; a UserError for an unknown symbol or a chord
    without a major, minor, augmented or diminished triad (Magenta's ChordEncodingError)."""
    if symbol == NO_CHORD:
        return 0
    chord = parse_chord(symbol)
    if chord.triad is None:
        raise UserError(f"chord {symbol!r} has no major, minor, augmented or diminished triad to condition on")
    return 1 + 12 * chord.triad + chord.root


def triad_name(index: int) -> str:
    """The symbol of a triad class: 3 -> "D", 17 -> "Em", 33 -> "Abaug", 42 -> "Fdim", 0 -> "N.C."."""
    if index == 0:
        return NO_CHORD
    kind, root = divmod(int(index) - 1, 12)
    return PITCH_CLASS_NAMES[root] + TRIAD_KINDS[kind]


def triad_tones() -> np.ndarray:
    """bool [TRIAD_CLASSES, 12]: the pitch classes of every triad class (none for no chord)."""
    tones = np.zeros((TRIAD_CLASSES, 12), bool)
    for kind, offsets in enumerate(TRIAD_OFFSETS):
        for root in range(12):
            tones[1 + 12 * kind + root, [(root + o) % 12 for o in offsets]] = True
    return tones


def transpose_triads(indices: np.ndarray, semitones: int) -> np.ndarray:
    """Triad classes moved by ``semitones`` (no chord stays no chord)."""
    kind, root = np.divmod(indices.astype(np.int64) - 1, 12)
    return np.where(indices > 0, 1 + 12 * kind + (root + semitones) % 12, 0).astype(indices.dtype)


def parse_progression(text: str) -> np.ndarray:
    """Triad classes of a space- or comma-separated progression such as "C G Am F" (a UserError naming the first
    symbol it does not know)."""
    symbols = text.replace(",", " ").split()
    if not symbols:
        raise UserError("--chords: give at least one chord, e.g. \"C G Am F\"")
    try:
        return np.array([triad_index(s) for s in symbols], np.int16)
    except UserError as e:
        raise UserError(f"--chords: {e}") from None


# --------------------------------------------------------------------------------------------------- inference
HMM_KINDS = {"": (0, 4, 7), "m": (0, 3, 7), "+": (0, 4, 8), "dim": (0, 3, 6), "7": (0, 4, 7, 10),
             "maj7": (0, 4, 7, 11), "m7": (0, 3, 7, 10), "m7b5": (0, 3, 6, 10)}
HMM_CHORDS = [NO_CHORD] + [PITCH_CLASS_NAMES[root] + kind for root, kind in itertools.product(range(12), HMM_KINDS)]
_KEY_PITCHES = (0, 2, 4, 5, 7, 9, 11)


@dataclass(frozen=True)
class ChordModel:
    """Magenta's inference parameters (its defaults)."""

    key_change_prob: float = 0.001
    chord_change_prob: float = 0.5
    chord_pitch_out_of_key_prob: float = 0.01
    chord_note_concentration: float = 100.0


def _hmm_pitch_vectors() -> np.ndarray:
    """Unit pitch-class vectors [97, 12] of the HMM's chords (zeros for no chord)."""
    x = np.zeros((len(HMM_CHORDS), 12))
    for i, (root, offsets) in enumerate(itertools.product(range(12), HMM_KINDS.values()), 1):
        x[i, [(root + o) % 12 for o in offsets]] = 1
    x[1:] /= np.linalg.norm(x[1:], axis=1, keepdims=True)
    return x


@functools.cache
def _hmm(model: ChordModel) -> tuple[np.ndarray, np.ndarray]:
    """log P(chord | key) [12, 97] and the log transition matrix over (key, chord) pairs [1164, 1164]."""
    n = len(HMM_CHORDS)
    tones = _hmm_pitch_vectors() > 0
    key_tones = np.array([[(pc - key) % 12 in _KEY_PITCHES for pc in range(12)] for key in range(12)])
    in_key = (tones[None] & key_tones[:, None]).sum(-1)  # [key, chord]
    out_key = (tones[None] & ~key_tones[:, None]).sum(-1)
    p = model.chord_pitch_out_of_key_prob
    dist = (1 - p) ** in_key * p ** out_key  # no chord, with no pitches, weighs 1 before normalising
    dist /= dist.sum(axis=1, keepdims=True)
    same_key = np.eye(12, dtype=bool)
    changed = model.chord_change_prob * (dist[:, None, :] + dist[:, :, None] / (n - 1))  # [key, from, to]
    within = (1 - model.key_change_prob) * np.where(np.eye(n, dtype=bool)[None], 1 - model.chord_change_prob,
                                                    changed)
    across = model.key_change_prob / 11 * dist  # [to key, to chord], whatever the previous chord
    trans = np.where(same_key[:, None, :, None], within[:, :, None, :].repeat(12, 2),
                     np.broadcast_to(across[None, None], (12, n, 12, n)))
    with np.errstate(divide="ignore"):
        return np.log(dist), np.log(trans.reshape(12 * n, 12 * n))


def frame_pitch_vectors(start: np.ndarray, end: np.ndarray, pitch: np.ndarray,
                        boundaries: np.ndarray) -> np.ndarray:
    """Unit pitch-class vectors [len(boundaries) + 1, 12] of the note time in each frame between the interior frame
    ``boundaries`` (Magenta's sequence_note_pitch_vectors: a note shorter than its frame counts its length there)."""
    boundaries = np.asarray(boundaries, float)
    lows = np.concatenate([[-np.inf], boundaries])[None]
    highs = np.concatenate([boundaries, [np.inf]])[None]
    start, end = np.asarray(start, float)[:, None], np.asarray(end, float)[:, None]
    overlap = np.clip(np.minimum(end, highs) - np.maximum(start, lows), 0, None)  # [notes, frames]
    x = np.zeros((len(boundaries) + 1, 12))
    np.add.at(x.T, np.asarray(pitch) % 12, overlap)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=x, where=norm > 0)


def infer_chords(pitch_vectors: np.ndarray, model: ChordModel = ChordModel()) -> list[tuple[int, str]]:
    """The most likely (key, chord symbol) of every frame of unit pitch-class vectors [frames, 12] (Viterbi)."""
    key_chord, trans = _hmm(model)
    n = len(HMM_CHORDS)
    observed = np.tile(model.chord_note_concentration * pitch_vectors @ _hmm_pitch_vectors().T, 12)  # [F, 12 n]
    loglik = -np.log(12) + key_chord.reshape(-1) + observed[0]
    paths = np.zeros((len(pitch_vectors), 12 * n), np.int64)
    for frame in range(1, len(pitch_vectors)):
        scores = loglik[:, None] + trans
        paths[frame] = scores.argmax(axis=0)
        loglik = scores[paths[frame], np.arange(12 * n)] + observed[frame]
    state = [int(loglik.argmax())]
    for frame in range(len(pitch_vectors) - 1, 0, -1):
        state.append(int(paths[frame, state[-1]]))
    return [(s // n, HMM_CHORDS[s % n]) for s in reversed(state)]
