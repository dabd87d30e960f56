"""Benchmark: files per second to prepare 2-bar melody windows, and peak memory against the number of files.

Two folders of real MIDI, made once from music21's corpus (``--make-data``; needs music21, and abc2midi for the
folk tunes): every Essen folk song (short monophonic tunes, all meters) and multi-part works (string quartets,
madrigals, orchestral movements) rendered to multi-track General MIDI. For each folder it times

* the conversion path alone (read -> split at time changes -> quantise -> extract -> window -> encode), in one
  process and in a pool of worker processes (files in chunks), which is what Magenta's figures measure;
* the whole ``prepare`` (content hashes, per-file arrays, manifest, packed splits), with 1 and N workers;

and the peak RSS of ``prepare`` on N and 4N files, each in a fresh process. Magenta's note_seq path on this machine
class: about 545 files/s on short folk tunes, 20 files/s on multi-track General MIDI; the target is 5x that.

    python scripts/bench_midi_prepare.py --make-data /tmp/midi-bench   # once
    python scripts/bench_midi_prepare.py --data /tmp/midi-bench
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_rss import TreeRssSampler  # noqa: E402
from symbolic.data.converters import MelodyConverter  # noqa: E402
from symbolic.data.midi_io import find_midi_files, read_score  # noqa: E402
from symbolic.data.prepare import prepare  # noqa: E402

MAGENTA_FILES_PER_S = {"folk": 545.0, "multitrack": 20.0}
TARGET_FACTOR = 5.0
CONVERTER = MelodyConverter(slice_bars=2)  # no program filter: every pitched track is extracted (more work)
MULTIPART_COMPOSERS = ("beethoven", "haydn", "mozart", "schumann_robert", "monteverdi", "weber", "joplin", "handel",
                       "verdi", "schubert", "corelli", "cpebach")
MULTITRACK_MIDI = ("midi/testPrimitive/test04.mid", "omr/k525MIDIMvt1.mid")  # sequenced GM files music21 ships


# ------------------------------------------------------------------------------------------------ making the data
def make_folk(out: Path) -> None:
    """Every Essen folk song of music21's corpus as one MIDI file each (abc2midi)."""
    from music21 import corpus

    out.mkdir(parents=True, exist_ok=True)
    for abc in sorted(Path(corpus.getComposer("essenFolksong")[0]).parent.glob("*.abc")):
        with tempfile.TemporaryDirectory() as tmp:  # abc2midi writes <stem><X number>.mid beside its input
            shutil.copy(abc, tmp)
            subprocess.run(["abc2midi", abc.name, "-quiet", "-silent"], cwd=tmp, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
            for produced in Path(tmp).glob("*.mid"):
                shutil.move(produced, out / f"{abc.stem}_{produced.stem[len(abc.stem):]}.mid")


def make_multitrack(out: Path) -> None:
    """Multi-part works of music21's corpus written as multi-track General MIDI files, plus its sequenced GM files."""
    import music21
    from music21 import corpus

    out.mkdir(parents=True, exist_ok=True)
    for rel in MULTITRACK_MIDI:
        shutil.copy(Path(music21.__file__).parent / rel, out / Path(rel).name)
    for path in sorted({str(p) for c in MULTIPART_COMPOSERS for p in corpus.getComposer(c)}):
        if Path(path).suffix not in (".mxl", ".xml", ".krn"):
            continue
        target = out / (Path(path).relative_to(corpus.getComposer("bach")[0].parents[1]).with_suffix("")
                        .as_posix().replace("/", "_") + ".mid")
        if target.exists():
            continue
        try:
            score = corpus.parse(path)
            if len(score.parts) >= 3:
                score.write("midi", fp=str(target))
        except Exception as e:  # a few corpus encodings do not parse; they are simply not part of the set
            print(f"skipped {path}: {type(e).__name__}: {e}", file=sys.stderr)


# --------------------------------------------------------------------------------------------------- measuring
def convert(path: Path) -> int:
    """Windows of one file (0 for a skipped one): the conversion path alone."""
    try:
        return len(CONVERTER.encode(read_score(path), str(path)).windows)
    except Exception:
        return 0


def cpu_seconds() -> float:
    """CPU time used so far by this process and its finished children (the pool workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def rates(files: int, seconds: float, cpu: float) -> dict:
    """Wall-clock files per second, and files per CPU second (what one dedicated core gives, whatever the load)."""
    return {"seconds": round(seconds, 3), "files_per_s": round(files / seconds, 1),
            "cpu_seconds": round(cpu, 3), "files_per_cpu_s": round(files / cpu, 1)}


def time_conversion(files: list[Path], workers: int) -> dict:
    """Files per second of the conversion path, in-process or in a pool of ``workers`` processes."""
    start, cpu = time.perf_counter(), cpu_seconds()
    if workers == 1:
        windows = sum(map(convert, files))
    else:
        with ProcessPoolExecutor(workers) as pool:
            windows = sum(pool.map(convert, files, chunksize=max(1, len(files) // (workers * 16))))
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    return {"workers": workers, "files": len(files), "windows": windows, **rates(len(files), seconds, cpu)}


def time_prepare(folder: Path, workers: int) -> dict:
    """Files per second of a full ``prepare`` into a fresh folder, then of a second, all-reused run."""
    out = Path(tempfile.mkdtemp(prefix="bench-prepared-"))
    try:
        start, cpu = time.perf_counter(), cpu_seconds()
        result = prepare(CONVERTER, folder, out, workers=workers, progress=False)
        first, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        start = time.perf_counter()
        prepare(CONVERTER, folder, out, workers=workers, progress=False)
        again = time.perf_counter() - start
    finally:
        shutil.rmtree(out)
    return {"workers": workers, "files": result.files_found, "windows": sum(result.windows.values()),
            "skipped": len(result.skipped), **rates(result.files_found, first, cpu),
            "reconcile_unchanged_s": round(again, 3)}


def peak_rss_mib(folder: Path, count: int, workers: int) -> float:
    """Peak RSS (MiB) of ``prepare`` on ``count`` files of ``folder`` (repeated under new names when it has fewer),
    summed over the main process and its workers, sampled every 10 ms in a fresh process."""
    out = subprocess.run([sys.executable, __file__, "--rss-probe", str(folder), str(count), str(workers)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def rss_probe(folder: Path, count: int, workers: int) -> None:
    """Prepare ``count`` files of ``folder`` while a thread samples the RSS of this process tree; print the peak."""
    files = find_midi_files(folder)
    src, out = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
    for i in range(count):
        (src / f"{i:06d}_{files[i % len(files)].name}").symlink_to(files[i % len(files)])
    try:
        with TreeRssSampler(os.getpid()) as rss:
            prepare(CONVERTER, src, out, workers=workers, progress=False)
    finally:
        shutil.rmtree(out)
        shutil.rmtree(src)
    print(round(rss.peak / 2 ** 20, 1))


def folder_facts(files: list[Path]) -> dict:
    """Size of the material: files, tracks and notes per file."""
    tracks = notes = 0
    for path in files:
        score = read_score(path)
        tracks += sum(1 for t in score.tracks if t.note_num())
        notes += score.note_num()
    return {"files": len(files), "tracks_per_file": round(tracks / len(files), 1),
            "notes_per_file": round(notes / len(files), 1),
            "mean_bytes": round(sum(p.stat().st_size for p in files) / len(files))}


def spin(n: int) -> int:
    """Pure CPU work for the calibration."""
    return sum(i * i for i in range(n))


def parallel_calibration(workers: int) -> float:
    """Speed-up of ``workers`` processes over one on pure CPU work: how many cores the machine has free now."""
    jobs = [2_000_000] * (2 * workers)
    start = time.perf_counter()
    list(map(spin, jobs))
    serial = time.perf_counter() - start
    with ProcessPoolExecutor(workers) as pool:
        start = time.perf_counter()
        list(pool.map(spin, jobs))
        parallel = time.perf_counter() - start
    return round(serial / parallel, 2)


def fastest(runs: list[dict]) -> dict:
    """The run with the most files per second (the others were slowed by whatever else used the machine)."""
    return max(runs, key=lambda run: run["files_per_s"])


def bench(kind: str, folder: Path, workers: int, repeat: int) -> dict:
    files = find_midi_files(folder)
    single = fastest([time_conversion(files, 1) for _ in range(repeat)])
    parallel = fastest([time_conversion(files, workers) for _ in range(repeat)])
    prep_single = fastest([time_prepare(folder, 1) for _ in range(repeat)])
    prep_parallel = fastest([time_prepare(folder, workers) for _ in range(repeat)])
    n = len(files) // 4 if len(files) >= 400 else len(files)  # small folders: 4N repeats each file four times
    anchor = MAGENTA_FILES_PER_S[kind]
    return {
        "material": folder_facts(files),
        "conversion": {"single": single, "parallel": parallel},
        "prepare": {"single": prep_single, "parallel": prep_parallel},
        "peak_rss_mib": {"files_n": n, "n": peak_rss_mib(folder, n, workers),
                         "files_4n": 4 * n, "4n": peak_rss_mib(folder, 4 * n, workers),
                         "4n_repeats_files": 4 * n > len(files)},
        "magenta_files_per_s": anchor,
        "speedup_vs_magenta": {"conversion_single": round(single["files_per_s"] / anchor, 1),
                               "conversion_parallel": round(parallel["files_per_s"] / anchor, 1),
                               "prepare_single": round(prep_single["files_per_s"] / anchor, 1),
                               "prepare_parallel": round(prep_parallel["files_per_s"] / anchor, 1)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--make-data", type=Path, metavar="DIR", help="write folk/ and multitrack/ under DIR")
    parser.add_argument("--data", type=Path, metavar="DIR", help="folder with folk/ and multitrack/")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the fastest is kept")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/bench_midi_prepare.json"))
    parser.add_argument("--rss-probe", nargs=3, metavar=("DIR", "COUNT", "WORKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_probe:
        rss_probe(Path(args.rss_probe[0]), int(args.rss_probe[1]), int(args.rss_probe[2]))
        return
    if args.make_data:
        make_folk(args.make_data / "folk")
        make_multitrack(args.make_data / "multitrack")
        return
    if not args.data:
        parser.error("give --data DIR (made once with --make-data DIR)")
    results = {"converter": CONVERTER.spec(), "cpu_count": os.cpu_count(), "workers": args.workers,
               "data": str(args.data), "target_factor": TARGET_FACTOR, "repeat": args.repeat,
               "load_average_at_start": os.getloadavg(),
               "parallel_speedup_on_pure_cpu_work": parallel_calibration(args.workers)}
    for kind in ("folk", "multitrack"):
        results[kind] = bench(kind, args.data / kind, args.workers, args.repeat)
        print(kind, json.dumps(results[kind], indent=1), flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1))
    summary = "\n".join(summary_lines(results))
    args.output.with_suffix(".md").write_text(summary + "\n")
    print(summary)
    print(f"written {args.output} and {args.output.with_suffix('.md')}")


def summary_lines(results: dict) -> list[str]:
    """A short table: files/s against Magenta's anchor and the 5x target, and peak RSS at N and 4N files."""
    lines = [f"load average at start: {results['load_average_at_start']}; {results['workers']} processes run pure "
             f"CPU work {results['parallel_speedup_on_pure_cpu_work']}x faster than one",
             "| material | path | workers | files/s (wall) | x Magenta | target met | files per CPU-s |",
             "|---|---|---|---|---|---|---|"]
    for kind in ("folk", "multitrack"):
        r = results[kind]
        target = r["magenta_files_per_s"] * results["target_factor"]
        for path in ("conversion", "prepare"):
            for mode in ("single", "parallel"):
                row = r[path][mode]
                lines.append(f"| {kind} | {path} | {row['workers']} | {row['files_per_s']} | "
                             f"{row['files_per_s'] / r['magenta_files_per_s']:.1f} | "
                             f"{'yes' if row['files_per_s'] >= target else 'NO'} | {row['files_per_cpu_s']} |")
    for kind in ("folk", "multitrack"):
        rss = results[kind]["peak_rss_mib"]
        lines.append(f"peak RSS of prepare, {kind}: {rss['n']} MiB at {rss['files_n']} files, "
                     f"{rss['4n']} MiB at {rss['files_4n']} files")
    return lines


if __name__ == "__main__":
    main()
