#!/usr/bin/env python3
"""`python3 scripts/music-composer.py ...` does exactly what the `music-composer` command does, without installing."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music_composer import main  # noqa: E402  (needs the repository on sys.path)

if __name__ == "__main__":
    sys.exit(main())
