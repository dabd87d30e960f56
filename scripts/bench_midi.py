"""The MIDI benchmarks: how fast `midi prepare` is, and how the model families do on held-out real music. Each
question is a subcommand that prints its figures and writes them as JSON.

    python scripts/bench_midi.py prepare --make-data /tmp/midi-bench     # once (needs music21 and abc2midi)
    python scripts/bench_midi.py prepare --data /tmp/midi-bench
    python scripts/bench_midi.py scale [--files 50000] [--folder DIR]       # makes its Lakh-sized folder once
    python scripts/bench_midi.py musicvae [--steps-2bar 7500 --steps-16bar 0] [--minutes-2bar 6] [--threads 1]
    python scripts/bench_midi.py note-models [--num-steps 1500] [--threads 1]
    python scripts/bench_midi.py cnn-vrnn [--num-steps 1000] [--threads 1] [--seed 0]

The music comes from music21's corpus: the Essen folk songs rendered to MIDI with abc2midi, Bach's works and
multi-part works written as MIDI by music21; each benchmark makes its folder on first use. Files are split 80/10/10
by a hash of their path, and every model figure is measured on the test files, which no model saw. The symbolic
library is imported inside each subcommand, so `-h` and making the data load no torch.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np

from bench_common import MUSIC_COMPOSER, RESULTS, add_basics, describe_machine, run_timed, write_results


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


# ------------------------------------------------------------------------------------------------------ prepare
MAGENTA_FILES_PER_S = {"folk": 545.0, "multitrack": 20.0}  # Magenta's note_seq path on this machine class
TARGET_FACTOR = 5.0
MULTIPART_COMPOSERS = ("beethoven", "haydn", "mozart", "schumann_robert", "monteverdi", "weber", "joplin", "handel",
                       "verdi", "schubert", "corelli", "cpebach")
MULTITRACK_MIDI = ("midi/testPrimitive/test04.mid", "omr/k525MIDIMvt1.mid")  # sequenced GM files music21 ships


@lru_cache(maxsize=1)
def melody_converter():
    """2-bar melody windows with no program filter: every pitched track is extracted (more work)."""
    from symbolic.data.converters import MelodyConverter
    return MelodyConverter(slice_bars=2)


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


def convert(path: Path) -> int:
    """Windows of one file (0 for a skipped one): the conversion path alone."""
    from symbolic.data.midi_io import read_score
    try:
        return len(melody_converter().encode(read_score(path), str(path)).windows)
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
    from symbolic.data.prepare import prepare

    out = Path(tempfile.mkdtemp(prefix="bench-prepared-"))
    try:
        start, cpu = time.perf_counter(), cpu_seconds()
        result = prepare(melody_converter(), folder, out, workers=workers, progress=False)
        first, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        start = time.perf_counter()
        prepare(melody_converter(), folder, out, workers=workers, progress=False)
        again = time.perf_counter() - start
    finally:
        shutil.rmtree(out)
    return {"workers": workers, "files": result.files_found, "windows": sum(result.windows.values()),
            "skipped": len(result.skipped), **rates(result.files_found, first, cpu),
            "reconcile_unchanged_s": round(again, 3)}


def peak_rss_mib(folder: Path, count: int, workers: int) -> float:
    """Peak RSS (MiB) of ``prepare`` on ``count`` files of ``folder`` (repeated under new names when it has fewer),
    summed over the main process and its workers, in a fresh process."""
    timed = run_timed([sys.executable, __file__, "prepare-files", str(folder), str(count), str(workers)])
    return round(timed.peak_rss_tree_mb, 1)


def prepare_files(args: argparse.Namespace) -> None:
    """The process `peak_rss_mib` measures: prepare ``count`` files of ``folder``."""
    from symbolic.data.midi_io import find_midi_files
    from symbolic.data.prepare import prepare

    files = find_midi_files(args.folder)
    src, out = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
    for i in range(args.count):
        (src / f"{i:06d}_{files[i % len(files)].name}").symlink_to(files[i % len(files)])
    try:
        prepare(melody_converter(), src, out, workers=args.workers, progress=False)
    finally:
        shutil.rmtree(out)
        shutil.rmtree(src)


def folder_facts(files: list[Path]) -> dict:
    """Size of the material: files, tracks and notes per file."""
    from symbolic.data.midi_io import read_score

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


def bench_folder(kind: str, folder: Path, workers: int, repeat: int) -> dict:
    """Conversion alone and the whole `prepare`, with 1 and ``workers`` processes; peak RSS on N and 4N files."""
    from symbolic.data.midi_io import find_midi_files

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


def prepare_benchmark(args: argparse.Namespace) -> None:
    """Files per second of `prepare` on folk/ and multitrack/ against Magenta's anchor (or, with --make-data, make
    those two folders)."""
    if args.make_data:
        make_folk(args.make_data / "folk")
        make_multitrack(args.make_data / "multitrack")
        return
    if not args.data:
        raise SystemExit("error: give --data DIR (made once with --make-data DIR)")
    results = {"machine": describe_machine(f"1 per process, {args.workers} worker processes"),
               "converter": melody_converter().spec(), "workers": args.workers, "data": str(args.data),
               "target_factor": TARGET_FACTOR, "repeat": args.repeat,
               "parallel_speedup_on_pure_cpu_work": parallel_calibration(args.workers)}
    for kind in ("folk", "multitrack"):
        results[kind] = bench_folder(kind, args.data / kind, args.workers, args.repeat)
        print(kind, json.dumps(results[kind], indent=1), flush=True)
    summary = "\n".join(prepare_summary(results))
    print(summary)
    write_results(results, args.out)
    args.out.with_suffix(".md").write_text(summary + "\n")


def prepare_summary(results: dict) -> list[str]:
    """A short table: files/s against Magenta's anchor and the 5x target, and peak RSS at N and 4N files."""
    lines = [f"load average at start: {results['machine']['loadavg_before']}; {results['workers']} processes run "
             f"pure CPU work {results['parallel_speedup_on_pure_cpu_work']}x faster than one",
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


# ------------------------------------------------------------------------------------------------------- scale
SCALE_CONFIG = "cat-mel_2bar_small"  # its 2-bar melody converter prepares the folder the training then reads
SCALE_TRAIN_HPARAMS = "z_size=32,enc_rnn_size=[64],dec_rnn_size=[64],batch_size=64"
SCALE_TRAIN_STEPS = 20
SCALE_TARGETS = {"time_ratio": 4.6, "peak_rss_ratio": 1.5, "rerun_fraction": 0.10, "manifest_load_s": 1.0}


def scale_bases(folder: Path) -> list[Path]:
    """The MIDI files copies are made from: the bundled melodies, music21's MIDI files and every Essen folk song."""
    import music21

    from symbolic.data.midi_io import find_midi_files

    folk = folder / "bases" / "folk"
    if not folk.is_dir():
        make_folk(folk.with_name("folk.partial"))
        folk.with_name("folk.partial").rename(folk)
    return (find_midi_files(Path(__file__).resolve().parents[1] / "symbolic" / "examples" / "melodies")
            + find_midi_files(Path(music21.__file__).parent) + find_midi_files(folk))


def write_variants(base: Path, first: int, count: int, out: Path) -> int:
    """Copies ``first`` .. ``first + count - 1`` of one file, each transposed and tempo-scaled its own way, written
    with mido under ``out/<first hex digit>/<md5>.mid`` as Lakh lays its files out; returns how many were written."""
    import mido

    try:
        midi = mido.MidiFile(base)
    except Exception:  # noqa: BLE001 - a base mido cannot read gives no copies
        return 0
    notes = [m.note for track in midi.tracks for m in track if m.type in ("note_on", "note_off") and m.channel != 9]
    written = 0
    for k in range(first, first + count):
        shift = (5 * k) % 12 - 5  # transpositions cycle through 12 values, tempo factors through 13: all pairs differ
        if notes and not 0 <= min(notes) + shift <= max(notes) + shift <= 127:
            shift = 0
        factor = 0.7 + 0.05 * (k % 13)
        copy = mido.MidiFile(type=midi.type, ticks_per_beat=midi.ticks_per_beat)
        for i, track in enumerate(midi.tracks):
            messages = [mido.MetaMessage("set_tempo", tempo=round(500_000 * factor), time=0)] if i == 0 else []
            for m in track:
                if m.type in ("note_on", "note_off") and m.channel != 9:
                    m = m.copy(note=m.note + shift)
                elif m.type == "set_tempo":
                    m = m.copy(tempo=min(round(m.tempo * factor), 0xFFFFFF))
                messages.append(m)
            copy.tracks.append(mido.MidiTrack(messages))
        data = io.BytesIO()
        copy.save(file=data)
        name = hashlib.md5(data.getvalue()).hexdigest()
        (out / name[0]).mkdir(parents=True, exist_ok=True)
        (out / name[0] / f"{name}.mid").write_bytes(data.getvalue())
        written += 1
    return written


def make_scale_folder(folder: Path, files: int, workers: int) -> Path:
    """``folder/midi``: at least ``files`` MIDI files (made once, reused while it holds enough)."""
    from symbolic.data.midi_io import find_midi_files

    midi, made = folder / "midi", folder / "made.json"
    if made.exists() and json.loads(made.read_text())["files"] >= files:
        return midi
    shutil.rmtree(midi, ignore_errors=True)
    bases = scale_bases(folder)
    per_base = -(-files * 102 // 100 // len(bases))  # 2 % spare: identical copies of identical bases are one file
    started = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(write_variants, bases, [0] * len(bases), [per_base] * len(bases), [midi] * len(bases),
                      chunksize=16))
    count = len(find_midi_files(midi))
    if count < files:
        raise SystemExit(f"error: only {count} distinct files from {len(bases)} bases; ask for fewer --files")
    made.write_text(json.dumps({"files": count, "bases": len(bases), "copies_per_base": per_base,
                                "seconds": round(time.perf_counter() - started, 1)}) + "\n")
    return midi


def first_files(midi: Path, count: int) -> Path:
    """A folder holding the first ``count`` files of ``midi`` (in path order, subfolders kept) as hard links, or
    ``midi`` itself when that is all of them."""
    from symbolic.data.midi_io import find_midi_files

    files = find_midi_files(midi)
    if count >= len(files):
        return midi
    subset = midi.with_name(f"first-{count}")
    if subset.is_dir() and len(find_midi_files(subset)) == count:
        return subset
    shutil.rmtree(subset, ignore_errors=True)
    for path in files[:count]:
        target = subset / path.relative_to(midi)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target)
    return subset


