"""`music-composer midi personalise`: a small VAE of a run's latent codes of a few songs (MidiMe), written as a run dir
that every sampling command reads (symbolic.studies.personalised)."""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from engine.arguments import non_negative_int, positive_float, positive_int, seed_value
from engine.paths import check_writable_folder
from symbolic.cli.common import add_compute_options

STEPS, LATENT_SIZE, BETA = 300, 4, 1.0  # symbolic.personalise.MidiMeConfig's defaults (a test keeps them equal)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `personalise` to the `midi` command group."""
    p = subparsers.add_parser(
        "personalise", help="make a latent model sound like your songs in seconds (MidiMe)",
        description="Cut the songs into the run's windows (as `variations` does), encode them and train a small VAE "
                    "(MidiMe) on their latent codes; --output-dir then holds a run dir that `midi sample`, "
                    "`interpolate`, `variations` and `evaluate` read like any other, its prior draws going through "
                    "the small model into the frozen base decoder. The base run is not copied: it is named by path "
                    "and weights digest, and a personalised run refuses to load when the base has moved or changed.")
    p.add_argument("--run-dir", required=True, type=Path, metavar="DIR", help="a run dir of a latent model")
    p.add_argument("--input-midi", required=True, type=Path, nargs="+", metavar="SONG.mid", help="your songs")
    p.add_argument("--output-dir", required=True, type=Path, metavar="DIR", help="the personalised run dir")
    p.add_argument("--steps", type=positive_int, default=STEPS, metavar="N", help="full-batch Adam steps")
    p.add_argument("--latent-size", type=positive_int, default=LATENT_SIZE, metavar="N",
                   help="latent dimensions of the small VAE")
    p.add_argument("--beta", type=positive_float, default=BETA, help="weight of its KL term")
    p.add_argument("--draws", type=non_negative_int, default=0, metavar="N",
                   help="also train on N draws around each window's posterior mean per step (0: the means only)")
    p.add_argument("--seed", type=seed_value, default=0, help="seed of the small model's weights and draws")
    add_compute_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run_personalise)


def run_personalise(args: argparse.Namespace) -> int:
    """`midi personalise`: one line on what was made, the files, and how to sample from it."""
    from symbolic.personalise import MidiMeConfig
    from symbolic.studies.personalised import personalise, run_dir_summary
    check_writable_folder(args.output_dir, "--output-dir")
    config = MidiMeConfig(latent_size=args.latent_size, beta=args.beta, steps=args.steps, draws=args.draws)
    record = personalise(args.run_dir, args.input_midi, args.output_dir, config, args.seed, args.device,
                         progress=not args.no_progress)
    print(run_dir_summary(record))
    print(*record["files"], sep="\n")
    print(f"sample from it with: music-composer midi sample --run-dir {shlex.quote(str(args.output_dir))} -n 8 "
          "--output-dir samples --png --wav")
    return 0
