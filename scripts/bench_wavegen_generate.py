"""Time wavegen generation in one fresh process, through `write_clips` exactly as the CLI calls it; prints JSON.

The model has random weights (generation speed does not depend on their values); seeds come from an existing cache.
The time covers the LSTM steps, the frames' conversion to audio (Griffin-Lim for logmag frames) and the WAV files.

    python scripts/bench_wavegen_generate.py DATASET_DIR CACHE_DIR OUT_DIR --seconds 40 --clips 10 -n 1024 -l 4 \
        [--framer stft --features logmag --frame-size 1024 --hop-size 256]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from wavegen.dataset import Windows  # noqa: E402
from wavegen.framer import FEATURES, FRAMERS, FrameSpec  # noqa: E402
from wavegen.generate import write_clips  # noqa: E402
from wavegen.preprocess import prepare  # noqa: E402
from wavegen.cli import HYPOTHESES  # noqa: E402
from wavegen.train import build_model, model_hparams  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("cache", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("-n", type=int, default=1024)
    parser.add_argument("-l", type=int, default=4)
    parser.add_argument("--hypotheses", type=int, default=HYPOTHESES)
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--framer", choices=FRAMERS, default="stft")
    parser.add_argument("--features", choices=FEATURES, default="logmag")
    parser.add_argument("--frame-size", type=int, default=2048, help="stft FFT size, or the block size for blocks")
    parser.add_argument("--hop-size", type=int, default=512)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = (FrameSpec.blocks(args.frame_size) if args.framer == "blocks"
            else FrameSpec("stft", args.features, 22050, args.frame_size, args.hop_size))
    prepared = prepare(args.dataset, args.cache, spec, progress=False)
    mean, std = prepared.normalisation()
    torch.manual_seed(0)
    model = build_model(model_hparams(spec, args.n, args.l, args.hypotheses))
    windows = Windows(prepared.frames(), 128 if args.framer == "stft" else 40, 40, mean, std)
    started = time.perf_counter()
    write_clips(model, windows, spec, args.clips, args.seconds, str(args.out_dir / "clip"), seed=0, progress=False)
    elapsed = time.perf_counter() - started
    print(json.dumps({"seconds_per_clip": args.seconds, "clips": args.clips, "hidden": args.n, "layers": args.l,
                      "hypotheses": args.hypotheses,
                      "frames": spec.describe(),
                      "threads": torch.get_num_threads(), "wall_s": elapsed,
                      "realtime_factor": args.clips * args.seconds / elapsed,
                      "realtime_factor_per_clip": args.seconds / elapsed}))


if __name__ == "__main__":
    main()
