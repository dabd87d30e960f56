"""The model commands of `music-composer midi`: train, evaluate, sample, interpolate, reconstruct, attribute.

They serve every model family: a run dir's checkpoint names its config and family, and a command the family cannot
do (interpolating with a language model) fails in one line. Each command parses its flags and calls the library
(symbolic.train, symbolic.evaluate, symbolic.trained_model, symbolic.attributes, symbolic.render); every command
that writes MIDI can add a piano-roll PNG and a WAV beside it.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import pretty_midi
import torch
from tqdm import tqdm

from engine.arguments import finite_float, number, positive_int, seed_value
from engine.paths import check_writable_folder
from symbolic.attributes import ATTRIBUTES, apply_attribute, attribute_vectors
from symbolic.cli import add_compute_options, temperature
from symbolic.configs import list_configs
from symbolic.evaluate import EVAL_BATCH_SIZE, evaluate_run
from symbolic.render import OutputFiles
from symbolic.train import (DEFAULT_NUM_STEPS, EXAMPLE_CONFIG, EXAMPLE_DATA, EXAMPLE_HPARAMS, EXAMPLE_NUM_STEPS,
                            example_hparams, train)
from symbolic.trained_model import DEFAULT_TEMPERATURE, EXAMPLE_SPLITS, TrainedModel

MAX_OUTPUTS = 10_000  # files one command writes into one folder at most
LISTED_OUTPUTS = 16  # up to this many outputs each path is printed; more get a progress bar and the summary only
FOR_MORE = f"{MAX_OUTPUTS} (for more, run the command again with another --output-dir)"
num_outputs = number(int, 1, f"from 1 to {FOR_MORE}", below=MAX_OUTPUTS + 1)
num_samples = number(int, 0, f"from 0 to {MAX_OUTPUTS}", below=MAX_OUTPUTS + 1)
num_points = number(int, 2, f"from 2 (the endpoints) to {FOR_MORE}", below=MAX_OUTPUTS + 1)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add the model commands to the `midi` command group."""
    _add_train(subparsers)
    _add_evaluate(subparsers)

    p = generation_parser(subparsers, "sample", "generate sequences: decoded from the prior, or a language model run freely")
    p.add_argument("-n", "--num-outputs", type=num_outputs, default=4, metavar="N", help="how many")
    p.set_defaults(run=run_sample)

    p = generation_parser(subparsers, "interpolate",
                           "decode points along the slerp between the latent codes of two MIDI files")
    p.add_argument("--input-midi-1", required=True, type=Path, metavar="A.mid", help="start (its first window)")
    p.add_argument("--input-midi-2", required=True, type=Path, metavar="B.mid", help="end (its first window)")
    p.add_argument("-n", "--num-outputs", type=num_points, default=5, metavar="N", help="points, endpoints included")
    p.set_defaults(run=run_interpolate)

    p = generation_parser(subparsers, "reconstruct", "encode a MIDI file and decode it again")
    p.add_argument("--input-midi", required=True, type=Path, metavar="A.mid", help="song (its first window)")
    p.set_defaults(run=run_reconstruct)

    p = generation_parser(subparsers, "attribute", "move a MIDI file along an attribute vector",
                           "An attribute vector is the mean latent code of the examples' windows highest in the "
                           "attribute minus that of the lowest; it is cached in the run dir and recomputed when the "
                           "examples or the model change.")
    p.add_argument("--examples-path", required=True, type=Path, metavar="DIR",
                   help="MIDI folder or prepared dataset the vectors are computed from")
    p.add_argument("--attribute", required=True, choices=list(ATTRIBUTES))
    p.add_argument("--amount", type=finite_float, default=1.0, metavar="K", help="multiple of the vector to add")
    p.add_argument("--input-midi", required=True, type=Path, metavar="A.mid", help="song (its first window)")
    p.set_defaults(run=run_attribute)


