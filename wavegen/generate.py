"""Generation: continue random training windows frame by frame, all clips in one batch, and write 16-bit WAVs.

The seed windows run through the model once; after that every new frame is one LSTM step with the state carried
over, so a clip costs O(1) per frame (GRUV re-ran the whole, growing sequence for every frame: quadratic).
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from engine.errors import UserError
from wavegen.audio import SAMPLE_RATE, write_wav
from wavegen.dataset import Windows
from wavegen.frames import frames_to_blocks
from wavegen.model import WaveLSTM


def pick_seeds(windows: Windows, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` random windows, normalised: [count, length + 1, frame_dim].

    Drawn without replacement (distinct windows give distinct clips); only when there are fewer windows than clips
    is a window used again, each as often as the others give or take one.
    """
    if len(windows) == 0:
        raise UserError("no audio to seed generation with: one file must hold at least 2 blocks")
    rounds, rest = divmod(count, len(windows))
    order = [rng.permutation(len(windows)) for _ in range(rounds)] + [rng.choice(len(windows), rest, replace=False)]
    return np.stack([windows[i] for i in np.concatenate(order)])


@torch.inference_mode()
def generate_frames(model: WaveLSTM, seeds: torch.Tensor, num_frames: int, progress: bool = True) -> torch.Tensor:
    """Continue every seed [g, T, frame_dim] by ``num_frames`` predicted frames: [g, num_frames, frame_dim].

    Each step runs the LSTM once on the previous prediction, with the state carried; the predictions are decoded
    to frames all at once at the end (``feedback_layer`` re-encodes them without that round trip).
    """
    mkldnn = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False  # on CPU, oneDNN re-lays out the LSTM weights per call: ~8x slower steps
    try:
        hidden, state = model.lstm(model.encode(seeds))
        feedback = model.feedback_layer()
        last = hidden[:, -1:]
        hiddens = torch.empty(len(seeds), num_frames, last.shape[-1], dtype=last.dtype, device=last.device)
        for i in tqdm(range(num_frames), desc="generating", unit="frame", disable=not progress, file=sys.stderr):
            hiddens[:, i:i + 1] = last
            if i + 1 < num_frames:
                last, state = model.lstm(feedback(last), state)
        return model.decode(hiddens)
    finally:
        torch.backends.mkldnn.enabled = mkldnn


def frames_to_audio(frames: np.ndarray, mean: np.ndarray, std: np.ndarray, num_samples: int) -> np.ndarray:
    """Normalised frames [n, frame_dim] -> ``num_samples`` samples in [-1, 1]; a frame with NaN or inf is silent."""
    raw = (frames * std + mean).astype(np.float32)
    bad = ~np.isfinite(raw).all(axis=-1)
    if bad.any():
        print(f"warning: {bad.sum()} generated frame(s) held NaN or inf and were made silent", file=sys.stderr)
        raw[bad] = 0.0
    audio = frames_to_blocks(raw).reshape(-1)[:num_samples]
    return np.clip(np.nan_to_num(audio), -1.0, 1.0)  # nan_to_num: overflow in the inverse FFT stays out, too


def write_clips(model: WaveLSTM, windows: Windows, mean: np.ndarray, std: np.ndarray, count: int, seconds: float,
                output_name: str, seed: int, progress: bool = True) -> list[Path]:
    """Generate ``count`` clips of exactly ``seconds`` each as ``{output_name}-{i}.wav``; return their paths."""
    device = next(model.parameters()).device
    num_samples = max(1, round(seconds * SAMPLE_RATE))
    started = time.monotonic()
    seeds = torch.from_numpy(pick_seeds(windows, count, np.random.default_rng(seed))).to(device)
    frames = generate_frames(model.eval(), seeds, math.ceil(num_samples / model.config.frame_dim), progress)
    paths = [Path(f"{output_name}-{i}.wav") for i in range(count)]
    for path, clip_frames in zip(paths, frames.float().cpu().numpy()):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_wav(path, frames_to_audio(clip_frames, mean, std, num_samples))
    elapsed = time.monotonic() - started
    print(f"wrote {paths[0]}" + (f" ... {paths[-1]}" if count > 1 else "") +
          f" ({count} x {seconds:g} s in {elapsed:.1f} s: {count * seconds / elapsed:.0f}x real time)")
    return paths
