"""What the `music-composer midi` commands share: flag types and options, and loading a run's model and writing
what it generates (MIDI, optionally piano-roll PNGs and WAVs). Torch-free at import, like every cli module."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from engine.arguments import device_name, number, positive_int, seed_value
from engine.paths import check_writable_folder
from symbolic.defaults import DEFAULT_TEMPERATURE

if TYPE_CHECKING:
    import pretty_midi

    from symbolic.render import OutputFiles
    from symbolic.trained_model import TrainedModel

temperature = number(float, 0.0, "a finite number >= 0")
MAX_OUTPUTS = 10_000  # files one command writes into one folder at most
LISTED_OUTPUTS = 16  # up to this many outputs each path is printed; more get a progress bar and the summary only
FOR_MORE = f"{MAX_OUTPUTS} (for more, run the command again with another --output-dir)"
num_outputs = number(int, 1, f"from 1 to {FOR_MORE}", below=MAX_OUTPUTS + 1)
num_samples = number(int, 0, f"from 0 to {MAX_OUTPUTS}", below=MAX_OUTPUTS + 1)
num_points = number(int, 2, f"from 2 (the endpoints) to {FOR_MORE}", below=MAX_OUTPUTS + 1)


def add_compute_options(parser: argparse.ArgumentParser) -> None:
    """--device and --threads, the same in every command that runs a model."""
    parser.add_argument("--device", type=device_name, default="auto",
                        help="auto (CUDA when available, else CPU), cpu, mps, cuda or cuda:N")
    parser.add_argument("--threads", type=positive_int, metavar="N",
                        help="CPU threads of the model's computations (default: OMP_NUM_THREADS, else the CPUs "
                             "this process may use less those busy with other work)")


def add_micro_batch_option(parser: argparse.ArgumentParser) -> None:
    """--micro-batch, the same in every command that trains."""
    parser.add_argument("--micro-batch", type=positive_int, metavar="N",
                        help="examples per forward pass, their gradients accumulated to the config's batch (default: "
                             "the whole batch when the memory estimate finds room for it, else the largest part "
                             "that fits)")


def generation_parser(subparsers: argparse._SubParsersAction, name: str, help_text: str,
                      description: str = "") -> argparse.ArgumentParser:
    """A subcommand that loads a run's model and writes MIDI files (and optionally PNGs and WAVs)."""
    p = subparsers.add_parser(name, help=help_text, description=f"{help_text[0].upper()}{help_text[1:]}. {description}")
    p.add_argument("--run-dir", required=True, type=Path, metavar="DIR", help="a run dir written by `midi train`")
    p.add_argument("--output-dir", required=True, type=Path, metavar="DIR")
    p.add_argument("--temperature", type=temperature, default=DEFAULT_TEMPERATURE,
                   help="sampling temperature (0: most likely token)")
    p.add_argument("--png", action="store_true", help="also draw a piano roll of each file")
    p.add_argument("--wav", action="store_true", help="also render each file to audio")
    p.add_argument("--seed", type=seed_value,
                   help="random seed, for repeatable output (default: none, new output each run)")
    add_compute_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def load_model(args: argparse.Namespace) -> TrainedModel:
    """The run's model, after checking the output folder; the generator seeded after loading when --seed is given, so
    the seed alone decides the outputs (as in the studio, which loads a model once and seeds every job)."""
    import torch

    from symbolic.trained_model import TrainedModel
    check_writable_folder(args.output_dir, "--output-dir")
    model = TrainedModel(args.run_dir, args.device)
    if args.seed is not None:
        torch.manual_seed(args.seed)
    return model


def write_outputs(args: argparse.Namespace, model: TrainedModel, mode: str, n: int,
                  batches: Iterable[list[pretty_midi.PrettyMIDI]],
                  beside: tuple[pretty_midi.PrettyMIDI, str] | None = None, earlier: Sequence[OutputFiles] = ()) -> int:
    """Write the n outputs as their batches are decoded; list them when few, else show progress; then a summary.

    ``beside`` = (midi, title) is drawn above each output's piano roll; the summary counts in the files of the
    ``earlier`` outputs the command wrote into the same folder.
    """
    from tqdm import tqdm

    from symbolic.render import OutputFiles
    outputs = OutputFiles(args.output_dir, f"{model.config_name}_{mode}", n, png=args.png, wav=args.wav,
                          beside=beside)
    listed = n <= LISTED_OUTPUTS
    with tqdm(total=n, desc="writing", unit="file", disable=listed or args.no_progress, file=sys.stderr) as bar:
        for batch in batches:
            for midi in batch:
                paths = outputs.write(midi)
                if listed:
                    print(*paths, sep="\n")
                bar.update()
    print(outputs.summary(*earlier))
    return 0
