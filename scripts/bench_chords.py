"""Chord-conditioned melodies (cat-mel_2bar_med_chords) on Bach chorales, trained on a CPU.

`chorales`: music21's Bach works written to MIDI (bench_midi's make_chorales, made once), their chords inferred from
all four voices; the config trained afresh at reduced sizes for --steps; then the share of melody note time on the
sounding chord's tones: in the data (train and test files), in reconstructions of test windows, in prior samples
under the test windows' chords and under given progressions (each also measured against the progression a tritone
away), and how chord inference agrees with Magenta's own test cases. One sample's piano roll, with its chords
written above it, goes to --png.
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np

from bench_common import RESULTS, add_basics, describe_machine, write_results

CONFIG = "cat-mel_2bar_med_chords"
HPARAMS = "z_size=64,enc_rnn_size=[256],dec_rnn_size=[256,256],batch_size=64"  # Magenta's: 256, [1024], 3 x 512, 512
PROGRESSIONS = ("C G Am F", "Dm G C Am", "Am Dm E Am", "F Bb C F")
# Magenta's chord_inference_test: (case, notes as (pitch, start s, end s), interior frame boundaries, its chords)
TRIADS = [(60, 0, 1), (64, 0, 1), (67, 0, 1), (62, 1, 2), (65, 1, 2), (69, 1, 2), (60, 2, 3), (65, 2, 3),
          (69, 2, 3), (59, 3, 4), (62, 3, 4), (67, 3, 4)]
MAGENTA_CASES = [
    ("testInferChordsForSequence", TRIADS, [1, 2, 3], ["C", "Dm", "F", "G"]),
    ("testInferChordsForSequenceWithBeats",
     [(60, 0, 1.1), (64, 0, 1.1), (67, 0, 1.1), (62, 1.1, 1.9), (65, 1.1, 1.9), (69, 1.1, 1.9), (60, 1.9, 3),
      (65, 1.9, 3), (69, 1.9, 3), (59, 3, 4.5), (62, 3, 4.5), (67, 3, 4.5)], [1.1, 1.9, 3.0], ["C", "Dm", "F", "G"]),
    ("testInferChordsForSequenceAddKeySignatures (keys per frame)",
     TRIADS + [(p, s + 4, e + 4) for p, s, e in [(66, 0, 1), (70, 0, 1), (73, 0, 1), (68, 1, 2), (71, 1, 2),
                                                  (75, 1, 2), (66, 2, 3), (71, 2, 3), (75, 2, 3), (65, 3, 4),
                                                  (68, 3, 4), (73, 3, 4)]], list(range(1, 8)),
     [0, 0, 0, 0, 6, 6, 6, 6]),
]


def magenta_agreement() -> list[dict]:
    """Each of Magenta's inference cases: its expected chords (keys for the key case), ours, and whether they agree."""
    from symbolic.data.chords import frame_pitch_vectors, infer_chords
    rows = []
    for case, notes, boundaries, expected in MAGENTA_CASES:
        pitch, start, end = (np.array(column, float) for column in zip(*notes))
        inferred = infer_chords(frame_pitch_vectors(start, end, pitch.astype(int), np.array(boundaries, float)))
        got = [key if isinstance(expected[0], int) else chord for key, chord in inferred]
        rows.append({"case": case, "expected": expected, "got": got, "agree": got == expected})
    return rows


def rate(on_total: tuple[int, int]) -> float:
    on, total = on_total
    return on / total if total else float("nan")


def chorales(args: argparse.Namespace) -> None:
    """Train, measure, draw (see the module docstring)."""
    import torch

    from bench_midi import make_chorales
    from symbolic.data.converters.lead_sheet import chord_tone_time
    from symbolic.render import write_piano_roll
    from symbolic.studies.evaluate import chord_tone_rates
    from symbolic.train import train
    from symbolic.trained_model import TrainedModel

    torch.set_num_threads(args.threads)
    made = None if args.data.is_dir() else make_chorales(args.data)
    shutil.rmtree(args.run_dir, ignore_errors=True)
    started = time.monotonic()
    train(args.run_dir, args.data, CONFIG, args.hparams, num_steps=args.steps, val_every=args.steps,
          checkpoint_every=args.steps, log_every=max(args.steps // 10, 1), seed=args.seed, progress=False)
    train_s = time.monotonic() - started
    model = TrainedModel(args.run_dir, device="cpu")
    train_windows = model.example_windows(args.data, "train", progress=False)
    test = model.example_windows(args.data, "test", progress=False)
    results = {"machine": describe_machine(args.threads), "config": CONFIG, "hparams": args.hparams,
               "steps": args.steps, "seed": args.seed, "temperature": args.temperature, "train_seconds": round(train_s),
               "chorales_made": made, "windows": {"train": len(train_windows), "test": len(test)},
               "data_rate_train": rate(chord_tone_time(train_windows)),
               "test": chord_tone_rates(model, test, args.samples, args.temperature, args.seed),
               "progressions": {}, "magenta_inference_cases": magenta_agreement()}
    torch.manual_seed(args.seed)
    for text in PROGRESSIONS:
        sampled = model.decode_progression(model.prior_z(args.samples), args.temperature, *model.progression(text))
        results["progressions"][text] = {"rate": rate(chord_tone_time(sampled)),
                                         "tritone_rate": rate(chord_tone_time(sampled, 6))}
        if text == PROGRESSIONS[0]:
            write_piano_roll(model.converter.decode(sampled[0]), args.png,
                             title=f"{CONFIG} (step {args.steps}) over {text}, temperature {args.temperature}")
    print("\n".join(summary(results)))
    write_results(results, args.out)


def summary(results: dict) -> list[str]:
    """The figures in a few lines."""
    test = results["test"]
    lines = [f"{results['config']} ({results['hparams']}), {results['steps']} steps in {results['train_seconds']} s; "
             f"melody note time on the chord's tones:",
             f"  data: train {results['data_rate_train']:.1%}, test {test['chord_tone_rate_data']:.1%}; test "
             f"reconstructions {test['chord_tone_rate_reconstructions']:.1%}; samples under the test chords "
             f"{test['chord_tone_rate_samples']:.1%} (tritone away {test['chord_tone_rate_samples_tritone']:.1%})"]
    lines += [f"  samples over {text}: {row['rate']:.1%} (tritone away {row['tritone_rate']:.1%})"
              for text, row in results["progressions"].items()]
    lines += [f"  Magenta's {row['case']}: {'agrees' if row['agree'] else 'differs'} ({row['got']})"
              for row in results["magenta_inference_cases"]]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("chorales", help="train on Bach chorales; chord-tone rates of data and samples")
    command.add_argument("--data", type=Path, default=RESULTS / "chorales-midi",
                         help="folder of chorale MIDI files (made from music21's corpus when missing)")
    command.add_argument("--run-dir", type=Path, default=RESULTS / "chords-run", help="trained afresh")
    command.add_argument("--steps", type=int, default=600, help="optimizer steps")
    command.add_argument("--hparams", default=HPARAMS, help=f"overrides of {CONFIG} (default: {HPARAMS})")
    command.add_argument("--samples", type=int, default=200, help="samples (and test windows) measured")
    command.add_argument("--temperature", type=float, default=0.5, help="of samples and reconstructions")
    command.add_argument("--png", type=Path, default=Path("/tmp/chords-sample.png"), help="one sample's piano roll")
    add_basics(command, "chords.json", threads=1, seed=True)
    command.set_defaults(run=chorales)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