def timed_prepare(source: Path, out: Path, workers: int | None) -> dict:
    """`midi prepare` of ``source`` into ``out`` in a fresh process: wall time, files/s, peak RSS."""
    from symbolic.data.midi_io import find_midi_files

    command = [*MUSIC_COMPOSER, "midi", "prepare", "--config", SCALE_CONFIG, "--input", str(source), "--output",
               str(out), "--no-progress"] + (["--workers", str(workers)] if workers else [])
    timed = run_timed(command)
    files = len(find_midi_files(source))
    return {"files": files, "wall_s": round(timed.wall_s, 2), "files_per_s": round(files / timed.wall_s, 1),
            "cpu_s": round(timed.cpu_s, 2), "peak_rss_mb": round(timed.peak_rss_mb, 1),
            "peak_rss_tree_mb": round(timed.peak_rss_tree_mb, 1), "summary": timed.output.strip().splitlines()}


def manifest_load_s(prepared: Path) -> dict:
    """Seconds to load the cache's manifest and to open the prepared folder (the best of three)."""
    from engine.cache import SourceCache
    from symbolic.data.prepare import open_prepared, process_file

    params = open_prepared(prepared).params

    def best(load) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            load()
            times.append(time.perf_counter() - started)
        return round(min(times), 3)

    return {"manifest_s": best(lambda: SourceCache(prepared, params, process_file).load_manifest()),
            "open_prepared_s": best(lambda: open_prepared(prepared)),
            "manifest_mb": round((prepared / "manifest.json").stat().st_size / 2 ** 20, 1),
            "prepared_json_mb": round((prepared / "prepared.json").stat().st_size / 2 ** 20, 1)}


