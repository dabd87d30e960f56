"""`music-composer studio --workspace DIR`: the local web page over a workspace of trained models (thin: flags, then
studio.server). The web libraries are the optional `studio` extra, imported only here, after the flags are read."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from engine.arguments import device_name, number, positive_float, positive_int
from engine.errors import UserError

DEFAULT_PORT = 8765
LOCAL = ("127.0.0.1", "localhost", "::1")
port_number = number(int, 0, "from 0 (any free port) to 65535", below=65536)


def build_parser() -> argparse.ArgumentParser:
    """The `music-composer studio` parser."""
    p = argparse.ArgumentParser(
        prog="music-composer studio", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="A local web page over a workspace: list its MIDI run dirs and audio checkpoints with their "
                    "curves; sample, interpolate, vary and move songs along attributes; generate audio clips. Every "
                    "result shows its piano roll or spectrogram, plays in the page and downloads; every action shows "
                    "the command that does the same. Reads and writes only inside the workspace (results go to "
                    "WORKSPACE/studio/).")
    p.add_argument("--workspace", required=True, type=Path, metavar="DIR", help="folder of run dirs and checkpoints")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (another than this machine's own "
                                                       "lets other machines use the studio)")
    p.add_argument("--port", type=port_number, default=DEFAULT_PORT, help="port (0: any free one)")
    p.add_argument("--max-upload-mb", type=positive_float, default=5.0, metavar="MB", help="largest MIDI upload")
    p.add_argument("--device", type=device_name, default="auto", help="auto, cpu, mps, cuda or cuda:N")
    p.add_argument("--threads", type=positive_int, metavar="N", help="CPU threads of the models' computations")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, check the extra is installed, serve until Ctrl-C; a UserError prints one line and exits 2."""
    args = build_parser().parse_args(argv)
    try:
        try:
            from studio.server import serve
        except ImportError as e:
            raise UserError(f"the studio needs its extra ({e.name} is missing): pip install 'music-composer[studio]' "
                            "(from a clone: pip install -e '.[studio]')") from e
        from engine.threads import configure_threads
        from studio.actions import Studio
        studio = Studio(args.workspace, args.device, args.max_upload_mb)
        configure_threads(args.threads)
        if args.host not in LOCAL:
            print(f"warning: listening on {args.host}: anyone who can reach this machine can use the studio, read "
                  "the workspace's results and run models on it", file=sys.stderr)
        serve(studio, args.host, args.port)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0
