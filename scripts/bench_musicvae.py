"""Benchmark: held-out accuracy of MusicVAE on real folk melodies, trained on a CPU in bounded time.

Data: every Essen folk song of music21's corpus rendered to MIDI with abc2midi (made once into ``--data`` with
scripts/bench_midi_prepare.py's ``make_folk``), prepared once per converter; files are split 80/10/10 by a hash of
their path, and every number below is measured on the test files, which no model saw.

1. A 2-bar melody model (cat-mel_2bar_small, reduced sizes: the example's) trained for a fixed time or number of
   steps: teacher-forced and sampled accuracy, and how alike 100 prior samples are to the test windows.
2. hierdec-mel_16bar and flat-mel_16bar with the same reduced sizes and the same number of steps: the paper's claim
   is that the hierarchical decoder beats the flat one on 16-bar melodies.

"Sampled" accuracy decodes freely (argmax) from the posterior mean; ``majority_accuracy`` is what predicting the
most frequent event (hold) everywhere scores, for scale. Results go to ``--output`` as JSON and a summary is printed.

    python scripts/bench_musicvae.py                      # makes the data on first use (needs abc2midi)
    python scripts/bench_musicvae.py --minutes-2bar 1 --steps-16bar 20   # a quick look
    python scripts/bench_musicvae.py --steps-2bar 9000 --steps-16bar 0    # the 2-bar model alone, KL schedule
                                                                          # scaled to its 9000 steps
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
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from bench_midi_prepare import make_folk  # noqa: E402
from symbolic.configs import get_config  # noqa: E402
from symbolic.data.converters import converter_from_spec  # noqa: E402
from symbolic.data.datasets import prepare_dataset  # noqa: E402
from symbolic.data.midi_io import find_midi_files  # noqa: E402
from symbolic.examples import EXAMPLE_HPARAMS, example_hparams  # noqa: E402
from symbolic.studies.evaluate import baselines, evaluate_model, sample_quality  # noqa: E402
from symbolic.train import train  # noqa: E402
from symbolic.trained_model import TrainedModel  # noqa: E402

# Reduced sizes and a learning rate of 3e-3 (Magenta: 1e-3) so that a few hundred steps get somewhere: the 2-bar model
# is the one `midi train --example` trains (scheduled sampling off, see symbolic.train); a time-bounded run cannot
# scale its KL schedule to its length, so it keeps the config's.
SIZES_2BAR = EXAMPLE_HPARAMS
SAMPLES = 100  # prior samples of the 2-bar model compared with the test windows
SIZES_16BAR = "z_size=64,enc_rnn_size=[128],dec_rnn_size=[128],batch_size=32,learning_rate=3e-3"
CONDUCTOR_16BAR = "conductor_rnn_size=[128]"
CHUNK_2BAR = 50  # the time-bounded 2-bar run trains (and validates) in chunks of this many steps


def train_and_evaluate(name: str, hparams: str, prepared: Path, run_dir: Path, chunk: int, seconds: float | None,
                       max_eval: int, samples: int = 0) -> dict:
    """Train ``name`` afresh for ``chunk`` steps (with ``seconds``: in chunks, resuming, until the time is spent),
    then evaluate it on (up to max_eval) test windows."""
    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run, so that the times mean something
    started, steps = time.monotonic(), 0
    while steps == 0 or (seconds is not None and time.monotonic() - started < seconds):
        steps += chunk
        train(run_dir, prepared, name, hparams, num_steps=steps, val_every=chunk, checkpoint_every=chunk,
              log_every=max(chunk // 5, 1))
    train_s = time.monotonic() - started
    model = TrainedModel(run_dir, device="cpu")
    test = model.example_windows(prepared, "test", progress=False)
    test = test[np.random.default_rng(0).permutation(len(test))[:max_eval]]
    started = time.monotonic()
    metrics = evaluate_model(model, test, temperature=0.0)
    majority = np.bincount(test.reshape(-1)).max() / test.size
    metrics.update(baselines(model.example_windows(prepared, "train", progress=False), test, model.config))
    if samples:
        quality = sample_quality(model, test, samples)
        metrics.update(sample_overlap=quality["overlap"], sample_ceiling=quality["ceiling"],
                       sample_features=quality["features"])
    return {"config": name, "hparams": hparams, "steps": steps, "train_seconds": round(train_s, 1),
            "seconds_per_step": round(train_s / steps, 3), "eval_seconds": round(time.monotonic() - started, 1),
            "majority_accuracy": float(majority), **metrics}


def prepare(name: str, data: Path, work: Path) -> tuple[Path, dict]:
    """The prepared folder of the config's converter (shared by configs with the same data spec) and its counts."""
    converter = converter_from_spec(get_config(name).data)
    folder = work / f"prepared-{converter.name}-{converter.seq_len}"
    result = prepare_dataset(converter, data, folder).result
    return folder, {"windows": result.windows, "files": result.files}