def timed_training(prepared: Path, run_dir: Path, threads: int) -> dict:
    """A few steps of `midi train` on a prepared folder in a fresh process: wall time and peak RSS."""
    shutil.rmtree(run_dir, ignore_errors=True)
    timed = run_timed([*MUSIC_COMPOSER, "midi", "train", "--examples-path", str(prepared), "--config", SCALE_CONFIG,
                       "--hparams", SCALE_TRAIN_HPARAMS, "--run-dir", str(run_dir), "--num-steps",
                       str(SCALE_TRAIN_STEPS), "--val-every", str(SCALE_TRAIN_STEPS), "--threads", str(threads),
                       "--no-progress"])
    shutil.rmtree(run_dir, ignore_errors=True)
    return {"steps": SCALE_TRAIN_STEPS, "wall_s": round(timed.wall_s, 2), "peak_rss_mb": round(timed.peak_rss_mb, 1)}


def scale(args: argparse.Namespace) -> None:
    """`midi prepare` on the first quarter of a Lakh-sized folder and on all of it, each in a fresh process (time,
    peak RSS), an unchanged rerun, the time to load the manifest, and a short training on each prepared folder."""
    folder = args.folder or RESULTS / "lakh-scale"
    started = time.perf_counter()
    midi = make_scale_folder(folder, args.files, args.workers or os.cpu_count() or 1)
    made_s = time.perf_counter() - started
    sizes = {"quarter": first_files(midi, args.files // 4), "full": first_files(midi, args.files)}
    results = {"machine": describe_machine(f"prepare: {args.workers or 'default'} workers; training: {args.threads}"),
               "folder": str(folder), "made": json.loads((folder / "made.json").read_text()),
               "folder_seconds": round(made_s, 1), "config": SCALE_CONFIG, "targets": SCALE_TARGETS, "runs": {}}
    for name, source in sizes.items():
        out = folder / f"prepared-{name}"
        shutil.rmtree(out, ignore_errors=True)
        run = {"first": timed_prepare(source, out, args.workers)}
        print(name, json.dumps(run["first"]), flush=True)
        if name == "full":
            run["rerun"] = timed_prepare(source, out, args.workers)
            run["load"] = manifest_load_s(out)
        run["training"] = timed_training(out, folder / f"run-{name}", args.threads)
        print(name, json.dumps({k: v for k, v in run.items() if k != "first"}), flush=True)
        results["runs"][name] = run
    quarter, full = results["runs"]["quarter"], results["runs"]["full"]
    results["ratios"] = {
        "files": round(full["first"]["files"] / quarter["first"]["files"], 2),
        "time_ratio": round(full["first"]["wall_s"] / quarter["first"]["wall_s"], 2),
        "peak_rss_ratio": round(full["first"]["peak_rss_tree_mb"] / quarter["first"]["peak_rss_tree_mb"], 2),
        "rerun_fraction": round(full["rerun"]["wall_s"] / full["first"]["wall_s"], 3),
        "training_peak_rss_ratio": round(full["training"]["peak_rss_mb"] / quarter["training"]["peak_rss_mb"], 2)}
    summary = "\n".join(scale_summary(results))
    print(summary)
    write_results(results, args.out)
    args.out.with_suffix(".md").write_text(summary + "\n")


def scale_summary(results: dict) -> list[str]:
    """The scale figures as a short table, with the targets met or not."""
    quarter, full, ratios = results["runs"]["quarter"], results["runs"]["full"], results["ratios"]
    load, targets = full["load"], results["targets"]
    lines = [f"load average at start {results['machine']['loadavg_before']}; prepare workers: "
             f"{results['machine']['threads']}",
             "| files | prepare s | files/s | peak RSS (tree) MiB | largest process MiB | training peak RSS MiB |",
             "|---|---|---|---|---|---|"]
    for run in (quarter, full):
        first = run["first"]
        lines.append(f"| {first['files']} | {first['wall_s']} | {first['files_per_s']} | {first['peak_rss_tree_mb']} "
                     f"| {first['peak_rss_mb']} | {run['training']['peak_rss_mb']} |")
    met = {True: "met", False: "NOT met"}
    lines += [f"time ratio {ratios['time_ratio']} for {ratios['files']}x the files (target <= {targets['time_ratio']}:"
              f" {met[ratios['time_ratio'] <= targets['time_ratio']]})",
              f"peak RSS ratio {ratios['peak_rss_ratio']} (target <= {targets['peak_rss_ratio']}: "
              f"{met[ratios['peak_rss_ratio'] <= targets['peak_rss_ratio']]})",
              f"unchanged rerun {full['rerun']['wall_s']} s = {ratios['rerun_fraction']:.1%} of the first run "
              f"(target < {targets['rerun_fraction']:.0%}: {met[ratios['rerun_fraction'] < targets['rerun_fraction']]})",
              f"loading the manifest ({load['manifest_mb']} MiB) {load['manifest_s']} s, open_prepared "
              f"({load['prepared_json_mb']} MiB) {load['open_prepared_s']} s",
              f"training peak RSS ratio {ratios['training_peak_rss_ratio']} (full / quarter)"]
    return lines


# ----------------------------------------------------------------------------------------------------- MusicVAE
# Reduced sizes and a learning rate of 3e-3 (Magenta: 1e-3) so that a few hundred steps get somewhere: the 2-bar model
# is the one `midi train --example` trains (scheduled sampling off, see symbolic.train); a time-bounded run cannot
# scale its KL schedule to its length, so it keeps the config's.
SAMPLES = 100  # prior samples of the 2-bar model compared with the test windows
SIZES_16BAR = "z_size=64,enc_rnn_size=[128],dec_rnn_size=[128],batch_size=32,learning_rate=3e-3"
CONDUCTOR_16BAR = "conductor_rnn_size=[128]"
CHUNK_2BAR = 50  # the time-bounded 2-bar run trains (and validates) in chunks of this many steps


def train_and_evaluate(name: str, hparams: str, prepared: Path, run_dir: Path, chunk: int, seconds: float | None,
                       max_eval: int, samples: int = 0) -> dict:
    """Train ``name`` afresh for ``chunk`` steps (with ``seconds``: in chunks, resuming, until the time is spent),
    then evaluate it on (up to max_eval) test windows."""
    from symbolic.studies.evaluate import baselines, evaluate_model, sample_quality
    from symbolic.train import train
    from symbolic.trained_model import TrainedModel

    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run, so that the times mean something
    started, steps = time.monotonic(), 0
    while steps == 0 or (seconds is not None and time.monotonic() - started < seconds):
        steps += chunk
        train(run_dir, prepared, name, hparams, num_steps=steps, val_every=chunk, checkpoint_every=chunk,
              log_every=max(chunk // 5, 1))
    train_s = time.monotonic() - started
    model = TrainedModel(run_dir, device="cpu")
    test = model.example_windows(prepared, "test", progress=False)
    test = test[np.random.default_rng(0).permutation(len(test))[:max_eval]]
    started = time.monotonic()
    metrics = evaluate_model(model, test, temperature=0.0)
    majority = np.bincount(test.reshape(-1)).max() / test.size
    metrics.update(baselines(model.example_windows(prepared, "train", progress=False), test, model.config))
    if samples:
        quality = sample_quality(model, test, samples)
        metrics.update(sample_overlap=quality["overlap"], sample_ceiling=quality["ceiling"],
                       sample_features=quality["features"])
    return {"config": name, "hparams": hparams, "steps": steps, "train_seconds": round(train_s, 1),
            "seconds_per_step": round(train_s / steps, 3), "eval_seconds": round(time.monotonic() - started, 1),
            "majority_accuracy": float(majority), **metrics}


def prepared_for(config_name: str, data: Path, work: Path) -> tuple[Path, dict]:
    """The prepared folder of the config's converter (shared by configs with the same data spec) and its counts."""
    from symbolic.configs import get_config
    from symbolic.data.converters import converter_from_spec
    from symbolic.data.datasets import prepare_dataset

    converter = converter_from_spec(get_config(config_name).data)
    folder = work / f"prepared-{converter.name}-{converter.seq_len}"
    result = prepare_dataset(converter, data, folder).result
    return folder, {"windows": result.windows, "files": result.files}


def musicvae(args: argparse.Namespace) -> None:
    """A 2-bar melody model trained for a fixed time or number of steps: teacher-forced and sampled accuracy, and how
    alike 100 prior samples are to the test windows; then hierdec-mel_16bar against flat-mel_16bar with the same
    reduced sizes and steps (the paper's claim: the hierarchical decoder wins on 16-bar melodies)."""
    import torch

    from symbolic.data.midi_io import find_midi_files
    from symbolic.examples import EXAMPLE_HPARAMS, example_hparams

    torch.set_num_threads(args.threads)
    if not args.data.is_dir() or not find_midi_files(args.data):
        make_folk(args.data)
    results = {"machine": describe_machine(args.threads), "midi_files": len(find_midi_files(args.data)),
               "data": {}, "models": {}}
    mel2, results["data"]["2bar"] = prepared_for("cat-mel_2bar_small", args.data, args.work)
    hparams_2bar = args.hparams_2bar or (example_hparams(args.steps_2bar) if args.steps_2bar else EXAMPLE_HPARAMS)
    runs = [("2bar", "cat-mel_2bar_small", hparams_2bar, mel2, args.steps_2bar or CHUNK_2BAR,
             None if args.steps_2bar else 60 * args.minutes_2bar)]
    if args.steps_16bar:
        mel16, results["data"]["16bar"] = prepared_for("hierdec-mel_16bar", args.data, args.work)
        runs += [("hierdec", "hierdec-mel_16bar", f"{SIZES_16BAR},{CONDUCTOR_16BAR}", mel16, args.steps_16bar, None),
                 ("flat", "flat-mel_16bar", SIZES_16BAR, mel16, args.steps_16bar, None)]
    for key, name, hparams, prepared, chunk, seconds in runs:
        results["models"][key] = train_and_evaluate(name, hparams, prepared, args.work / f"run-{key}", chunk,
                                                    seconds, args.max_eval, SAMPLES if key == "2bar" else 0)
    print("\n".join(musicvae_summary(results)))
    write_results(results, args.out)


def musicvae_summary(results: dict) -> list[str]:
    """One line per model: steps, time, held-out accuracies against the majority baseline (per bar for 16 bars).
    "Sampled" accuracy decodes freely (argmax) from the posterior mean; the majority predicts the most frequent event
    (hold) everywhere, for scale."""
    lines = [f"Essen folk songs, held-out test files; {results['machine']['threads']} CPU thread(s)"]
    for key, row in results["models"].items():
        bars = "  per bar (sampled): " + " ".join(f"{a:.2f}" for a in row["bar_sampled_accuracy"]) \
            if len(row["bar_sampled_accuracy"]) > 2 else ""
        lines.append(f"{key:8} {row['steps']:5d} steps {row['train_seconds']:7.0f} s  "
                     f"teacher-forced {row['accuracy']:.3f}  sampled {row['sampled_accuracy']:.3f}  "
                     f"(majority {row['majority_accuracy']:.3f}, {row['n_sequences']} test windows){bars}")
        if "sample_overlap" in row:
            lines.append(f"{'':8} prior samples overlap the test windows at {row['sample_overlap']:.3f} "
                         f"(real vs real {row['sample_ceiling']:.3f})")
    return lines


# -------------------------------------------------------------------------------------------------- note models
NOTE_CONFIGS = ("lm-note", "vae-note", "vrash-note")
REGIONS = {"han": "chinese", "irl": "irish", "lot": "lorraine", "lux": "luxembourg"}  # file prefix -> sub-folder
OTHER_REGION = "german"  # every other Essen collection of the corpus (altdeu, ballad, boehme, erk, kinder, ...)


def make_folk_by_region(folder: Path) -> None:
    """The Essen folk songs as MIDI, one sub-folder per region."""
    flat = folder.with_name(folder.name + "-flat")
    make_folk(flat)
    for path in sorted(flat.glob("*.mid")):
        region = next((name for prefix, name in REGIONS.items() if path.name.startswith(prefix)), OTHER_REGION)
        (folder / region).mkdir(parents=True, exist_ok=True)
        shutil.move(path, folder / region / path.name)
    shutil.rmtree(flat)


def note_models(args: argparse.Namespace) -> None:
    """The VRASH paper's comparison: `midi compare` trains lm-note, vae-note and vrash-note for the same steps (same
    batch size, same seed) and reports held-out cross-entropy per note and the samples' repeated-note rate and
    pitch-class entropy; `midi latent-map` then draws the latent models' means by region."""
    import torch

    from symbolic.studies.compare import compare, write_outputs
    from symbolic.studies.latent_map import latent_map
    from symbolic.trained_model import TrainedModel

    torch.set_num_threads(args.threads)
    if not args.data.is_dir():
        make_folk_by_region(args.data)
    started = time.monotonic()
    comparison = compare(list(NOTE_CONFIGS), args.data, args.run_dir, args.num_steps, args.hparams,
                         samples=args.samples, progress=False)
    print(comparison.table())
    outputs = write_outputs(comparison, args.run_dir / "compare")
    maps = {}
    for name in NOTE_CONFIGS[1:]:
        png = args.run_dir / f"latent-map-{name}.png"
        result = latent_map(TrainedModel(args.run_dir / name), comparison.groups[0].prepared, png, split="test",
                            progress=False)
        print(f"{name}: {result.summary()}")
        maps[name] = {**vars(result), "png": str(png)}
    results = {"machine": describe_machine(args.threads), "num_steps": args.num_steps, "hparams": args.hparams,
               "seconds": round(time.monotonic() - started), "comparison": json.loads(comparison.to_json()),
               "latent_maps": maps, "outputs": [str(p) for p in outputs]}
    write_results(results, args.out)


# ----------------------------------------------------------------------------------------------------- CNN-VRNN
VARIANTS = {"cnn-vrnn": "vrnn=false", "vrnn-per-bar": "vrnn=true"}
CNN_VRNN_HPARAMS = "data.pitch_range=[36,84]"  # the chorales' four voices (C2-C6) instead of all 88 keys
TEMPERATURES = (0.5, 1.0)


def make_chorales(folder: Path) -> dict[str, int]:
    """Every Bach work of music21's corpus as MIDI in ``folder``, each shifted by its pickup so that bar lines fall
    where the piano-roll converter puts them (written, failed)."""
    import music21
    import symusic

    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    counts = {"written": 0, "failed": 0}
    for path in music21.corpus.getComposer("bach"):
        try:
            score = music21.corpus.parse(path)
            target = staging / f"{Path(path).stem.replace('.', '_')}.mid"
            score.write("midi", fp=str(target))
            first = score.parts[0].getElementsByClass("Measure")[0]
            midi = symusic.Score(str(target))
            midi.shift_time(int(round(first.paddingLeft * midi.ticks_per_quarter)), inplace=True)
            midi.dump_midi(str(target))
            counts["written"] += 1
        except Exception as e:  # noqa: BLE001 - a corpus file music21 cannot parse or write is skipped and counted
            print(f"skipped {path}: {e}", file=sys.stderr)
            counts["failed"] += 1
    staging.rename(folder)
    return counts


def song_distances(model, songs: list[Path], n: int, temperature: float, seed: int) -> dict:
    """Mean onset F1 and pitch-class distance to each song of its variations and of prior samples."""
    import torch

    from symbolic.studies.variations import make_variations

    torch.manual_seed(seed)
    rows = [make_variations(model, song, n, temperature) for song in songs]

    def mean(key: str, attr: str) -> float:
        return float(np.mean([getattr(d, attr) for r in rows for d in getattr(r, key)]))

    return {"temperature": temperature, "songs": len(songs), "windows": sum(r.n_windows for r in rows),
            **{f"{who}_{attr}": round(mean(key, attr), 4) for who, key in (("variation", "distances"),
                                                                            ("prior", "prior_distances"))
               for attr in ("onset_f1", "pitch_class_distance")}}


def cnn_vrnn(args: argparse.Namespace) -> None:
    """One z per 8-bar window against a latent per bar on held-out Bach: BCE per bar against the note-frequency
    baseline, onset precision / recall / F1 of reconstructions (posterior means at temperature 0), kl_bits, and for
    --songs held-out chorales the distances of --variations variations and of as many prior samples, at two
    temperatures. Each model trains --num-steps steps, its KL weight reaching max_beta halfway."""
    import torch

    from symbolic.examples import beta_rate_for
    from symbolic.studies.evaluate import evaluate_run
    from symbolic.train import train
    from symbolic.trained_model import TrainedModel

    torch.set_num_threads(args.threads)
    made = make_chorales(args.data) if not args.data.is_dir() else None
    results = {"machine": describe_machine(args.threads), "data": {"folder": str(args.data), "made": made},
               "num_steps": args.num_steps, "seed": args.seed, "models": {}}
    for name in args.variants:
        run_dir = args.run_dir / name
        shutil.rmtree(run_dir, ignore_errors=True)
        hparams = ",".join(filter(None, [args.hparams, VARIANTS[name],
                                         f"beta_rate={beta_rate_for(args.num_steps):.8g}"]))
        started = time.monotonic()
        train(run_dir, args.data, "cnn-vrnn", hparams, num_steps=args.num_steps,
              val_every=max(args.num_steps // 4, 1), progress=False, seed=args.seed, workers=args.threads)
        seconds = time.monotonic() - started
        metrics = evaluate_run(run_dir, args.data, "test", temperature=0.0, progress=False, seed=args.seed)
        model = TrainedModel(run_dir, "cpu")
        _, sources = model.example_windows_and_sources(args.data, "test", progress=False)
        songs = [args.data / rel for rel in sorted(set(sources))[:args.songs]]
        distances = [song_distances(model, songs, args.variations, t, args.seed) for t in TEMPERATURES]
        results["models"][name] = {"hparams": hparams, "train_seconds": round(seconds, 1), "test": metrics,
                                   "variations": distances}
        print(f"{name}: {seconds:.0f} s; test BCE per bar {metrics['bce_per_bar']:.2f} (frequencies "
              f"{metrics['frequency_bce_per_bar']:.2f}), onset F1 {metrics['onset_f1']:.3f} (precision "
              f"{metrics['onset_precision']:.3f}, recall {metrics['onset_recall']:.3f}), kl_bits "
              f"{metrics['kl_bits']:.1f}")
        for row in distances:
            print(f"  T={row['temperature']}: variations onset F1 {row['variation_onset_f1']:.3f} / pitch-class "
                  f"distance {row['variation_pitch_class_distance']:.3f}; prior samples {row['prior_onset_f1']:.3f}"
                  f" / {row['prior_pitch_class_distance']:.3f}")
    write_results(results, args.out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True,
                                     metavar="{prepare,scale,musicvae,note-models,cnn-vrnn}")

    command = commands.add_parser("prepare", help="files per second of `midi prepare`, and its peak memory")
    command.add_argument("--make-data", type=Path, metavar="DIR", help="write folk/ and multitrack/ under DIR")
    command.add_argument("--data", type=Path, metavar="DIR", help="folder with folk/ and multitrack/")
    command.add_argument("--workers", type=int, default=os.cpu_count())
    command.add_argument("--repeat", type=int, default=3, help="runs per measurement; the fastest is kept")
    add_basics(command, "midi-prepare.json", threads=None)
    command.set_defaults(run=prepare_benchmark)

    command = commands.add_parser("scale", help="`midi prepare` on a Lakh-sized folder and on its first quarter")
    command.add_argument("--files", type=int, default=50_000, help="files of the full folder (default 50000)")
    command.add_argument("--folder", type=Path, help="where the folder is made once and reused (default "
                                                      f"{RESULTS.name}/lakh-scale)")
    command.add_argument("--workers", type=int, help="prepare's worker processes (default: prepare's own choice)")
    add_basics(command, "midi-scale.json", threads=1)
    command.set_defaults(run=scale)

    command = commands.add_parser("musicvae", help="MusicVAE on held-out Essen folk melodies, trained on a CPU")
    command.add_argument("--data", type=Path, default=RESULTS / "essen-midi",
                         help="folder of Essen MIDI files (made when missing)")
    command.add_argument("--work", type=Path, default=RESULTS / "musicvae",
                         help="prepared data (reused) and run dirs (trained afresh)")
    command.add_argument("--minutes-2bar", type=float, default=6.0, help="training time of the 2-bar model")
    command.add_argument("--steps-2bar", type=int, help="train the 2-bar model this many steps instead, with its KL "
                                                        "schedule scaled to them")
    command.add_argument("--hparams-2bar", help="overrides of the 2-bar model (default: the example's sizes)")
    command.add_argument("--steps-16bar", type=int, default=150,
                         help="steps of each of the two 16-bar models (0: skip them)")
    command.add_argument("--max-eval", type=int, default=1000, help="test windows evaluated per model at most")
    add_basics(command, "midi-musicvae.json", threads=1)
    command.set_defaults(run=musicvae)

    command = commands.add_parser("note-models", help="the VRASH paper's three note models on held-out folk songs")
    command.add_argument("--data", type=Path, default=Path("/tmp/note-bench/folk"))
    command.add_argument("--run-dir", type=Path, default=Path("/tmp/note-bench/runs"))
    command.add_argument("--num-steps", type=int, default=1500)
    command.add_argument("--hparams", default=None, help="overrides for all three configs")
    command.add_argument("--samples", type=int, default=100)
    add_basics(command, "midi-note-models.json", threads=1)
    command.set_defaults(run=note_models)

    command = commands.add_parser("cnn-vrnn", help="one z per window or a latent per bar, on held-out Bach")
    command.add_argument("--data", type=Path, default=Path("/tmp/cnn-vrnn-bench/chorales"))
    command.add_argument("--run-dir", type=Path, default=Path("/tmp/cnn-vrnn-bench/runs"))
    command.add_argument("--num-steps", type=int, default=1000)
    command.add_argument("--hparams", default=CNN_VRNN_HPARAMS, help="overrides for both variants")
    command.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    command.add_argument("--songs", type=int, default=8, help="held-out chorales to vary")
    command.add_argument("--variations", type=int, default=4, help="variations (and prior samples) per song")
    add_basics(command, "midi-cnn-vrnn.json", threads=1, seed=True)
    command.set_defaults(run=cnn_vrnn)

    # the process `prepare` measures the peak memory of, started fresh for each count
    command = commands.add_parser("prepare-files")
    command.add_argument("folder", type=Path)
    command.add_argument("count", type=int)
    command.add_argument("workers", type=int)
    command.set_defaults(run=prepare_files)

    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
