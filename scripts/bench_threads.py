"""Wall time of the audio example and of a short MIDI training with torch's default threads (one per core) and with
the count music-composer chooses, on an idle machine and beside one busy process.

    python scripts/bench_threads.py --out threads.json [--repeats 1] [--jobs example,midi]

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

ROOT = Path(__file__).resolve().parents[1]
ENTRY = [sys.executable, str(ROOT / "music_composer.py")]
JOBS = {
    "example": ["--example", "--no-progress"],
    "midi": ["midi", "train", "--example", "--config", "vrash-note", "--num-steps", "20", "--run-dir", "run",
             "--no-progress"],
}


def run_job(args: list[str], threads: int | None) -> dict:
    """One run in a fresh folder: wall seconds, exit code and the thread count the command reported."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    command = ENTRY + args + (["--threads", str(threads)] if threads else [])
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
    chosen = re.search(r"computing with (\d+) thread", done.stderr)
    if done.returncode:
        print(done.stderr[-2000:], file=sys.stderr)
    return {"seconds": round(wall, 2), "rc": done.returncode, "threads": int(chosen.group(1)) if chosen else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="JSON results")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--jobs", default="example,midi", help=f"comma-separated, of {', '.join(JOBS)}")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    results = {"machine": {"cpus": cores, "loadavg_before": os.getloadavg()}, "runs": []}
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
    results["machine"]["loadavg_after"] = os.getloadavg()
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