def _add_train(subparsers: argparse._SubParsersAction) -> None:
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
    p.add_argument("--seed", type=seed_value, default=0, help="seed of the initial weights and the training order")
    p.add_argument("--wait", action="store_true",
                   help="if another process is training in --run-dir, wait for it to finish instead of failing")
    add_compute_options(p)
    p.add_argument("--workers", type=positive_int, metavar="N",
                   help="processes converting MIDI (default: one per CPU core)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run_train)


def _add_evaluate(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate", help="held-out metrics of a trained model",
        description="The run's model's metrics on one split of a MIDI folder or prepared dataset, beside the trivial "
                    "baselines of its family: for MusicVAE teacher-forced and sampled accuracy (overall and per "
                    "bar), r_loss, kl_bits and elbo; for the note models cross-entropy per note (per head), its "
                    "bound with the KL and kl_bits.")
    p.add_argument("--run-dir", required=True, type=Path, metavar="DIR")
    p.add_argument("--examples-path", required=True, type=Path, metavar="DIR")
    p.add_argument("--split", choices=EXAMPLE_SPLITS, default="test",
                   help="files to use (test: held out from training; all: every file)")
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
    """The run's model, after checking the output folder and seeding the generator when --seed is given."""
    check_writable_folder(args.output_dir, "--output-dir")
    if args.seed is not None:
        torch.manual_seed(args.seed)
    return TrainedModel(args.run_dir, args.device)


def write_outputs(args: argparse.Namespace, model: TrainedModel, mode: str, n: int,
                  batches: Iterable[list[pretty_midi.PrettyMIDI]],
                  beside: tuple[pretty_midi.PrettyMIDI, str] | None = None, earlier: Sequence[OutputFiles] = ()) -> int:
    """Write the n outputs as their batches are decoded; list them when few, else show progress; then a summary.

    ``beside`` = (midi, title) is drawn above each output's piano roll; the summary counts in the files of the
    ``earlier`` outputs the command wrote into the same folder.
    """
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


def run_train(args: argparse.Namespace) -> int:
    """`midi train`: with --example, the bundled melodies and (unless --config) the small example model."""
    check_writable_folder(args.run_dir, "--run-dir")
    example_defaults = args.example and args.config is None
    num_steps = args.num_steps or (EXAMPLE_NUM_STEPS if args.example else DEFAULT_NUM_STEPS)
    train(args.run_dir, EXAMPLE_DATA if args.example else args.examples_path,
          config_name=EXAMPLE_CONFIG if example_defaults else args.config,
          hparams=",".join(filter(None, [example_hparams(num_steps) if example_defaults else None, args.hparams]))
          or None, num_steps=num_steps, val_every=args.val_every, checkpoint_every=args.checkpoint_every,
          device=args.device, workers=args.workers, progress=not args.no_progress, seed=args.seed, wait=args.wait)
    if os.environ.get("RANK", "0") == "0":  # once, also under torchrun
        print(f"model saved in {args.run_dir}; listen to it with: music-composer midi sample --run-dir "
              f"{shlex.quote(str(args.run_dir))} -n 4 --output-dir samples --png --wav")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """`midi evaluate`: one JSON object, or one metric per line, the sample features as a table and the verdicts."""
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


def run_sample(args: argparse.Namespace) -> int:
    """`midi sample`: decoded and written batch by batch."""
    model = load_model(args)
    return write_outputs(args, model, "sample", args.num_outputs,
                         model.sample_batches(args.num_outputs, args.temperature))


def run_interpolate(args: argparse.Namespace) -> int:
    """`midi interpolate`."""
    model = load_model(args)
    midis = model.interpolate(args.input_midi_1, args.input_midi_2, args.num_outputs, args.temperature)
    return write_outputs(args, model, "interpolate", len(midis), [midis])


def run_reconstruct(args: argparse.Namespace) -> int:
    """`midi reconstruct`."""
    model = load_model(args)
    return write_outputs(args, model, "reconstruct", 1, [[model.reconstruct(args.input_midi, args.temperature)]])


def run_attribute(args: argparse.Namespace) -> int:
    """`midi attribute`: says how much the attribute moved, then writes the song."""
    model = load_model(args)
    model.require("attribute", "attribute")
    vectors = attribute_vectors(model, args.examples_path, progress=not args.no_progress)
    edit = apply_attribute(model, vectors, args.attribute, args.amount, args.input_midi, args.temperature,
                           source=str(args.examples_path))
    print(f"{args.attribute}: {edit.before:.3f} in {args.input_midi}, {edit.after:.3f} after adding "
          f"{args.amount:g} x its vector (from {vectors.n_windows} windows)")
    return write_outputs(args, model, f"attribute_{args.attribute}{args.amount:+g}", 1, [[edit.midi]])
