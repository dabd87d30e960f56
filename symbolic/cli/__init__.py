"""The `music-composer midi ...` command group.

Each module here adds one group of commands with ``add_commands(subparsers)``, which sets ``run`` (args -> exit
code) on each command; ``build_parser`` and ``main`` assemble and run them. The modules import only torch-free
things at module level and the library inside each ``run``, so help and argument errors answer at once. Errors a user
can fix print one line and exit 2; Ctrl-C prints one line and exits 130. Flags are typed and range-checked when
parsed (the types are the audio command's), and every -h shows each option's default.
"""
from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Mapping, Sequence

from engine.errors import UserError
from symbolic.cli import data, generate, personalise, studies, training

INTERRUPTED = "interrupted (the last saved checkpoint and caches are intact)"
EXIT_INTERRUPTED = 130
DESCRIPTION = ("MIDI datasets and models of three families: MusicVAE (melodies, drums, trios), note models (a "
               "language model, a VAE and VRASH over note tokens) and CNN-VRNN (piano rolls).")

CommandAdder = Callable[[argparse._SubParsersAction], None]
COMMAND_GROUPS: dict[str, CommandAdder] = {
    "data": data.add_commands,
    "train & evaluate": training.add_commands,
    "generate": generate.add_commands,
    "personalise": personalise.add_commands,
    "studies": studies.add_commands,
}


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: X)" to each option's help; unset (None) defaults and flags are described in their own help."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


def build_parser(groups: Mapping[str, CommandAdder] = COMMAND_GROUPS) -> argparse.ArgumentParser:
    """The `music-composer midi` parser; its help lists the commands each function of ``groups`` adds under the
    group's title."""
    prog = "music-composer midi"
    parser = argparse.ArgumentParser(prog=prog, usage="%(prog)s [-h] COMMAND ...", description=DESCRIPTION,
                                     formatter_class=DefaultsHelpFormatter)
    # The commands are listed by group below instead of in one list under "positional arguments" (hence the usage
    # line above, and the commands' prog below, which argparse would otherwise derive from that usage line).
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help=argparse.SUPPRESS,
                                       prog=prog, parser_class=functools.partial(argparse.ArgumentParser,
                                                                                 formatter_class=DefaultsHelpFormatter))
    for title, add in groups.items():
        listed = len(subparsers._choices_actions)
        add(subparsers)
        parser.add_argument_group(title)._group_actions.extend(subparsers._choices_actions[listed:])
    return parser


def command_summaries() -> dict[str, str]:
    """Every `midi` command and its one-line help, read from the parser of all commands."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {action.dest: action.help for action in commands._choices_actions}


def main(argv: Sequence[str] | None = None, groups: Mapping[str, CommandAdder] = COMMAND_GROUPS) -> int:
    """Run one `midi` subcommand; a UserError prints ``error: <message>`` and gives exit code 2, Ctrl-C 130."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(groups).parse_args(argv)
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
