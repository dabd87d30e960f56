"""`music-composer midi train` and `evaluate`: training a config on examples (symbolic.train) and the held-out
metrics of a run's model beside its family's baselines (symbolic.studies.evaluate)."""
from __future__ import annotations

import argparse
import json
import os
import shlex
from pathlib import Path

from engine.arguments import duration, positive_int, seed_value
from engine.paths import check_writable_folder
from symbolic.cli.common import add_compute_options, add_micro_batch_option, num_samples, temperature
from symbolic.configs import list_configs
from symbolic.data.splits import EXAMPLE_SPLITS
from symbolic.defaults import DEFAULT_NUM_STEPS, DEFAULT_TEMPERATURE, EVAL_BATCH_SIZE
from symbolic.examples import EXAMPLE_CONFIG, EXAMPLE_DATA, EXAMPLE_HPARAMS, EXAMPLE_NUM_STEPS, example_hparams


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `train` and `evaluate` to the `midi` command group."""
    p = subparsers.add_parser(
        "train", help="train (or resume) a model",
        description="Train a named config on a folder of MIDI files or a prepared dataset, validating on its held-out "
                    "files every --val-every steps and at the end. A run dir that has a checkpoint is resumed; "
                    "--num-steps counts all steps of the run.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--examples-path", type=Path, metavar="DIR", help="folder of MIDI files or prepared dataset")
    source.add_argument("--example", action="store_true",
                        help=f"train on the bundled real melodies (Ryan's Mammoth Collection fiddle tunes, Bach "
                             f"chorales); without --config a small {EXAMPLE_CONFIG} ({EXAMPLE_HPARAMS}, the KL weight "
                             f"reaching max_beta halfway through the run) for {EXAMPLE_NUM_STEPS} steps")
    p.add_argument("--config", metavar="NAME",
                   help=f"{', '.join(list_configs())} (default: the checkpoint's, when resuming)")
    p.add_argument("--run-dir", required=True, type=Path, metavar="DIR", help="checkpoint, logs and caches")
    p.add_argument("--hparams", metavar="K=V,...",
                   help="config overrides, e.g. z_size=64,dec_rnn_size=[128,128] (default: none)")
    p.add_argument("--num-steps", type=positive_int, metavar="N",
                   help=f"total optimizer steps (default: {DEFAULT_NUM_STEPS}, or {EXAMPLE_NUM_STEPS} with --example)")
    p.add_argument("--val-every", type=positive_int, default=1000, metavar="N", help="steps between validations")
    p.add_argument("--checkpoint-every", type=positive_int, default=500, metavar="N",
                   help="steps between checkpoints")
    p.add_argument("--max-time", type=duration, metavar="DURATION",
                   help="stop after this long (90, 90s, 15m, 1.5h, 2d) with a checkpoint, as Ctrl-C does; the same "
                        "command resumes (default: no limit)")
    add_micro_batch_option(p)
    p.add_argument("--seed", type=seed_value, default=0, help="seed of the initial weights and the training order")
    p.add_argument("--wait", action="store_true",
                   help="if another process is training in --run-dir, wait for it to finish instead of failing")
    add_compute_options(p)
    p.add_argument("--workers", type=positive_int, metavar="N",
                   help="processes converting MIDI (default: one per CPU core)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run_train)

    p = subparsers.add_parser(
        "evaluate", help="held-out metrics of a trained model",
        description="The run's model's metrics on one split of a MIDI folder or prepared dataset, beside the trivial "
                    "baselines of its family: for MusicVAE teacher-forced and sampled accuracy (overall and per "
                    "bar), r_loss, kl_bits and elbo; for the note models cross-entropy per note (per head), its "
                    "bound with the KL and kl_bits.")
    p.add_argument("--run-dir", required=True, type=Path, metavar="DIR")
    p.add_argument("--examples-path", required=True, type=Path, metavar="DIR")
    p.add_argument("--split", choices=EXAMPLE_SPLITS,
                   help="files to use (test: held out from training; all: every file) (default: test, or all for a "
                        "personalised run, whose examples are the songs)")
    p.add_argument("--temperature", type=temperature, default=0.0, help="of the free-running decode (0: argmax)")
    p.add_argument("--batch-size", type=positive_int, default=EVAL_BATCH_SIZE, metavar="N")
    p.add_argument("--seed", type=seed_value, default=0, help="seed of the posterior draws and prior samples")
    p.add_argument("--samples", type=num_samples, default=0, metavar="N",
                   help="also decode N prior samples and compare their musical features with the split's windows "
                        "(0: no samples)")
    p.add_argument("--sample-temperature", type=temperature, default=DEFAULT_TEMPERATURE,
                   help="sampling temperature of those samples")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    add_compute_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run_evaluate)


def run_train(args: argparse.Namespace) -> int:
    """`midi train`: with --example, the bundled melodies and (unless --config) the small example model."""
    from symbolic.train import train
    check_writable_folder(args.run_dir, "--run-dir")
    example_defaults = args.example and args.config is None
    config_name = EXAMPLE_CONFIG if example_defaults else args.config
    num_steps = args.num_steps or (EXAMPLE_NUM_STEPS if args.example else DEFAULT_NUM_STEPS)
    train(args.run_dir, EXAMPLE_DATA if args.example else args.examples_path,
          config_name=config_name,
          hparams=",".join(filter(None, [example_hparams(num_steps) if example_defaults else None, args.hparams]))
          or None, num_steps=num_steps, val_every=args.val_every, checkpoint_every=args.checkpoint_every,
          device=args.device, workers=args.workers, progress=not args.no_progress, seed=args.seed, wait=args.wait,
          max_time=args.max_time, micro_batch=args.micro_batch)
    if os.environ.get("RANK", "0") == "0":  # once, also under torchrun
        from symbolic.configs import get_config
        from symbolic.train import resolve_config
        # a resumed run that named no config has its own in the checkpoint
        config = get_config(config_name) if config_name else resolve_config(args.run_dir, None, None)[1]
        chords = ' --chords "C G Am F"' if getattr(config, "chord_depth", 0) else ""  # it samples over chords only
        print(f"model saved in {args.run_dir}; listen to it with: music-composer midi sample --run-dir "
              f"{shlex.quote(str(args.run_dir))} -n 4{chords} --output-dir samples --png --wav")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """`midi evaluate`: one JSON object, or one metric per line, the sample features as a table and the verdicts."""
    from symbolic.studies.evaluate import evaluate_run
    metrics = evaluate_run(args.run_dir, args.examples_path, args.split, args.temperature, args.batch_size,
                           args.device, args.seed, progress=not args.no_progress, samples=args.samples,
                           sample_temperature=args.sample_temperature)
    if args.json:
        print(json.dumps(metrics))
        return 0
    lines = metrics.pop("verdicts")
    features = metrics.pop("sample_features", {})
    for key, value in metrics.items():
        shown = " ".join(f"{v:.4f}" for v in value) if isinstance(value, list) else (
            f"{value:.4f}" if isinstance(value, float) else value)
        print(f"{key:22} {shown}")
    if features:
        print(f"\n{'feature':22} {'overlap':>8} {'ceiling':>8} {'samples':>8} {'data':>8}")
        for name, row in features.items():
            means = [f"{m:8.3f}" if m is not None else f"{'-':>8}" for m in (row["sample_mean"], row["real_mean"])]
            print(f"{name:22} {row['overlap']:8.3f} {row['ceiling']:8.3f} {' '.join(means)}")
    print("\n" + "\n".join(lines))
    return 0
