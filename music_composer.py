"""The `music-composer` command: `music-composer midi …` goes to the MIDI tools, `studio` to the web page (an optional
extra), all else to the WAV pipeline."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Dispatch on the first argument; returns the process exit code. Run as the program (no ``argv``) in a torchrun
    rank that used torch.distributed, it exits here instead (engine.distributed.exit_process says why)."""
    code = dispatch(sys.argv[1:] if argv is None else argv)
    if argv is None and "torch.distributed" in sys.modules:
        from engine import distributed
        if distributed.launched_by_torchrun():
            distributed.exit_process(code)
    return code


def dispatch(argv: list[str]) -> int:
    """Run the command ``argv`` names; returns its exit code."""
    if argv[:1] == ["midi"]:
        from symbolic.cli import main as symbolic_main
        return symbolic_main(argv[1:])
    if argv[:1] == ["studio"]:  # the optional web page; its extra is imported only when it is asked for
        from studio.cli import main as studio_main
        return studio_main(argv[1:])
    from wavegen.cli import main as wavegen_main
    return wavegen_main(argv, midi_commands)


def midi_commands() -> dict[str, str]:
    """Every `music-composer midi` command and its one-line help, as the MIDI parser defines them."""
    from symbolic.cli import command_summaries
    return command_summaries()


if __name__ == "__main__":
    sys.exit(main())
