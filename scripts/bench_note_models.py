"""Benchmark: the VRASH paper's comparison of its three note models on held-out real melodies.

Data: every Essen folk song of music21's corpus rendered to MIDI with abc2midi (``make_folk`` of
scripts/bench_midi_prepare.py), sorted into one sub-folder per region of the collection (Chinese, Irish, Lorraine,
Luxembourg, German-speaking), made once into ``--data``. Files are split 80/10/10 by a hash of their path; every
number is measured on the test files, which no model saw.

`midi compare` trains lm-note, vae-note and vrash-note for the same number of steps (same batch size, same seed) and
reports held-out cross-entropy per note of the untrained model and of each, and the repeated-note rate and
pitch-class entropy of 100 prior samples of each beside the held-out data's; `midi latent-map` then draws the latent
means of the latent models by region. Results go to ``--output`` (JSON) and beside the run dirs (table, PNGs).

    python scripts/bench_note_models.py                       # makes the data on first use (needs abc2midi)
    python scripts/bench_note_models.py --num-steps 50        # a quick look
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from bench_midi_prepare import make_folk  # noqa: E402
from symbolic.studies.compare import compare, write_outputs  # noqa: E402
from symbolic.studies.latent_map import latent_map  # noqa: E402
from symbolic.trained_model import TrainedModel  # noqa: E402

CONFIGS = ("lm-note", "vae-note", "vrash-note")
REGIONS = {"han": "chinese", "irl": "irish", "lot": "lorraine", "lux": "luxembourg"}  # file prefix -> sub-folder
OTHER_REGION = "german"  # every other Essen collection of the corpus (altdeu, ballad, boehme, erk, kinder, ...)


def make_data(folder: Path) -> None:
    """The Essen folk songs as MIDI, one sub-folder per region."""
    flat = folder.with_name(folder.name + "-flat")
    make_folk(flat)
    for path in sorted(flat.glob("*.mid")):
        region = next((name for prefix, name in REGIONS.items() if path.name.startswith(prefix)), OTHER_REGION)
        (folder / region).mkdir(parents=True, exist_ok=True)
        shutil.move(path, folder / region / path.name)
    shutil.rmtree(flat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/note-bench/folk"))
    parser.add_argument("--run-dir", type=Path, default=Path("/tmp/note-bench/runs"))
    parser.add_argument("--num-steps", type=int, default=1500)
    parser.add_argument("--hparams", default=None, help="overrides for all three configs")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "note-models.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.data.is_dir():
        make_data(args.data)
    started = time.monotonic()
    comparison = compare(list(CONFIGS), args.data, args.run_dir, args.num_steps, args.hparams, samples=args.samples,
                         progress=False)
    print(comparison.table())
    outputs = write_outputs(comparison, args.run_dir / "compare")
    maps = {}
    for name in CONFIGS[1:]:
        png = args.run_dir / f"latent-map-{name}.png"
        result = latent_map(TrainedModel(args.run_dir / name), comparison.groups[0].prepared, png, split="test",
                            progress=False)
        print(f"{name}: {result.summary()}")
        maps[name] = {**vars(result), "png": str(png)}
    results = {"machine": {"platform": platform.platform(), "threads": args.threads, "torch": torch.__version__},
               "num_steps": args.num_steps, "hparams": args.hparams, "seconds": round(time.monotonic() - started),
               "comparison": json.loads(comparison.to_json()), "latent_maps": maps,
               "outputs": [str(p) for p in outputs]}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
