"""`music-composer midi compare` and `latent-map`: studies of models (symbolic.studies) rather than uses of them."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from engine.arguments import duration, positive_int, seed_value
from engine.paths import check_writable_folder
from symbolic.cli.common import add_compute_options, add_micro_batch_option, temperature
from symbolic.configs import list_configs
from symbolic.data.splits import EXAMPLE_SPLITS
from symbolic.defaults import LATENT_MAP_METHODS


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `compare` and `latent-map` to the `midi` command group."""
    p = subparsers.add_parser(
        "compare", help="train several configs under one budget and compare them on held-out files",
        description="Train (or resume) each config for --num-steps in --run-dir/<config>, save the first config's "
                    "untrained model as the baseline row, evaluate every row on the test files (never trained on; "
                    "configs of different converters each on their own windows of the same files) and compare "
                    "prior samples with that data. Rows are grouped by converter and family, each group with its "
                    "baselines and units: figures are compared within a group only. Writes compare.txt, "
                    "compare.json and compare.png (bar charts, one line per group) into --run-dir.")
    p.add_argument("--configs", required=True, metavar="A,B,...",
                   help=f"comma-separated config names: {', '.join(list_configs())}")
    p.add_argument("--examples-path", required=True, type=Path, metavar="DIR",
                   help="folder of MIDI files or prepared dataset")
    p.add_argument("--num-steps", required=True, type=positive_int, metavar="N", help="optimizer steps per config")
    p.add_argument("--max-time", type=duration, metavar="DURATION",
                   help="time budget of each config's training (90, 90s, 15m, 1.5h, 2d): a config that spends it "
                        "stops with a checkpoint and is compared at the step it reached; the same command resumes "
                        "(default: no limit)")
    add_micro_batch_option(p)
    p.add_argument("--run-dir", required=True, type=Path, metavar="DIR", help="one run dir per config, and the table")
    p.add_argument("--hparams", metavar="K=V,...", help="overrides applied to every config (default: none)")
    p.add_argument("--metric", help="metric of the bar chart (default: cross_entropy for the note models, accuracy "
                                    "for MusicVAE, bce_per_bar for cnn-vrnn)")
    p.add_argument("--samples", type=positive_int, default=100, metavar="N", help="prior samples per model")
    p.add_argument("--sample-temperature", type=temperature, default=1.0,
                   help="of those samples (1: each model's own distribution)")
    p.add_argument("--seed", type=seed_value, default=0, help="seed of every model's weights, order and samples")
    add_compute_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run_compare)

    p = subparsers.add_parser(
        "latent-map", help="draw the latent means of a folder's windows in 2-D, coloured by sub-folder",
        description="Encode every window of --examples-path to its posterior mean and draw the means in 2-D (t-SNE "
                    "when scikit-learn is installed, else PCA), one colour per sub-folder; also prints how often "
                    "a window's nearest latent neighbours share its sub-folder, beside chance.")
    p.add_argument("--run-dir", required=True, type=Path, metavar="DIR", help="a run dir of a latent model")
    p.add_argument("--examples-path", required=True, type=Path, metavar="DIR",
                   help="folder of MIDI files (its sub-folders are the colours) or prepared dataset")
    p.add_argument("--png", required=True, type=Path, metavar="FILE.png")
    p.add_argument("--method", choices=LATENT_MAP_METHODS, default="auto",
                   help="auto: tsne with scikit-learn, else pca")
    p.add_argument("--split", choices=EXAMPLE_SPLITS, default="all", help="files to map")
    p.add_argument("--seed", type=seed_value, default=0, help="seed of t-SNE and of the subset of large folders")
    add_compute_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run_latent_map)


def run_compare(args: argparse.Namespace) -> int:
    """`midi compare`: the table on stdout, its three files listed after it."""
    from symbolic.studies.compare import compare, write_outputs
    check_writable_folder(args.run_dir, "--run-dir")
    names = [name.strip() for name in args.configs.split(",") if name.strip()]
    comparison = compare(names, args.examples_path, args.run_dir, args.num_steps, args.hparams, args.metric,
                         args.samples, args.sample_temperature, args.device, args.seed, not args.no_progress,
                         args.max_time, args.micro_batch)
    if os.environ.get("RANK", "0") == "0":  # once, also under torchrun
        print(comparison.table())
        print(*write_outputs(comparison, args.run_dir / "compare"), sep="\n")
    return 0


def run_latent_map(args: argparse.Namespace) -> int:
    """`midi latent-map`: the PNG and a one-line summary."""
    from symbolic.studies.latent_map import latent_map
    from symbolic.trained_model import TrainedModel
    check_writable_folder(args.png.parent, "--png folder")
    result = latent_map(TrainedModel(args.run_dir, args.device), args.examples_path, args.png, args.method,
                        args.split, args.seed, progress=not args.no_progress)
    print(result.summary())
    print(args.png)
    return 0
