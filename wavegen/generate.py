"""Generation: continue random training windows frame by frame, all clips in one batch, and write 16-bit WAVs.

The seed windows run through the model once; after that every new frame is one LSTM step with the state carried
over, so a clip costs O(1) per frame (GRUV re-ran the whole, growing sequence for every frame: quadratic). The frames
become audio through the framer (Griffin-Lim for log-magnitude frames, batched in torch) and are resampled to
44.1 kHz.
"""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from engine.atomic import write_json
from engine.errors import UserError
from wavegen.audio import SAMPLE_RATE, resample, write_wav
from wavegen.dataset import Windows
from wavegen.framer import FrameSpec, exact_length
from wavegen.lstm_step import LSTMStepper, linear_product
from wavegen.model import WaveLSTM, drawn


SEED_CANDIDATES = 256  # windows whose ends are measured when picking seeds: bounded work for hours of music
SEED_TAIL_S = 0.5  # a seed ends sounding when the RMS of its last half second ...
SOUNDING_SHARE = 0.5  # ... is at least this share of the candidates' median
# Generation holds a bin with sigmoid(keep logit - HOLD_OFFSET), less often than the gate learnt: fed its own frames,
# holds compound, a quiet bin stays quiet and clips fade (docs/wavegen.md, "The keep gate by default").
HOLD_OFFSET = 1.0


@dataclass
class Clips:
    """What one generation wrote: the paths, and each clip's continuation and seed as audio at ``rate``."""

    paths: list[Path]
    audio: np.ndarray  # [count, samples]: the continuations only (without the seed, also with --include-seed)
    seeds: np.ndarray  # [count, samples]: the seeds' audio, or an empty [count, 0] when neither asked for
    rate: int


def clips_manifest(output_name: str) -> Path:
    """NAME-clips.json: the clips the last generation named NAME wrote (beside them), which --evaluate scores."""
    return Path(f"{output_name}-clips.json")


