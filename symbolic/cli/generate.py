"""`music-composer midi sample`, `interpolate`, `reconstruct`, `attribute` and `variations`: MIDI from a run's model.

They serve every model family: a run dir's checkpoint names its config and family, and a command the family cannot
do (interpolating with a language model) fails in one line. Each parses its flags, loads the model
(symbolic.trained_model) and writes every MIDI file it makes, optionally with a piano-roll PNG and a WAV beside it
(symbolic.render).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from engine.arguments import finite_float
from symbolic.cli.common import generation_parser, load_model, num_outputs, num_points, write_outputs
from symbolic.defaults import ATTRIBUTE_NAMES

if TYPE_CHECKING:
    from symbolic.studies.variations import Distance


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add the generation commands to the `midi` command group."""
    p = generation_parser(subparsers, "sample",
                          "generate sequences: decoded from the prior, or a language model run freely")
    p.add_argument("-n", "--num-outputs", type=num_outputs, default=4, metavar="N", help="how many")
    add_chords_option(p, "each sample plays over them", "none; chord-conditioned models need them")
    p.set_defaults(run=run_sample)

    p = generation_parser(subparsers, "interpolate",
                          "decode points along the slerp between the latent codes of two MIDI files")
    p.add_argument("--input-midi-1", required=True, type=Path, metavar="A.mid", help="start (its first window)")
    p.add_argument("--input-midi-2", required=True, type=Path, metavar="B.mid", help="end (its first window)")
    p.add_argument("-n", "--num-outputs", type=num_points, default=5, metavar="N", help="points, endpoints included")
    add_chords_option(p, "every point plays over them", "A's chords")
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
    p.add_argument("--attribute", required=True, choices=ATTRIBUTE_NAMES)
    p.add_argument("--amount", type=finite_float, default=1.0, metavar="K", help="multiple of the vector to add")
    p.add_argument("--input-midi", required=True, type=Path, metavar="A.mid", help="song (its first window)")
    p.set_defaults(run=run_attribute)

    p = generation_parser(
        subparsers, "variations", "decode variations of a whole song around its latent codes",
        "Every window of the song is encoded in order; each variation draws z = mu + T * sigma * eps per window, "
        "decodes it at temperature T and stitches the windows back into one song. The song as the model reads it "
        "is written too (…_variations-input…), and the summary gives each variation's onset F1 and pitch-class "
        "distance to it, beside those of prior samples of the same length as the reference.")
    p.add_argument("--input-midi", required=True, type=Path, metavar="SONG.mid", help="the song (all its windows)")
    p.add_argument("-n", "--num-outputs", type=num_outputs, default=4, metavar="N", help="how many variations")
    p.set_defaults(run=run_variations)


def add_chords_option(parser: argparse.ArgumentParser, what: str, default: str) -> None:
    """--chords of a chord-conditioned model's commands."""
    parser.add_argument("--chords", metavar="\"C G Am F\"",
                        help=f"chord progression, one chord per half bar (a longer one than the model's window is "
                             f"decoded window by window and stitched): {what} (default: {default})")


def run_sample(args: argparse.Namespace) -> int:
    """`midi sample`: decoded and written batch by batch."""
    model = load_model(args)
    return write_outputs(args, model, "sample", args.num_outputs,
                         model.sample_batches(args.num_outputs, args.temperature, chords=args.chords))


def run_interpolate(args: argparse.Namespace) -> int:
    """`midi interpolate`."""
    model = load_model(args)
    midis = model.interpolate(args.input_midi_1, args.input_midi_2, args.num_outputs, args.temperature, args.chords)
    return write_outputs(args, model, "interpolate", len(midis), [midis])


def run_reconstruct(args: argparse.Namespace) -> int:
    """`midi reconstruct`."""
    model = load_model(args)
    return write_outputs(args, model, "reconstruct", 1, [[model.reconstruct(args.input_midi, args.temperature)]])


def run_attribute(args: argparse.Namespace) -> int:
    """`midi attribute`: says how much the attribute moved, then writes the song."""
    from symbolic.studies.attributes import apply_attribute, attribute_vectors
    model = load_model(args)
    model.require("attribute", "attribute")
    vectors = attribute_vectors(model, args.examples_path, progress=not args.no_progress)
    edit = apply_attribute(model, vectors, args.attribute, args.amount, args.input_midi, args.temperature,
                           source=str(args.examples_path))
    print(f"{args.attribute}: {edit.before:.3f} in {args.input_midi}, {edit.after:.3f} after adding "
          f"{args.amount:g} x its vector (from {vectors.n_windows} windows)")
    return write_outputs(args, model, f"attribute_{args.attribute}{args.amount:+g}", 1, [[edit.midi]])


def run_variations(args: argparse.Namespace) -> int:
    """`midi variations`: the input's files, the variations' files, then the distances."""
    from symbolic.render import OutputFiles, counted
    from symbolic.studies.variations import Distance, make_variations
    model = load_model(args)
    result = make_variations(model, args.input_midi, args.num_outputs, args.temperature)
    song = OutputFiles(args.output_dir, f"{model.config_name}_variations-input", 1, png=args.png, wav=args.wav)
    print(*song.write(result.song), sep="\n")
    write_outputs(args, model, "variations", len(result.variations), [result.variations],
                  beside=(result.song, f"{args.input_midi.name} as the model reads it"), earlier=[song])
    silent = f", {result.silent_windows} of them silent (no notes the converter keeps)" if result.silent_windows else ""
    print(f"{args.input_midi}: {counted(result.n_windows, f'{model.description} window')}{silent}; "
          "distance to the song:")
    for k, d in enumerate(result.distances, 1):
        print(f"  variation {k:>3}: {_shown(d)}")
    print(f"  variations (mean): {_shown(Distance.mean(result.distances))}")
    print(f"  prior samples (mean of {len(result.prior_distances)}, the reference): "
          f"{_shown(Distance.mean(result.prior_distances))}")
    return 0


def _shown(d: Distance) -> str:
    return f"onset F1 {d.onset_f1:.3f}, pitch-class distance {d.pitch_class_distance:.3f}"
