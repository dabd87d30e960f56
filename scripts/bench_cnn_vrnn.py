"""Benchmark: CNN-VRNN (one z per window) and its per-bar VRNN variant on held-out Bach chorales.

Data: every Bach work of music21's corpus written to MIDI (``music21.corpus.getComposer('bach')``), each shifted by
its pickup so that bar lines fall where the piano-roll converter puts them, made once into ``--data``. Files are
split 80/10/10 by a hash of their path; every number is measured on the test files, which no model saw. Each model
trains ``--num-steps`` steps single-threaded, its KL weight reaching max_beta halfway. Reported per model: held-out
BCE per bar against the note-frequency baseline, onset precision / recall / F1 of reconstructions (decoded from the
posterior means at temperature 0), kl_bits, and for ``--songs`` held-out chorales the onset F1 and pitch-class
distance to the song of ``--variations`` variations and of as many prior samples, at two temperatures.

    python scripts/bench_cnn_vrnn.py                     # makes the data on first use (about two minutes)
    python scripts/bench_cnn_vrnn.py --num-steps 50      # a quick look
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from symbolic.examples import beta_rate_for  # noqa: E402
from symbolic.studies.evaluate import evaluate_run  # noqa: E402
from symbolic.studies.variations import make_variations  # noqa: E402
from symbolic.train import train  # noqa: E402
from symbolic.trained_model import TrainedModel  # noqa: E402

CONFIG = "cnn-vrnn"
VARIANTS = {"cnn-vrnn": "vrnn=false", "vrnn-per-bar": "vrnn=true"}
HPARAMS = "data.pitch_range=[36,84]"  # the chorales' four voices (C2-C6) instead of all 88 keys
TEMPERATURES = (0.5, 1.0)


def make_chorales(folder: Path) -> dict[str, int]:
    """Every Bach work of music21's corpus as MIDI in ``folder`` (written, failed)."""
    import music21
    import symusic

    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    counts = {"written": 0, "failed": 0}
    for path in music21.corpus.getComposer("bach"):
        try:
            score = music21.corpus.parse(path)
            target = staging / f"{Path(path).stem.replace('.', '_')}.mid"
            score.write("midi", fp=str(target))
            first = score.parts[0].getElementsByClass("Measure")[0]
            midi = symusic.Score(str(target))
            midi.shift_time(int(round(first.paddingLeft * midi.ticks_per_quarter)), inplace=True)
            midi.dump_midi(str(target))
            counts["written"] += 1
        except Exception as e:  # noqa: BLE001 - a corpus file music21 cannot parse or write is skipped and counted
            print(f"skipped {path}: {e}", file=sys.stderr)
            counts["failed"] += 1
    staging.rename(folder)
    return counts


def song_distances(model: TrainedModel, songs: list[Path], n: int, temperature: float, seed: int) -> dict:
    """Mean onset F1 and pitch-class distance to each song of its variations and of prior samples."""
    torch.manual_seed(seed)
    rows = [make_variations(model, song, n, temperature) for song in songs]

    def mean(key: str, attr: str) -> float:
        return float(np.mean([getattr(d, attr) for r in rows for d in getattr(r, key)]))

    return {"temperature": temperature, "songs": len(songs), "windows": sum(r.n_windows for r in rows),
            **{f"{who}_{attr}": round(mean(key, attr), 4) for who, key in (("variation", "distances"),
                                                                            ("prior", "prior_distances"))
               for attr in ("onset_f1", "pitch_class_distance")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/cnn-vrnn-bench/chorales"))
    parser.add_argument("--run-dir", type=Path, default=Path("/tmp/cnn-vrnn-bench/runs"))
    parser.add_argument("--num-steps", type=int, default=1000)
    parser.add_argument("--hparams", default=HPARAMS, help="overrides for both variants")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--songs", type=int, default=8, help="held-out chorales to vary")
    parser.add_argument("--variations", type=int, default=4, help="variations (and prior samples) per song")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "cnn-vrnn.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    made = make_chorales(args.data) if not args.data.is_dir() else None
    results = {"machine": {"platform": platform.platform(), "threads": args.threads, "torch": torch.__version__},
               "data": {"folder": str(args.data), "made": made}, "num_steps": args.num_steps, "seed": args.seed,
               "models": {}}
    for name in args.variants:
        variant = VARIANTS[name]
        run_dir = args.run_dir / name
        shutil.rmtree(run_dir, ignore_errors=True)
        hparams = ",".join(filter(None, [args.hparams, variant, f"beta_rate={beta_rate_for(args.num_steps):.8g}"]))
        started = time.monotonic()
        train(run_dir, args.data, CONFIG, hparams, num_steps=args.num_steps, val_every=max(args.num_steps // 4, 1),
              progress=False, seed=args.seed, workers=args.threads)
        seconds = time.monotonic() - started
        metrics = evaluate_run(run_dir, args.data, "test", temperature=0.0, progress=False, seed=args.seed)
        model = TrainedModel(run_dir, "cpu")
        _, sources = model.example_windows_and_sources(args.data, "test", progress=False)
        songs = [args.data / rel for rel in sorted(set(sources))[:args.songs]]
        distances = [song_distances(model, songs, args.variations, t, args.seed) for t in TEMPERATURES]
        results["models"][name] = {"hparams": hparams, "train_seconds": round(seconds, 1), "test": metrics,
                                   "variations": distances}
        print(f"{name}: {seconds:.0f} s; test BCE per bar {metrics['bce_per_bar']:.2f} (frequencies "
              f"{metrics['frequency_bce_per_bar']:.2f}), onset F1 {metrics['onset_f1']:.3f} (precision "
              f"{metrics['onset_precision']:.3f}, recall {metrics['onset_recall']:.3f}), kl_bits "
              f"{metrics['kl_bits']:.1f}")
        for row in distances:
            print(f"  T={row['temperature']}: variations onset F1 {row['variation_onset_f1']:.3f} / pitch-class "
                  f"distance {row['variation_pitch_class_distance']:.3f}; prior samples {row['prior_onset_f1']:.3f}"
                  f" / {row['prior_pitch_class_distance']:.3f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
