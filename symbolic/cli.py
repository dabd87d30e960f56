"""The `music-composer midi ...` command group.

Every command module exposes ``add_commands(subparsers)``, which adds its subcommands to the `midi` group and sets
``run`` (args -> exit code) on each; this module adds `prepare`. ``build_parser`` and ``main`` assemble and run the
group from any list of such functions. Errors a user can fix print one line and exit 2; Ctrl-C prints one line and
exits 130. Flags are typed and range-checked when parsed (the types are the audio command's), and every -h shows
each option's default.
"""
from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.arguments import device_name, number, positive_int
from engine.errors import UserError
from engine.paths import check_writable_folder
from symbolic.converters import CONVERTERS, converter_from_spec
from symbolic.prepare import prepare

temperature = number(float, 0.0, "a finite number >= 0")
INTERRUPTED = "interrupted (the last saved checkpoint and caches are intact)"
EXIT_INTERRUPTED = 130


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: X)" to each option's help; unset (None) defaults and flags are described in their own help."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


def add_compute_options(parser: argparse.ArgumentParser) -> None:
    """--device and --threads, the same in every command that runs a model."""
    parser.add_argument("--device", type=device_name, default="auto",
                        help="auto (CUDA when available, else CPU), cpu, mps, cuda or cuda:N")
    parser.add_argument("--threads", type=positive_int, metavar="N",
                        help="CPU threads of the model's computations (default: OMP_NUM_THREADS, else the CPUs "
                             "this process may use less those busy with other work)")


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
    source.add_argument("--converter", choices=sorted(CONVERTERS), help="converter to use, with the options below")
    p.add_argument("--input", required=True, type=Path, metavar="DIR", help="folder of .mid/.midi/.kar files")
    p.add_argument("--output", required=True, type=Path, metavar="DIR", help="folder of the prepared dataset")
    p.add_argument("--workers", type=positive_int, metavar="N", help="worker processes (default: one per CPU core)")
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
    check_writable_folder(args.output, "--output")
    converter = converter_from_spec(converter_spec(args))
    result = prepare(converter, args.input, args.output, workers=args.workers, progress=not args.no_progress)
    print("\n".join(result.summary()))
    return 0


CommandAdder = Callable[[argparse._SubParsersAction], None]


def build_parser(adders: Sequence[CommandAdder] = (add_commands,)) -> argparse.ArgumentParser:
    """The `music-composer midi` parser with the subcommands every function in ``adders`` adds."""
    parser = argparse.ArgumentParser(prog="music-composer midi", description="MIDI datasets and models.",
                                     formatter_class=DefaultsHelpFormatter)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                       parser_class=functools.partial(argparse.ArgumentParser,
                                                                      formatter_class=DefaultsHelpFormatter))
    for add in adders:
        add(subparsers)
    return parser


def default_adders(argv: Sequence[str]) -> tuple[CommandAdder, ...]:
    """Every `midi` command; `prepare` alone skips loading the model commands, so it never imports torch."""
    if list(argv[:1]) == ["prepare"]:
        return (add_commands,)
    from symbolic.commands import add_commands as add_model_commands
    from symbolic.study_cli import add_commands as add_study_commands
    from symbolic.variations_cli import add_commands as add_variations
    return (add_commands, add_model_commands, add_study_commands, add_variations)


def command_summaries() -> dict[str, str]:
    """Every `midi` command and its one-line help, read from the parser of all commands."""
    parser = build_parser(default_adders([]))
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {action.dest: action.help for action in commands._choices_actions}


def main(argv: Sequence[str] | None = None, adders: Sequence[CommandAdder] | None = None) -> int:
    """Run one `midi` subcommand; a UserError prints ``error: <message>`` and gives exit code 2, Ctrl-C 130."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(adders or default_adders(argv)).parse_args(argv)
    try:
        if hasattr(args, "threads"):  # a command that runs a model
            from engine.threads import configure_threads
            configure_threads(args.threads)
        return args.run(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED
