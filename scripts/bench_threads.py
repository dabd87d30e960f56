"""Wall time of the audio example and of a short MIDI training with torch's default threads (one per core) and with
the count music-composer chooses, on an idle machine and beside one busy process; prints each run and writes JSON.

    python scripts/bench_threads.py [--repeats 1] [--jobs example,midi] [--out FILE]

torch's default is run as `--threads <cores>` (what every command did before it chose), the choice as no flag; each
pair runs side by side in the same state of the machine. The busy process is a Python loop spinning on one core.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import MUSIC_COMPOSER, add_basics, describe_machine, run_timed, write_results

JOBS = {
    "example": ["--example", "--no-progress"],
    "midi": ["midi", "train", "--example", "--config", "vrash-note", "--num-steps", "20", "--run-dir", "run",
             "--no-progress"],
}


def run_job(args: list[str], threads: int | None) -> dict:
    """One run in a fresh folder: wall seconds, exit code and the thread count the command reported."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    command = MUSIC_COMPOSER + args + (["--threads", str(threads)] if threads else [])
    with tempfile.TemporaryDirectory() as folder:
        done = run_timed(command, cwd=Path(folder), env=env, check=False)
    chosen = re.search(r"computing with (\d+) thread", done.output)
    if done.returncode:
        print(done.output[-2000:], file=sys.stderr)
    return {"seconds": round(done.wall_s, 2), "rc": done.returncode,
            "threads": int(chosen.group(1)) if chosen else None}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--jobs", default="example,midi", help=f"comma-separated, of {', '.join(JOBS)}")
    add_basics(parser, "threads.json", threads=None)
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0))
    results = {"machine": describe_machine("each run records its own"), "runs": []}
    for load in ("idle", "busy"):
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if load == "busy" else None
        try:
            time.sleep(2.0 if spinner else 0.0)
            for job in args.jobs.split(","):
                for repeat in range(args.repeats):
                    for label, threads in (("torch default", cores), ("chosen", None)):
                        row = {"job": job, "load": load, "threads_flag": label, "repeat": repeat,
                               **run_job(JOBS[job], threads)}
                        print(json.dumps(row), flush=True)
                        results["runs"].append(row)
        finally:
            if spinner:
                spinner.kill()
                spinner.wait()
    write_results(results, args.out)


if __name__ == "__main__":
    main()
