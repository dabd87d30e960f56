"""`music-composer midi variations`: variations of a whole song from a latent model of any family.

Thin: flags, then ``symbolic.variations.make_variations``; the files are written like every generation command's
(``symbolic.commands``' helpers), with the song as the model reads it written beside them.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from symbolic.commands import generation_parser, load_model, num_outputs, write_outputs
from symbolic.render import OutputFiles, counted
from symbolic.variations import Distance, make_variations


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `variations` to the `midi` command group."""
    p = generation_parser(
        subparsers, "variations", "decode variations of a whole song around its latent codes",
        "Every window of the song is encoded in order; each variation draws z = mu + T * sigma * eps per window, "
        "decodes it at temperature T and stitches the windows back into one song. The song as the model reads it "
        "is written too (…_variations-input…), and the summary gives each variation's onset F1 and pitch-class "
        "distance to it, beside those of prior samples of the same length as the reference.")
    p.add_argument("--input-midi", required=True, type=Path, metavar="SONG.mid", help="the song (all its windows)")
    p.add_argument("-n", "--num-outputs", type=num_outputs, default=4, metavar="N", help="how many variations")
    p.set_defaults(run=run_variations)


def run_variations(args: argparse.Namespace) -> int:
    """`midi variations`: the input's files, the variations' files, then the distances."""
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
    print(f"  variations (mean): {_shown(_mean(result.distances))}")
    print(f"  prior samples (mean of {len(result.prior_distances)}, the reference): "
          f"{_shown(_mean(result.prior_distances))}")
    return 0


def _mean(distances: list[Distance]) -> Distance:
    return Distance(sum(d.onset_f1 for d in distances) / len(distances),
                    sum(d.pitch_class_distance for d in distances) / len(distances))


def _shown(d: Distance) -> str:
    return f"onset F1 {d.onset_f1:.3f}, pitch-class distance {d.pitch_class_distance:.3f}"
