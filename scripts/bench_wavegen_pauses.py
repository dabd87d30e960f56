"""How much of the Fréchet distance wavegen's evaluation measures is the music's pauses; prints and writes JSON.

The log-mel frames of quiet moments (phrase-end decays, the gaps between pieces: frames whose loudest band is under
wavegen.evaluate.QUIET_DB, -40 dB) lie far from those of sounding music, so they carry much of the held-out music's
variance. This scores the whole training part of the music against the held-out tails twice, with and without its
quiet frames, beside the frozen-spectrum reference, and so gives the best "progress" a generator that never pauses
could reach. The music is read as training and evaluation read it: silences longer than --max-silence (the gaps
between pieces) shortened; `--max-silence off` measures it with them. Clips given with --clips are counted too (the
fraction of their frames that are quiet; every evaluation reports it as well).

    python scripts/bench_wavegen_pauses.py DATA_DIR [--clips 'out/clip-*.wav'] [--val-fraction 0.1]
                                           [--max-silence SECONDS|off]
"""
from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine.errors import UserError  # noqa: E402
from wavegen.audio import MAX_SILENCE, AudioReader, find_audio_files  # noqa: E402
from wavegen.cli import silence_limit  # noqa: E402
from wavegen.evaluate import (EVAL_RATE, QUIET_DB, HeldOut, Music, frechet_distance, frozen_spectrum,  # noqa: E402
                              log_mel, quiet_frames)

RESULT = REPO / "benchmarks" / "results" / "wavegen-pauses.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--clips", help="a glob of generated clips whose quiet frames to count")
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--max-silence", type=silence_limit, default=MAX_SILENCE)
    args = parser.parse_args()
    files = find_audio_files(args.data_dir) if args.data_dir.is_dir() else []
    if not files:
        raise SystemExit(f"error: no audio files in {args.data_dir}")
    held_out, train = HeldOut(), []

    def add(part: np.ndarray, tail: np.ndarray | None) -> None:
        train.append(log_mel(part))
        if tail is not None:
            held_out.add(tail)

    try:
        Music.load(files, args.val_fraction, args.max_silence).each_part(add)
    except UserError as e:
        raise SystemExit(f"error: {args.data_dir}: {e}") from None
    train = np.concatenate(train)
    tails = held_out.gaussian()
    frozen_audio = frozen_spectrum(held_out.spectrum, 3, 10 * EVAL_RATE, np.random.default_rng(0))
    frozen = frechet_distance(np.concatenate([log_mel(a) for a in frozen_audio]), tails)
    whole = frechet_distance(train, tails)
    without = frechet_distance(train[~quiet_frames(train)], tails)
    result = {"data": str(args.data_dir), "quiet_db": QUIET_DB, "max_silence": args.max_silence,
              "quiet_fraction": {"tails": held_out.quiet_fraction,
                                 "train": float(quiet_frames(train).mean())},
              "frechet": {"train_vs_tails": whole, "train_without_quiet_vs_tails": without,
                          "frozen_spectrum": frozen},
              "progress_ceiling_without_pauses": (frozen - without) / (frozen - whole)}
    if args.clips:
        clips = []
        for path in sorted(glob.glob(args.clips)):
            with AudioReader(Path(path), EVAL_RATE) as reader:
                clips.append(log_mel(reader.samples()))
        result["quiet_fraction"]["clips"] = [float(quiet_frames(c).mean()) for c in clips]
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=1))
    q, d = result["quiet_fraction"], result["frechet"]
    print(f"quiet frames (loudest band under {QUIET_DB:g} dB): {q['tails']:.1%} of the held-out tails, "
          f"{q['train']:.1%} of the training part" + (f", clips {', '.join(f'{c:.1%}' for c in q['clips'])}"
                                                       if "clips" in q else ""))
    print(f"Fréchet to the tails: the whole training part {d['train_vs_tails']:.0f}, without its quiet frames "
          f"{d['train_without_quiet_vs_tails']:.0f}, frozen spectrum {d['frozen_spectrum']:.0f}: music that never "
          f"pauses comes at most {result['progress_ceiling_without_pauses']:.0%} of the way")
    print(f"results: {RESULT}")


if __name__ == "__main__":
    main()
