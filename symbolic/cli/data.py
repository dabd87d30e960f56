"""`music-composer midi prepare`: a folder of MIDI files into a prepared dataset (symbolic.data.prepare)."""
from __future__ import annotations

import argparse
from pathlib import Path

from engine.arguments import positive_float, positive_int
from engine.errors import UserError
from engine.paths import check_writable_folder
from symbolic.defaults import CONVERTER_KINDS, FILE_SIZE_LIMIT_MB, FILE_TIME_LIMIT_S

CONVERTER_OPTIONS = ("slice_bars", "steps_per_quarter", "steps_per_bar", "program_range", "pitch_range",
                     "seq_len", "hop")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `prepare` to the `midi` command group."""
    p = subparsers.add_parser(
        "prepare", help="convert a folder of MIDI files into a prepared dataset",
        description="Convert every MIDI file under --input into windows in --output. Running it again reuses "
                    "unchanged files and picks up added, changed and removed ones; skipped files are listed with "
                    "their reason.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", metavar="NAME", help="model config whose data spec to use")
    source.add_argument("--converter", choices=sorted(CONVERTER_KINDS),
                        help="converter to use, with the options below")
    p.add_argument("--input", required=True, type=Path, metavar="DIR", help="folder of .mid/.midi/.kar files")
    p.add_argument("--output", required=True, type=Path, metavar="DIR", help="folder of the prepared dataset")
    p.add_argument("--workers", type=positive_int, metavar="N", help="worker processes (default: one per CPU core)")
    p.add_argument("--file-time-limit", type=positive_float, metavar="SECONDS",
                   help="skip a file whose conversion takes longer, stopping its worker process "
                        f"(default: {FILE_TIME_LIMIT_S:g})")
    p.add_argument("--max-file-mb", type=positive_float, metavar="MB",
                   help=f"skip a file larger than this without reading it (default: {FILE_SIZE_LIMIT_MB:g})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    options = p.add_argument_group("converter options (with --converter; unset ones keep the converter's default)")
    converters_default = "(default: the converter's)"
    options.add_argument("--slice-bars", type=positive_int, metavar="N", help=f"bars per window {converters_default}")
    options.add_argument("--steps-per-quarter", type=positive_int, metavar="N",
                         help=f"grid steps per quarter note {converters_default}")
    options.add_argument("--steps-per-bar", type=positive_int, metavar="N",
                         help=f"pianoroll: steps in one bar (16 = 4/4) {converters_default}")
    options.add_argument("--program-range", type=int, nargs=2, metavar=("LOW", "HIGH"),
                         help="melody, pianoroll, notes: only tracks with a General MIDI program in this range "
                              f"{converters_default}")
    options.add_argument("--pitch-range", type=int, nargs=2, metavar=("LOW", "HIGH"),
                         help=f"pianoroll: pitch rows {converters_default}")
    options.add_argument("--seq-len", type=positive_int, metavar="N",
                         help=f"notes: tokens per window {converters_default}")
    options.add_argument("--hop", type=positive_int, metavar="N",
                         help=f"notes: tokens between window starts {converters_default}")
    p.set_defaults(run=run_prepare)


def converter_spec(args: argparse.Namespace) -> dict:
    """The converter spec named by --config (through the model config registry) or built from --converter."""
    given = [name for name in CONVERTER_OPTIONS if getattr(args, name) is not None]
    if args.converter:
        return {"kind": args.converter, **{name: getattr(args, name) for name in given}}
    if given:
        raise UserError(f"--config {args.config} fixes the converter; drop --{given[0].replace('_', '-')}")
    try:
        from symbolic.configs import get_config
    except ImportError:
        raise UserError("--config needs the model config registry (symbolic.configs), which is not available; "
                        "use --converter") from None
    return dict(get_config(args.config).data)


def run_prepare(args: argparse.Namespace) -> int:
    """Prepare the dataset and print what was done, one line per skip reason."""
    from symbolic.data.converters import converter_from_spec
    from symbolic.data.prepare import prepare
    check_writable_folder(args.output, "--output")
    converter = converter_from_spec(converter_spec(args))
    limits = {name: value for name, value in (("time_limit", args.file_time_limit),
                                              ("size_limit_mb", args.max_file_mb)) if value is not None}
    result = prepare(converter, args.input, args.output, workers=args.workers, progress=not args.no_progress,
                     **limits)
    print("\n".join(result.summary()))
    return 0