def recorded_clips(output_name: str) -> list[Path] | None:
    """The clips listed by the last generation named ``output_name`` (None when none was listed)."""
    manifest = clips_manifest(output_name)
    if not manifest.is_file():
        return None
    try:
        return [manifest.parent / name for name in json.loads(manifest.read_text())["clips"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"{manifest} is unreadable ({type(e).__name__}: {e}); name the clips to score instead: "
                        "--evaluate CLIP.wav ...") from e


def path_span(paths: list[Path]) -> str:
    """The first and last of ``paths``, as ``a ... z`` (the one path alone)."""
    return f"{paths[0]} ... {paths[-1]}" if len(paths) > 1 else str(paths[0])


def pick_seeds(windows: Windows, count: int, rng: np.random.Generator, spec: FrameSpec) -> np.ndarray:
    """``count`` random windows, normalised: [count, length + 1, frame_dim].

    Drawn without replacement (distinct windows give distinct clips); only when there are fewer windows than clips is
    a window used again, each as often as the others give or take one. Windows that end sounding (measured with the
    frames' ``spec``) come first, so that no clip opens in the pause its seed ended in: of SEED_CANDIDATES drawn,
    those whose last SEED_TAIL_S is at least SOUNDING_SHARE as loud as the candidates' median.
    """
    if len(windows) == 0:
        raise UserError("no audio to seed generation with: one file must hold at least 2 frames")
    order = rng.permutation(len(windows))
    candidates = order[:max(SEED_CANDIDATES, count)]
    tail = max(1, round(SEED_TAIL_S * spec.frames_per_second))
    power = np.array([spec.power(windows.raw(i)[-tail:]).mean() for i in candidates])
    sounding = power >= SOUNDING_SHARE ** 2 * np.median(power)
    order = np.concatenate([candidates[sounding], candidates[~sounding], order[len(candidates):]])
    return np.stack([windows[i] for i in np.resize(order, count)])


class DecodedAtTheEnd:
    """Generation's feedback for a model without the keep gate: each chosen hypothesis re-encoded straight from the
    LSTM output (``feedback_layer``), the frames decoded all at once at the end."""

    def __init__(self, model: WaveLSTM, count: int, num_frames: int):
        fused = model.feedback_layer()
        self.model = model
        self.feedback = linear_product(fused.weight, fused.bias)
        self.hiddens = fused.weight.new_empty(count, num_frames, model.config.hidden_size)
        self.chosen = torch.zeros(count, num_frames, dtype=torch.long, device=fused.weight.device)

    def __call__(self, i: int, last: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
        """Record step ``i``'s LSTM outputs [g, n] and choices [g]; the chosen frames encoded: [g, n]."""
        self.hiddens[:, i], self.chosen[:, i] = last, chosen
        clips = torch.arange(len(last), device=last.device)
        return self.feedback(last).unflatten(-1, (-1, last.shape[-1]))[clips, chosen]

    def frames(self) -> torch.Tensor:
        return self.model.decode_chosen(self.hiddens, self.chosen)


class KeptFrames:
    """Generation's feedback for a keep-gate model: each step's frame is drawn through the gate (``drawn``: each bin
    holds the last frame or takes the chosen hypothesis's new value, with the gate's logits lowered by HOLD_OFFSET),
    and only the chosen hypotheses' weights are read (one float16 product per hypothesis drawn, the gate's with it)."""

    def __init__(self, model: WaveLSTM, first: torch.Tensor, num_frames: int, seed: int):
        k, dim = model.config.hypotheses, model.config.frame_dim
        weight, bias = model.decode.weight.unflatten(0, (k, dim)), model.decode.bias.unflatten(0, (k, dim))
        self.products = [linear_product(torch.cat([weight[h], model.keep.weight]),
                                        torch.cat([bias[h], model.keep.bias]))
                         for h in range(k)]  # hypothesis h: its new frame, then the keep logits
        self.encode = linear_product(model.encode.weight, model.encode.bias)
        self.frame = first
        self.written = first.new_empty(len(first), num_frames, dim)
        # The gate's own draws: the choices and the noise are the ones a model without the gate would draw.
        self.generator = torch.Generator(first.device).manual_seed(seed + 1)

    def __call__(self, i: int, last: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
        """Step ``i``'s frames of LSTM outputs [g, n] and choices [g], recorded; the frames encoded: [g, n]."""
        frame = torch.empty_like(self.frame)
        thresholds = torch.rand(len(frame), 1, generator=self.generator, device=frame.device, dtype=frame.dtype)
        for h in chosen.unique().tolist():
            rows = chosen == h
            values, keep_logits = self.products[h](last[rows]).chunk(2, -1)
            frame[rows] = drawn(values, keep_logits - HOLD_OFFSET, self.frame[rows], thresholds[rows])
        self.frame = self.written[:, i] = frame
        return self.encode(frame)

    def frames(self) -> torch.Tensor:
        return self.written


@torch.inference_mode()
def generate_frames(model: WaveLSTM, seeds: torch.Tensor, num_frames: int, noise: float = 0.0, seed: int = 0,
                    progress: bool = True, temperature: float = 1.0) -> torch.Tensor:
    """Continue every seed [g, T, frame_dim] by ``num_frames`` predicted frames: [g, num_frames, frame_dim].

    Each step draws one of the model's hypotheses from its choice head and runs the LSTM once on it, with the state
    carried (``LSTMStepper``: float16 weights on the CPU). ``noise``: the std of Gaussian noise added to every frame
    fed back (normalised units; the written frames are the chosen hypotheses). ``temperature`` divides the choice
    head's logits before the draw: above 1 the less likely hypotheses are drawn more often.
    """
    hidden, state = model.lstm(model.encode(seeds))
    last = hidden[:, -1]
    count = len(last)
    feedback = (KeptFrames(model, seeds[:, -1], num_frames, seed) if model.keep is not None
                else DecodedAtTheEnd(model, count, num_frames))
    encode_noise = linear_product(model.encode.weight, None)  # encode(frame + n) = encode(frame) + W_encode n
    step = LSTMStepper(model.lstm)
    chosen = torch.zeros(count, dtype=torch.long, device=last.device)
    generator = torch.Generator(last.device).manual_seed(seed)
    noise_shape = (count, model.config.frame_dim)
    for i in tqdm(range(num_frames), desc="generating", unit="frame", disable=not progress, file=sys.stderr):
        if model.choose is not None:
            probabilities = (model.choose(last).float() / temperature).softmax(-1)
            chosen = torch.multinomial(probabilities, 1, generator=generator)[:, 0]
        step_input = feedback(i, last, chosen)
        if i + 1 < num_frames:
            if noise:
                jitter = torch.randn(noise_shape, generator=generator, device=last.device, dtype=last.dtype)
                step_input = step_input + encode_noise(noise * jitter)
            last, state = step(step_input, state)
    return feedback.frames()


def frames_to_audio(frames: np.ndarray, mean: np.ndarray, std: np.ndarray, spec: FrameSpec, num_samples: int,
                    seed: int = 0, progress: bool = False) -> np.ndarray:
    """Normalised frames [..., n, frame_dim] -> ``num_samples`` samples [..., num_samples] in [-1, 1] at the
    framer's rate; a frame with NaN or inf is silent."""
    raw = (frames * std + mean).astype(np.float32)
    bad = ~np.isfinite(raw).all(axis=-1)
    if bad.any():
        print(f"warning: {bad.sum()} generated frame(s) held NaN or inf and were made silent", file=sys.stderr)
        raw[bad] = spec.silence
    with np.errstate(over="ignore", invalid="ignore"):
        audio = spec.to_samples(raw, num_samples, seed, progress)
    return np.clip(np.nan_to_num(audio), -1.0, 1.0)  # nan_to_num: overflow in the inverse FFT stays out, too


def write_clips(model: WaveLSTM, windows: Windows, spec: FrameSpec, count: int, seconds: float, output_name: str,
                seed: int, noise: float = 0.0, temperature: float = 1.0, include_seed: bool = False,
                with_seeds: bool = False, progress: bool = True) -> Clips:
    """Generate ``count`` clips continuing ``seconds`` each as ``{output_name}-{i}.wav`` (44.1 kHz 16-bit).

    ``include_seed``: each file starts with its seed, so a listener hears where the model takes over. The returned
    audio holds the seeds too when ``include_seed`` or ``with_seeds``.
    """
    device = next(model.parameters()).device
    rate = spec.sample_rate
    continuation = math.ceil(seconds * rate)
    started = time.monotonic()
    seeds = torch.from_numpy(pick_seeds(windows, count, np.random.default_rng(seed), spec)).to(device)
    generated = generate_frames(model.eval(), seeds, spec.frames_for(continuation), noise, seed, progress,
                                temperature)
    frames = torch.cat([seeds, generated.to(seeds.dtype)], dim=1) if include_seed else generated
    offset = seeds.shape[1] * spec.hop_size if include_seed else 0
    audio = frames_to_audio(frames.float().cpu().numpy(), windows.mean, windows.std, spec, offset + continuation,
                            seed, progress)
    out_samples = round(seconds * SAMPLE_RATE) + round(offset * SAMPLE_RATE / rate)
    written = exact_length(resample(audio, rate, SAMPLE_RATE), out_samples)  # soxr may be a sample off
    paths = [Path(f"{output_name}-{i}.wav") for i in range(count)]
    manifest = clips_manifest(output_name)
    manifest.unlink(missing_ok=True)  # until every clip is written, the last generation's list would be wrong
    for path, clip in zip(paths, written):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_wav(path, clip)
    write_json(manifest, {"clips": [path.name for path in paths]})
    elapsed = time.monotonic() - started
    print(f"wrote {path_span(paths)} ({count} x {seconds:g} s in {elapsed:.1f} s: {count * seconds / elapsed:.1f}x "
          "real time)")
    if include_seed:
        seed_audio = audio[:, :offset]
    elif with_seeds:
        seed_frames = seeds.float().cpu().numpy()
        seed_audio = frames_to_audio(seed_frames, windows.mean, windows.std, spec, seeds.shape[1] * spec.hop_size,
                                     seed)
    else:
        seed_audio = np.zeros((count, 0), dtype=np.float32)
    return Clips(paths, audio[:, offset:], seed_audio, rate)