def summary(results: dict) -> list[str]:
    """One line per model: steps, time, held-out accuracies against the majority baseline (per bar for 16 bars)."""
    lines = [f"Essen folk songs, held-out test files; {results['threads']} CPU thread(s)"]
    for key, row in results["models"].items():
        bars = "  per bar (sampled): " + " ".join(f"{a:.2f}" for a in row["bar_sampled_accuracy"]) \
            if len(row["bar_sampled_accuracy"]) > 2 else ""
        lines.append(f"{key:8} {row['steps']:5d} steps {row['train_seconds']:7.0f} s  "
                     f"teacher-forced {row['accuracy']:.3f}  sampled {row['sampled_accuracy']:.3f}  "
                     f"(majority {row['majority_accuracy']:.3f}, {row['n_sequences']} test windows){bars}")
        if "sample_overlap" in row:
            lines.append(f"{'':8} prior samples overlap the test windows at {row['sample_overlap']:.3f} "
                         f"(real vs real {row['sample_ceiling']:.3f})")
    return lines


def main() -> None:
    """Make or reuse the data, train and evaluate the three models, write the JSON and print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "benchmarks" / "results" / "essen-midi",
                        help="folder of Essen MIDI files (made when missing)")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "results" / "musicvae",
                        help="prepared data (reused) and run dirs (trained afresh)")
    parser.add_argument("--minutes-2bar", type=float, default=6.0, help="training time of the 2-bar model")
    parser.add_argument("--steps-2bar", type=int, help="train the 2-bar model this many steps instead, with its KL "
                                                        "schedule scaled to them")
    parser.add_argument("--hparams-2bar", help=f"overrides of the 2-bar model (default: {SIZES_2BAR})")
    parser.add_argument("--steps-16bar", type=int, default=150,
                        help="steps of each of the two 16-bar models (0: skip them)")
    parser.add_argument("--max-eval", type=int, default=1000, help="test windows evaluated per model at most")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: steady on a busy machine)")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "bench_musicvae.json")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    if not args.data.is_dir() or not find_midi_files(args.data):
        make_folk(args.data)
    results = {"machine": platform.processor() or platform.machine(), "threads": args.threads,
               "midi_files": len(find_midi_files(args.data)), "data": {}, "models": {}}
    mel2, results["data"]["2bar"] = prepare("cat-mel_2bar_small", args.data, args.work)
    hparams_2bar = args.hparams_2bar or (example_hparams(args.steps_2bar) if args.steps_2bar else SIZES_2BAR)
    runs = [("2bar", "cat-mel_2bar_small", hparams_2bar, mel2, args.steps_2bar or CHUNK_2BAR,
             None if args.steps_2bar else 60 * args.minutes_2bar)]
    if args.steps_16bar:
        mel16, results["data"]["16bar"] = prepare("hierdec-mel_16bar", args.data, args.work)
        runs += [("hierdec", "hierdec-mel_16bar", f"{SIZES_16BAR},{CONDUCTOR_16BAR}", mel16, args.steps_16bar, None),
                 ("flat", "flat-mel_16bar", SIZES_16BAR, mel16, args.steps_16bar, None)]
    for key, name, hparams, prepared, chunk, seconds in runs:
        results["models"][key] = train_and_evaluate(name, hparams, prepared, args.work / f"run-{key}", chunk,
                                                    seconds, args.max_eval, SAMPLES if key == "2bar" else 0)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1))
    print("\n".join(summary(results)))
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
