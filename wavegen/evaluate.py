"""How close generated clips are to the music they continue, beside references computed on the same audio.

The clips' log-mel frames are compared with those of the held-out tail of every file (the last --val-fraction of
its audio, read as training reads it: long silences shortened) by the Fréchet distance of Gaussians fitted to each
(as FAD does, on log-mel frames instead of embeddings; lower = closer). Three references of the same count and
length as the clips are scored the same way, all made, as the model is, from the training part of the music:
excerpts of it (real vs real: the ceiling), noise with its frozen average spectrum (what a drone that learned only
the average scores), and white noise of its loudness. (A frozen spectrum of the held-out tails themselves would
know the held-out music as no model can: on music whose pieces differ it came closer to the tails than real
excerpts of the training part.) The headline, how far of the way from the frozen spectrum to real music the
clips are, is the median over resamplings (a block bootstrap of the held-out music, fresh excerpts and noise for
the references) with its spread: a short held-out tail makes it unreliable, and the verdict says so instead of
printing it as a result. Per clip:
the loudness drift (RMS of the last second over the first) and how much it still changes in its second half
(the mean distance between consecutive quarter-second log-mel means), beside the same for the real excerpts, and
the share of quiet frames (pauses, the tails of decays) in each clip beside the held-out music's: quiet frames lie far
from sounding ones in log-mel space, so music that pauses is far from clips that never do.
The music is read one file at a time and only summaries are kept (the tails' log-mel mean and covariance, spectrum,
loudness, quiet frames; the real excerpts), so scoring holds the longest file, not the whole dataset. A clip that
barely moves (a drone) or drifts far in loudness is never summed up as good, whatever its distance.
This module never imports torch.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.atomic import write_json
from engine.errors import SourceError, UserError
from wavegen.audio import MAX_SILENCE, AudioReader, shorten_silences
from wavegen.dataset import split_segments

EVAL_RATE = 22050
N_FFT = 2048
HOP = 512
N_MELS = 64
DB_FLOOR = 1e-8  # -80 dB: quieter detail (and silence) all count the same
SEGMENT_S = 0.25  # the time scale of "still changing": quarter-second means of log-mel frames
QUIET_DB = -40.0  # a frame whose loudest band is under this is quiet: a pause, or the tail of a decay
BLOCK_S = 2.0  # the held-out music is resampled in blocks about this long (neighbouring frames are alike)
MAX_BLOCKS = 256  # beyond this, neighbouring blocks merge: bounded memory for hours of held-out music
RESAMPLINGS = 16  # draws of the held-out music (the first is the music as it is) and of the references
REFERENCE_BUDGET_S = 240.0  # reference audio held at once: short clips get fresh excerpts for every draw
SPREAD_LIMIT = 0.5  # a headline varying more than this between draws (10th to 90th percentile) is no result
MIN_HELD_OUT_FRAMES = 4 * N_MELS  # fewer log-mel frames than this estimate their covariance too poorly
MOVES_ENOUGH = 0.5  # a clip whose second half changes less than this times the music's is a drone
STEADY_LOUDNESS = (0.5, 2.0)  # the last second's loudness over the first's, for a clip that holds its level


def log_mel(audio: np.ndarray) -> np.ndarray:
    """Log-mel frames [n, N_MELS] (dB) of mono audio at EVAL_RATE."""
    import librosa
    power = librosa.feature.melspectrogram(y=np.asarray(audio, dtype=np.float32), sr=EVAL_RATE, n_fft=N_FFT,
                                           hop_length=HOP, n_mels=N_MELS)
    return 10.0 * np.log10(np.maximum(power, DB_FLOOR)).T


Gaussian = tuple[np.ndarray, np.ndarray]  # mean [d], covariance [d, d]


def gaussian(rows: np.ndarray) -> Gaussian:
    """The mean and (unbiased) covariance of the rows of ``rows``."""
    return rows.mean(axis=0), np.cov(rows, rowvar=False)


def frechet_distance(a: np.ndarray | Gaussian, b: np.ndarray | Gaussian) -> float:
    """Fréchet distance between Gaussians fitted to the rows of ``a`` and of ``b`` (or given as (mean, covariance)).

    |mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2)), the trace of the square root taken as the sum of the square
    roots of the eigenvalues of C_a^(1/2) C_b C_a^(1/2) (symmetric, so stable also for singular covariances).
    """
    (mean_a, cov_a), (mean_b, cov_b) = (x if isinstance(x, tuple) else gaussian(x) for x in (a, b))
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.maximum(values, 0.0))) @ vectors.T
    cross = np.sqrt(np.maximum(np.linalg.eigvalsh(root_a @ cov_b @ root_a), 0.0)).sum()
    return float(((mean_a - mean_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * cross)


def quiet_frames(frames: np.ndarray) -> np.ndarray:
    """Which log-mel frames [n, N_MELS] are quiet (their loudest band under QUIET_DB)."""
    return frames.max(axis=1) < QUIET_DB


def movement(audio: np.ndarray) -> float:
    """How much ``audio``'s second half still changes: the mean distance (dB) between consecutive quarter-second
    means of its log-mel frames; NaN when the half is shorter than two quarter seconds."""
    frames = log_mel(audio[len(audio) // 2:])
    per_segment = max(1, round(SEGMENT_S * EVAL_RATE / HOP))
    count = len(frames) // per_segment
    if count < 2:
        return math.nan
    means = frames[:count * per_segment].reshape(count, per_segment, -1).mean(axis=1)
    return float(np.linalg.norm(np.diff(means, axis=0), axis=1).mean())


def loudness_drift(audio: np.ndarray) -> float:
    """RMS of the last second over that of the first (of the last and first half when shorter than 2 s)."""
    span = min(EVAL_RATE, len(audio) // 2)
    first, last = audio[:span], audio[len(audio) - span:]
    return float(np.sqrt(np.mean(last ** 2)) / max(np.sqrt(np.mean(first ** 2)), 1e-9))


def read_file(path: Path, max_silence: float | None) -> np.ndarray | None:
    """The file at EVAL_RATE, its silences shortened as training shortens them; None where it cannot be read (the
    cache names those files)."""
    try:
        with AudioReader(path, EVAL_RATE) as reader:
            samples = reader.samples()
    except SourceError:
        return None
    return shorten_silences(samples, EVAL_RATE, max_silence)


@dataclass(frozen=True)
class Music:
    """The dataset's audio at EVAL_RATE, split as training splits it (training parts and held-out tails), read one
    file at a time whenever it is gone through, so that scoring holds no more than the longest file."""

    sources: list[Callable[[], np.ndarray | None]]  # per file: read its samples (None: unreadable)
    val_fraction: float

    def __post_init__(self) -> None:
        if self.val_fraction <= 0:
            raise UserError("no held-out audio to evaluate against: --val-fraction is 0")

    @classmethod
    def load(cls, files: list[Path], val_fraction: float, max_silence: float | None = MAX_SILENCE) -> Music:
        """The readable ``files``, their silences shortened as training shortens them, split (read when scored)."""
        return cls([functools.partial(read_file, path, max_silence) for path in files], val_fraction)

    @classmethod
    def load_arrays(cls, audio: list[np.ndarray], val_fraction: float) -> Music:
        """Audio at EVAL_RATE, one array per file, split."""
        return cls([functools.partial(np.asarray, a, np.float32) for a in audio], val_fraction)

    def each_part(self, use: Callable[[np.ndarray, np.ndarray | None], None]) -> None:
        """``use(training part, held-out tail or None)`` of every file in turn; a UserError when no file has a tail.

        A callback, not an iterator: a loop over an iterator would still hold one file while it reads the next.
        """
        held_out = False
        for read in self.sources:
            held_out = self._use_file(read, use) or held_out
        if not held_out:
            raise UserError("no held-out audio to evaluate against: every file is too short or unreadable")

    def _use_file(self, read: Callable[[], np.ndarray | None], use: Callable[[np.ndarray, np.ndarray | None], None]
                  ) -> bool:
        """``use`` the parts of one file; whether it has a tail. The file is freed on return."""
        samples = read()
        if samples is None:
            return False
        train, tails = split_segments([samples], self.val_fraction)
        use(train[0], tails[0] if tails else None)
        return bool(tails)


class AverageSpectrum:
    """The average STFT magnitude per frequency bin and the loudness of the audio added, summed one part at a time
    (float64)."""

    def __init__(self) -> None:
        self.stft_frames = 0
        self.magnitude_sum = np.zeros(1 + N_FFT // 2)
        self.samples = 0
        self.squares = 0.0

    def add(self, audio: np.ndarray) -> None:
        """Count one part (audio at EVAL_RATE) in; one shorter than an FFT frame says nothing of a spectrum."""
        import librosa
        if len(audio) < N_FFT:
            return
        magnitude = np.abs(librosa.stft(audio, n_fft=N_FFT, hop_length=HOP))
        self.stft_frames += magnitude.shape[1]
        self.magnitude_sum += magnitude.sum(axis=1, dtype=np.float64)
        self.samples += len(audio)
        self.squares += float(np.dot(audio.astype(np.float64), audio))

    @property
    def spectrum(self) -> np.ndarray:
        """The average STFT magnitude per frequency bin."""
        return self.magnitude_sum / max(self.stft_frames, 1)

    @property
    def rms(self) -> float:
        """The root mean square sample."""
        return math.sqrt(self.squares / max(self.samples, 1))


class HeldOut:
    """What the evaluation needs of the held-out tails, summed one tail at a time (float64) in bounded memory: their
    log-mel frames' Gaussian and quiet frames, and their duration. The Gaussian's sums are kept per block of about
    BLOCK_S (at most MAX_BLOCKS blocks), so it can be resampled."""

    def __init__(self) -> None:
        self.frames = 0
        self.block_frames = max(1, round(BLOCK_S * EVAL_RATE / HOP))
        self.block_counts: list[int] = []
        self.block_sums: list[np.ndarray] = []  # [N_MELS] each
        self.block_products: list[np.ndarray] = []  # [N_MELS, N_MELS] each
        self.quiet = 0
        self.samples = 0

    def add(self, tail: np.ndarray) -> None:
        """Count one tail (audio at EVAL_RATE) in."""
        frames = log_mel(tail).astype(np.float64)
        self.frames += len(frames)
        for start in range(0, len(frames), self.block_frames):
            block = frames[start:start + self.block_frames]
            self.block_counts.append(len(block))
            self.block_sums.append(block.sum(axis=0))
            self.block_products.append(block.T @ block)
        while len(self.block_counts) > MAX_BLOCKS:
            self._merge_neighbours()
        self.quiet += int(quiet_frames(frames).sum())
        self.samples += len(tail)

    def _merge_neighbours(self) -> None:
        """Halve the number of blocks by summing each pair of neighbours."""
        for name in ("block_counts", "block_sums", "block_products"):
            parts = getattr(self, name)
            setattr(self, name, [sum(parts[i:i + 2]) for i in range(0, len(parts), 2)])

    @property
    def blocks(self) -> int:
        return len(self.block_counts)

    def gaussian(self, weights: np.ndarray | None = None) -> Gaussian:
        """The mean and (unbiased) covariance of the tails' log-mel frames, as ``gaussian`` of them all; with
        ``weights`` (how often each block is drawn), of that resampling of the blocks."""
        weights = np.ones(self.blocks) if weights is None else np.asarray(weights, np.float64)
        frames = float(weights @ np.asarray(self.block_counts, np.float64))
        mean = weights @ np.stack(self.block_sums) / frames
        products = np.tensordot(weights, np.stack(self.block_products), axes=1)
        return mean, (products - frames * np.outer(mean, mean)) / (frames - 1)

    def resampled_gaussian(self, rng: np.random.Generator) -> Gaussian:
        """``gaussian`` of the blocks drawn with replacement, as many as there are (a block bootstrap)."""
        return self.gaussian(rng.multinomial(self.blocks, np.full(self.blocks, 1.0 / self.blocks)))

    @property
    def quiet_fraction(self) -> float:
        """The share of the tails' log-mel frames that are quiet."""
        return self.quiet / self.frames

    @property
    def seconds(self) -> float:
        """The tails' duration."""
        return self.samples / EVAL_RATE


class Excerpts:
    """``count`` random excerpts of ``length`` samples of the parts added, each uniform over every start position
    in every part that long (a weighted reservoir per excerpt), so that only the excerpts themselves are kept; the
    longest part, shorter, when none is that long."""

    def __init__(self, count: int, length: int, rng: np.random.Generator):
        self.length = length
        self.rng = rng
        self.chosen: list[np.ndarray] = [np.zeros(0, np.float32)] * count
        self.positions = 0  # start positions in the parts so far

    def add(self, part: np.ndarray) -> None:
        """Offer one part (audio at EVAL_RATE) to every excerpt."""
        positions = len(part) - self.length + 1
        if positions <= 0:
            if not self.positions and len(part) > len(self.chosen[0]):
                self.chosen = [part.copy()] * len(self.chosen)
            return
        self.positions += positions
        for slot in np.flatnonzero(self.rng.random(len(self.chosen)) * self.positions < positions):
            start = self.rng.integers(positions)
            self.chosen[slot] = part[start:start + self.length].copy()


def frozen_spectrum(spectrum: np.ndarray, count: int, length: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` clips of noise with the magnitude ``spectrum`` (per STFT bin), frozen in time."""
    import librosa
    frames = 1 + length // HOP
    return [librosa.istft(spectrum[:, None] * np.exp(2j * np.pi * rng.random((len(spectrum), frames))),
                          hop_length=HOP, n_fft=N_FFT, length=length) for _ in range(count)]


def score(clips: list[np.ndarray], music: Music, seed: int = 0) -> dict:
    """The clips' (audio at EVAL_RATE) distance to the held-out music beside the references; how far of the way
    from the frozen spectrum to real music they are, the median over RESAMPLINGS draws with its spread; per-clip
    drift and movement; a verdict. JSON-able."""
    rng = np.random.default_rng(seed)
    count, length = len(clips), min(len(c) for c in clips)
    reference_sets = max(1, min(RESAMPLINGS, int(REFERENCE_BUDGET_S * EVAL_RATE) // (count * length)))
    held_out, real, trained_on = HeldOut(), Excerpts(reference_sets * count, length, rng), AverageSpectrum()

    def add(train: np.ndarray, tail: np.ndarray | None) -> None:
        real.add(train)
        trained_on.add(train)
        if tail is not None:
            held_out.add(tail)

    music.each_part(add)
    frozen = frozen_spectrum(trained_on.spectrum, reference_sets * count, length, rng)
    noise = [trained_on.rms * rng.standard_normal(length).astype(np.float32) for _ in range(reference_sets * count)]
    clip_frames = [log_mel(c) for c in clips]
    sets = {"clips": [clip_frames], "real": _sets_of(real.chosen, count), "frozen_spectrum": _sets_of(frozen, count),
            "white_noise": _sets_of(noise, count)}
    fitted = {name: [gaussian(np.concatenate(mels)) for mels in groups] for name, groups in sets.items()}
    draws = []
    for draw in range(RESAMPLINGS):
        reference = held_out.gaussian() if draw == 0 else held_out.resampled_gaussian(rng)
        draws.append({name: frechet_distance(fits[draw % len(fits)], reference) for name, fits in fitted.items()})
    progress = np.array([_progress(d) for d in draws])
    known = progress[~np.isnan(progress)]
    real_measures = [(movement(a), loudness_drift(a)) for a in real.chosen]
    moving = [m for m, _ in real_measures if not math.isnan(m)]
    music_movement = float(np.mean(moving)) if moving else math.nan
    # Music swells and fades too: a clip is steady within STEADY_LOUDNESS or within its excerpts' usual drift.
    music_drift = np.percentile([drift for _, drift in real_measures], [10, 90])
    tested = functools.partial(clip_tests, music_movement=music_movement, music_drift=music_drift)
    per_clip = [{**tested(movement(clip), loudness_drift(clip)), "quiet_fraction": float(quiet_frames(mels).mean())}
                for clip, mels in zip(clips, clip_frames)]
    # The same tests on the real excerpts: how often the music itself would read as barely moving or drifting.
    music_failing = sum(not passes(tested(*measures)) for measures in real_measures)
    result = {"frechet": draws[0],  # against the held-out music as it is
              "progress": float(np.median(known)) if 2 * len(known) > len(progress) else math.nan,
              "progress_spread": [float(np.percentile(known, 10)), float(np.percentile(known, 90))] if len(known)
              else [math.nan, math.nan],
              "resamplings": RESAMPLINGS, "held_out_blocks": held_out.blocks,
              "music_movement": music_movement, "music_drift_range": music_drift.tolist(),
              "music_failing": music_failing, "music_excerpts": len(real_measures),
              "music_quiet_fraction": held_out.quiet_fraction,
              "clips": per_clip,
              "held_out_seconds": held_out.seconds, "held_out_frames": held_out.frames,
              "clip_seconds": length / EVAL_RATE, "count": count}
    result["judged"], result["verdict"] = verdict(result)
    return result


def clip_tests(moved: float, drift: float, music_movement: float, music_drift: np.ndarray) -> dict:
    """A clip's movement (``moved``) and loudness drift against the music's: does it move at least MOVES_ENOUGH as much
    (None when either is unknown), and is it steady (within STEADY_LOUDNESS, or within the music's 10th-90th
    percentile drift ``music_drift`` where that is wider)?"""
    moves = moved / music_movement if music_movement > 0 else math.nan
    return {"loudness_drift": drift, "movement": moved, "movement_vs_music": moves,
            "moves": bool(moves >= MOVES_ENOUGH) if not math.isnan(moves) else None,
            "steady": bool(min(STEADY_LOUDNESS[0], music_drift[0]) <= drift <= max(STEADY_LOUDNESS[1], music_drift[1]))}


def passes(tests: dict) -> bool:
    """Whether a clip of ``clip_tests`` passes both (an unknown movement counts as moving)."""
    return tests["moves"] is not False and tests["steady"]


def _sets_of(items: list, size: int) -> list[list]:
    """``items`` in consecutive groups of ``size``, each group's audio turned into log-mel frames."""
    return [[log_mel(a) for a in items[start:start + size]] for start in range(0, len(items), size)]


def _progress(distance: dict[str, float]) -> float:
    """How far the clips are from the frozen spectrum towards real music (1: as close as real music); NaN when the
    references do not order (real music no closer than the frozen spectrum)."""
    gap = distance["frozen_spectrum"] - distance["real"]
    return (distance["frozen_spectrum"] - distance["clips"]) / gap if gap > 0 else math.nan


def verdict(result: dict) -> tuple[bool, str]:
    """Whether the progress figure can be read as a result, and one sentence that says what the clips are."""
    low, high = result["progress_spread"]
    if (result["held_out_frames"] < MIN_HELD_OUT_FRAMES or math.isnan(result["progress"])
            or high - low > SPREAD_LIMIT):
        spread = "" if math.isnan(low) else f"; between draws it ranges {low:.0%} to {high:.0%}"
        return False, (f"too little held-out music to judge ({result['held_out_seconds']:.1f} s{spread}): hold out "
                       "more (--val-fraction) or add music")
    clips = result["clips"]
    problems = []
    if drones := sum(c["moves"] is False for c in clips):
        problems.append(f"{drones} of {len(clips)} clip(s) barely move (under {MOVES_ENOUGH:g}x the music's change): "
                        "a drone, whatever the distance says")
    if drifting := sum(not c["steady"] for c in clips):
        low, high = result["music_drift_range"]
        problems.append(f"{drifting} of {len(clips)} clip(s) drift in loudness (beyond x{min(STEADY_LOUDNESS[0], low):.2f}"
                        f" to x{max(STEADY_LOUDNESS[1], high):.2f}, where the music's excerpts mostly stay)")
    if problems:
        return True, "; ".join(problems)
    return True, f"{result['progress']:.0%} of the way to real music, every clip moving and steady in loudness"


def ratio(value: float, text: str) -> str:
    """``value`` formatted with ``text`` (a format spec), or n/a for NaN."""
    return "n/a" if math.isnan(value) else format(value, text)


def summary(result: dict) -> str:
    """The result as console lines."""
    d = result["frechet"]
    low, high = result["progress_spread"]
    spread = f"{ratio(low, '.0%')} to {ratio(high, '.0%')}"
    lines = [f"evaluation against {result['held_out_seconds']:.1f} s of held-out music ({result['count']} clip(s) of "
             f"{result['clip_seconds']:.1f} s; log-mel Fréchet distance, lower is closer):",
             f"  real music       {d['real']:10.1f}  (excerpts of the training music: the ceiling)",
             f"  clips            {d['clips']:10.1f}  ({ratio(result['progress'], '.0%')} of the way from the frozen "
             f"spectrum to real music: the median of {result['resamplings']} draws, {spread})",
             f"  frozen spectrum  {d['frozen_spectrum']:10.1f}  (the training music's average spectrum, unchanging)",
             f"  white noise      {d['white_noise']:10.1f}",
             f"  quiet frames (loudest band under {QUIET_DB:g} dB): {result['music_quiet_fraction']:.0%} of the "
             "held-out music, " + ", ".join(f"{c['quiet_fraction']:.0%}" for c in result["clips"]) + " of the clips'"]
    for i, clip in enumerate(result["clips"]):
        lines.append(f"  clip {i}: loudness of the last second x{ratio(clip['loudness_drift'], '.2f')} of the first; "
                     f"its second half changes {ratio(clip['movement_vs_music'], '.2f')}x as much as the music does")
    lines.append(f"  the same two tests on real excerpts of the training music: {result['music_failing']} of "
                 f"{result['music_excerpts']} fail")
    lines.append(f"  verdict: {result['verdict']}")
    return "\n".join(lines)


def report(result: dict, path: Path) -> None:
    """Print the summary and write the result as JSON to ``path``."""
    write_json(path, json_safe(result))
    print(summary(result))
    print(f"evaluation written to {path}")


def json_safe(value: object) -> object:
    """``value`` with NaN replaced by None, as JSON has no NaN."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value
