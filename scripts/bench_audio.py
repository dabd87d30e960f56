"""The audio benchmarks: what wavegen's clips are worth on music it was not tuned on, and what they cost. Each
question is a subcommand that prints its figures beside issue 10's targets and writes them as JSON.

    python scripts/bench_audio.py data OUT_DIR [--minutes 10] [--composer bach]    # the benchmark music
    python scripts/bench_audio.py quality [--data-dir DIR] [--train-minutes 10] [--threads 1] [--hypotheses K]
    python scripts/bench_audio.py speed [--data-dir DIR] [--seconds 10 40] [--repeats 1]
    python scripts/bench_audio.py cache [--data-dir DIR] [--repeats 5]

The music is Bach chorales from music21's corpus (the defaults were tuned on the bundled minuet, on Palestrina and on
folk songs), rendered into 150 s tracks with fluidsynth when installed; --data-dir keeps the tracks for the next run.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import soundfile as sf

from bench_common import MUSIC_COMPOSER, add_basics, describe_machine, run_timed, write_results
from wavegen.settings import HYPOTHESES, Settings

SAMPLE_RATE = 44100
TRACK_SECONDS = 150.0


def verdict(good: bool) -> str:
    return "PASS" if good else "FAIL"


# ------------------------------------------------------------------------------------------- the benchmark music
def soundfont() -> Path:
    """The richest General MIDI SoundFont available offline."""
    system = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
    if system.is_file():
        return system
    import pretty_midi
    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


def renderer() -> str:
    """Which synthesizer renders the MIDI: 'fluidsynth' (with the SoundFont) or 'pretty_midi' (additive)."""
    return "fluidsynth" if shutil.which("fluidsynth") else "pretty_midi"


def render_score(score) -> np.ndarray:
    """A music21 score as int16 stereo samples [n, 2] at 44.1 kHz."""
    with tempfile.TemporaryDirectory() as tmp:
        midi, wav = Path(tmp) / "piece.mid", Path(tmp) / "piece.wav"
        score.write("midi", fp=str(midi))
        if renderer() == "fluidsynth":
            subprocess.run(["fluidsynth", "-ni", "-q", "-F", str(wav), "-r", str(SAMPLE_RATE), "-T", "wav",
                            "-O", "s16", str(soundfont()), str(midi)], check=True, capture_output=True)
            return sf.read(str(wav), dtype="int16", always_2d=True)[0]
        import pretty_midi
        audio = pretty_midi.PrettyMIDI(str(midi)).synthesize(fs=SAMPLE_RATE)
        audio = 0.9 * audio / max(np.abs(audio).max(), 1e-9)
        return (np.stack([audio, 0.8 * audio], axis=1) * 32767).astype(np.int16)


def render_piece(path: str, max_samples: int) -> np.ndarray:
    """One corpus file as int16 stereo samples [n, 2] at 44.1 kHz: its score, or the scores of a collection (an
    .abc file of many folk songs) back to back until ``max_samples``; a song music21 cannot write as MIDI is named
    and left out."""
    from music21 import corpus, stream
    parsed = corpus.parse(path)
    scores = parsed.scores if isinstance(parsed, stream.Opus) else [parsed]
    rendered, samples = [], 0
    for number, score in enumerate(scores):
        try:
            rendered.append(render_score(score))
        except Exception as e:  # noqa: BLE001 - music21 raises many kinds on odd scores; one song is skippable
            print(f"skipped song {number} of {path}: {e}", file=sys.stderr)
            continue
        samples += len(rendered[-1])
        if samples >= max_samples:
            break
    return np.concatenate(rendered) if rendered else np.empty((0, 2), dtype=np.int16)


def corpus_files(name: str) -> list[Path]:
    """The scores of a composer in music21's corpus, or of a collection (a corpus folder, e.g. essenFolksong)."""
    from music21 import corpus
    found = corpus.getComposer(name) or [p for p in corpus.getPaths() if name in Path(p).parts]
    return [Path(p) for p in found if Path(p).suffix in (".mxl", ".xml", ".krn", ".mid", ".abc")]


def render_tracks(out_dir: Path, minutes: float, track_seconds: float = TRACK_SECONDS, jobs: int = 2,
                  composer: str = "bach") -> list[Path]:
    """Write tracks of exactly ``track_seconds`` (the composer's pieces played back to back, like the songs of an
    album) until ``minutes`` are written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    scores = corpus_files(composer)
    if not scores:
        raise SystemExit(f"music21's corpus has no scores by {composer!r} (a composer or a corpus folder)")
    main_format = Counter(p.suffix for p in scores).most_common(1)[0][0]  # bach: mxl, as earlier results used
    pieces = [str(p) for p in scores if p.suffix == main_format]
    track_len = round(track_seconds * SAMPLE_RATE)
    needed = round(minutes * 60 / track_seconds)
    tracks: list[Path] = []
    buffer = np.empty((0, 2), dtype=np.int16)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for audio in pool.map(partial(render_piece, max_samples=needed * track_len), pieces):
            buffer = np.concatenate([buffer, audio])
            while len(buffer) >= track_len and len(tracks) < needed:
                tracks.append(out_dir / f"track-{len(tracks) + 1:02d}.wav")
                sf.write(tracks[-1], buffer[:track_len], SAMPLE_RATE, subtype="PCM_16")
                buffer = buffer[track_len:]
            if len(tracks) == needed:
                pool.shutdown(cancel_futures=True)
                return tracks
    raise SystemExit(f"the corpus holds only {len(tracks) * track_seconds / 60:.1f} minutes of {composer}")


def chorale_dataset(pool: Path, count: int, folder: Path) -> Path:
    """``folder`` holding links to the first ``count`` chorale tracks of ``pool`` (rendered there when missing)."""
    if len(list(pool.glob("track-*.wav"))) < count:
        print(f"rendering {count * TRACK_SECONDS / 60:g} min of chorales into {pool} with {renderer()} ...",
              file=sys.stderr)
        render_tracks(pool, minutes=count * TRACK_SECONDS / 60)
    folder.mkdir(parents=True)
    for track in sorted(pool.glob("track-*.wav"))[:count]:
        (folder / track.name).symlink_to(track.resolve())
    return folder


def dataset_info(folder: Path) -> dict:
    files = sorted(folder.glob("*.wav"))
    return {"files": len(files), "minutes": sum(sf.info(str(f)).duration for f in files) / 60,
            "bytes": sum(f.stat().st_size for f in files)}


def data(args: argparse.Namespace) -> None:
    tracks = render_tracks(args.out_dir, args.minutes, args.track_seconds, composer=args.composer)
    total = sum(sf.info(str(p)).duration for p in tracks)
    print(f"rendered {len(tracks)} tracks, {total / 60:.1f} min, with {renderer()}", file=sys.stderr)


# ----------------------------------------------------------------------------------------------------- quality
QUALITY_TARGETS = {"val_mse_over_baseline_max": 0.8, "progress_min": 0.8, "movement_vs_music_min": 0.5,
                   "loudness_drift_range": [0.5, 2.0]}


def train(data_dir: Path, work: Path, minutes: float, chunk: int, env: dict, extra: list[str]) -> dict:
    """Train -n 256 -l 2 in chunks of epochs until ``minutes`` of wall time are spent; the last logged metrics."""
    flags = ["-d", str(data_dir), "-t", str(work / "cache"), "--checkpoint", str(work / "model.pt"), "-n", "256",
             "-l", "2", "-g", "0", "--no-progress", *extra]
    run_timed([*MUSIC_COMPOSER, "--preprocess-only", *flags[:4], "--no-progress"], env=env)  # not training time
    epochs, spent = 0, 0.0
    while spent < minutes * 60:
        epochs += chunk
        spent += run_timed([*MUSIC_COMPOSER, *flags, "-e", str(epochs)], env=env).wall_s
        print(f"trained {epochs} epochs in {spent / 60:.1f} min", file=sys.stderr)
    rows = [json.loads(line) for line in (work / "model-logs" / "metrics.jsonl").read_text().splitlines()]
    last = [row for row in rows if "val/mse" in row][-1]
    return {"epochs": epochs, "train_wall_s": spent, "val_mse": last["val/mse"],
            "val_baseline_mse": last["val/baseline_mse"], "train_mse": last.get("train/mse"),
            "val_mse_over_baseline": last["val/mse"] / last["val/baseline_mse"], "flags": flags}


def evaluate_clips(data_dir: Path, work: Path, env: dict, extra: list[str]) -> dict:
    """Three 10 s clips from the trained model, and their evaluation."""
    flags = ["-d", str(data_dir), "-t", str(work / "cache"), "--checkpoint", str(work / "model.pt"), "-n", "256",
             "-l", "2", "-e", "0", "-g", "3", "-s", "10", "--no-progress", "--png", "-o", str(work / "clip"),
             *extra]
    print(run_timed([*MUSIC_COMPOSER, *flags], env=env).output, file=sys.stderr)
    return json.loads((work / "clip-evaluation.json").read_text())


def quality(args: argparse.Namespace) -> None:
    """Train for a fixed wall time, generate three clips, score them against the held-out music."""
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    extra = ["--seed", str(args.seed), *(["--hypotheses", str(args.hypotheses)] if args.hypotheses else [])]
    out = args.out.with_stem(f"{args.out.stem}-hypotheses-{args.hypotheses}") if args.hypotheses else args.out
    results = {"machine": {**describe_machine(args.threads), "renderer": renderer()}, "targets": QUALITY_TARGETS,
               "flags": extra}
    with tempfile.TemporaryDirectory(prefix="bench_audio_quality_") as tmp:
        work = Path(tmp)
        data_dir = chorale_dataset(args.data_dir or work / "tracks", 4, work / "data")
        results["data"] = dataset_info(data_dir)
        results["training"] = train(data_dir, work, args.train_minutes, args.chunk, env, extra)
        results["evaluation"] = evaluate_clips(data_dir, work, env, extra)
    print_quality(results)
    write_results(results, out)


def print_quality(r: dict) -> None:
    """Each number beside its target."""
    t, tr, ev = QUALITY_TARGETS, r["training"], r["evaluation"]
    ratio, most = tr["val_mse_over_baseline"], t["val_mse_over_baseline_max"]
    print(f"training ({r['machine']['threads']} threads): {tr['epochs']} epochs in {tr['train_wall_s'] / 60:.1f} min; "
          f"val/mse {tr['val_mse']:.4f} vs repeat-last-frame {tr['val_baseline_mse']:.4f} = {ratio:.2f}x  "
          f"[<= {most}: {verdict(ratio <= most)}]")
    d = ev["frechet"]
    print(f"Fréchet: clips {d['clips']:.0f}, real {d['real']:.0f}, frozen spectrum {d['frozen_spectrum']:.0f}, "
          f"white noise {d['white_noise']:.0f}: {ev['progress']:.0%} of the way  "
          f"[>= {t['progress_min']:.0%}: {verdict(ev['progress'] >= t['progress_min'])}]")
    low, high = t["loudness_drift_range"]
    for i, clip in enumerate(ev["clips"]):
        moving = clip["movement_vs_music"] is not None and clip["movement_vs_music"] >= t["movement_vs_music_min"]
        print(f"clip {i}: movement {clip['movement_vs_music']:.2f}x the music's [{verdict(moving)}], loudness drift "
              f"x{clip['loudness_drift']:.2f} [{verdict(low <= clip['loudness_drift'] <= high)}]")


# ------------------------------------------------------------------------------------------------------- speed
SPEED_TARGETS = {"realtime_one_clip_min": 1.0, "realtime_ten_clips_min": 5.0, "time_ratio_over_length_ratio_max": 1.1}


def time_generation(args: argparse.Namespace) -> None:
    """In this fresh process: generate through `write_clips` exactly as the CLI calls it, with random weights
    (speed does not depend on their values) and the default framing; print the time as JSON. The time covers the
    LSTM steps, the frames' conversion to audio (Griffin-Lim) and the WAV files."""
    import torch

    from wavegen.dataset import Windows
    from wavegen.generate import write_clips
    from wavegen.preprocess import prepare
    from wavegen.train import build_model, model_hparams

    if args.threads:
        torch.set_num_threads(args.threads)
    settings = Settings()
    spec = settings.frame_spec()
    prepared = prepare(args.dataset, args.cache, spec, progress=False)
    mean, std = prepared.normalisation()
    torch.manual_seed(0)
    model = build_model(model_hparams(spec, args.n, args.l, args.hypotheses))
    windows = Windows(prepared.frames(), settings.sequence_length, settings.stride, mean, std)
    started = time.perf_counter()
    write_clips(model, windows, spec, args.clips, args.seconds, str(args.out_dir / "clip"), seed=0, progress=False)
    elapsed = time.perf_counter() - started
    print(json.dumps({"seconds_per_clip": args.seconds, "clips": args.clips, "hidden": args.n, "layers": args.l,
                      "hypotheses": args.hypotheses, "frames": spec.describe(), "threads": torch.get_num_threads(),
                      "wall_s": elapsed, "realtime_factor": args.clips * args.seconds / elapsed,
                      "realtime_factor_per_clip": args.seconds / elapsed}))


def timed_generation(data_dir: Path, work: Path, seconds: float, clips: int, repeats: int, threads: int | None) -> dict:
    """The fastest of ``repeats`` fresh-process generations at -n 1024 -l 4 (torch's default threads: None)."""
    command = [sys.executable, __file__, "time-generation", str(data_dir), str(work / "cache"), str(work / "clips"),
               "--seconds", str(seconds), "--clips", str(clips), *(["--threads", str(threads)] if threads else [])]
    runs = []
    for _ in range(repeats):
        lines = run_timed(command).output.splitlines()
        runs.append(json.loads(next(line for line in reversed(lines) if line.startswith("{"))))
    return {**min(runs, key=lambda r: r["wall_s"]), "runs_wall_s": [r["wall_s"] for r in runs]}


def speed(args: argparse.Namespace) -> None:
    """One short clip, and 10 short and 10 long clips in one batch, with torch's default threads and with one (on a
    busy machine two OpenMP threads can be slower than one); the better of the two counts for each size."""
    short, long = args.seconds
    sizes = {f"{short:g}s_x1": (short, 1), f"{short:g}s_x10": (short, 10), f"{long:g}s_x10": (long, 10)}
    results = {"machine": describe_machine("each run records its own"), "targets": SPEED_TARGETS}
    with tempfile.TemporaryDirectory(prefix="bench_audio_speed_") as tmp:
        work = Path(tmp)
        data_dir = chorale_dataset(args.data_dir or work / "tracks", 4, work / "data")
        runs = {f"{name}{suffix}": timed_generation(data_dir, work, seconds, clips, args.repeats, threads)
                for suffix, threads in (("", None), ("_1thread", 1)) for name, (seconds, clips) in sizes.items()}
    best = {name: max(runs[name], runs[f"{name}_1thread"], key=lambda r: r["realtime_factor"]) for name in sizes}
    short10, long10 = list(sizes)[1:]
    ratios = [runs[f"{long10}{suffix}"]["wall_s"] / runs[f"{short10}{suffix}"]["wall_s"]
              for suffix in ("", "_1thread")]
    results.update(runs=runs, best=best, time_ratio=min(ratios), time_ratio_per_threads=ratios,
                   length_ratio=long / short)
    print_speed(results, list(sizes))
    write_results(results, args.out)


def print_speed(r: dict, sizes: list[str]) -> None:
    t, best = SPEED_TARGETS, r["best"]
    one, short10, long10 = sizes
    ten = min(best[short10]["realtime_factor"], best[long10]["realtime_factor"])
    most = t["time_ratio_over_length_ratio_max"] * r["length_ratio"]
    print(f"generation -n 1024 -l 4 (best of torch's default threads and 1; load average "
          f"{r['machine']['loadavg_before'][0]:.1f}): 1 clip {best[one]['realtime_factor']:.1f}x real time "
          f"[{verdict(best[one]['realtime_factor'] >= t['realtime_one_clip_min'])}], 10 clips "
          f"{best[short10]['realtime_factor']:.1f}x ({short10}) and {best[long10]['realtime_factor']:.1f}x ({long10}) "
          f"[{verdict(ten >= t['realtime_ten_clips_min'])}], time ratio {long10} / {short10} = {r['time_ratio']:.2f} "
          f"[<= {most:.1f}: {verdict(r['time_ratio'] <= most)}]")
    for name, run in r["runs"].items():
        print(f"  {name}: {run['wall_s']:.1f} s, {run['realtime_factor']:.2f}x ({run['threads']} threads)")


# ------------------------------------------------------------------------------------------------- cache build
CACHE_TARGETS = {"peak_rss_tree_mb_max": 300.0, "rss_growth_4x_max": 1.25}


def build_cache(data_dir: Path, cache: Path) -> dict:
    """One `music-composer --preprocess-only` from an empty cache, as a whole process."""
    shutil.rmtree(cache, ignore_errors=True)
    timed = run_timed([*MUSIC_COMPOSER, "--preprocess-only", "--no-progress", "-d", str(data_dir), "-t", str(cache)])
    shutil.rmtree(cache, ignore_errors=True)
    return {**timed.costs(), "loadavg_1min": os.getloadavg()[0]}


def summarise(runs: list[dict]) -> dict:
    return {"runs": runs, "median_wall_s": statistics.median(r["wall_s"] for r in runs),
            "median_cpu_s": statistics.median(r["cpu_s"] for r in runs),
            "min_wall_s": min(r["wall_s"] for r in runs),
            "max_peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "max_peak_rss_tree_mb": max(r["peak_rss_tree_mb"] for r in runs)}


def cache_build(args: argparse.Namespace) -> None:
    """The cache build of 10 and of 40 minutes of chorales (4 and 16 tracks), interleaved, --repeats times each,
    after one build that warms the page cache and the interpreter."""
    results = {"machine": describe_machine("none: numpy in the CLI's worker processes"), "targets": CACHE_TARGETS}
    with tempfile.TemporaryDirectory(prefix="bench_audio_cache_") as tmp:
        work = Path(tmp)
        pool = args.data_dir or work / "tracks"
        four = chorale_dataset(pool, 16, work / "data-4x")  # first: renders all 16 tracks at once when missing
        datasets = {"1x": chorale_dataset(pool, 4, work / "data-1x"), "4x": four}
        results["datasets"] = {name: dataset_info(folder) for name, folder in datasets.items()}
        build_cache(datasets["1x"], work / "cache")
        runs: dict[str, list[dict]] = {name: [] for name in datasets}
        for i in range(args.repeats):
            print(f"cache builds, round {i + 1}/{args.repeats}", file=sys.stderr)
            for name, folder in datasets.items():
                runs[name].append(build_cache(folder, work / "cache"))
    results.update({name: summarise(r) for name, r in runs.items()})
    results["rss_growth_4x"] = results["4x"]["max_peak_rss_tree_mb"] / results["1x"]["max_peak_rss_tree_mb"]
    print_cache(results)
    write_results(results, args.out)


def print_cache(r: dict) -> None:
    t = CACHE_TARGETS
    for name in ("1x", "4x"):
        d, c = r["datasets"][name], r[name]
        print(f"cache build {name} ({d['minutes']:.1f} min in {d['files']} files): {c['median_wall_s']:.2f} s median "
              f"(best {c['min_wall_s']:.2f}, CPU {c['median_cpu_s']:.2f}); peak RSS {c['max_peak_rss_tree_mb']:.0f} MB "
              f"process tree, {c['max_peak_rss_mb']:.0f} MB largest process")
    peak = max(r["1x"]["max_peak_rss_tree_mb"], r["4x"]["max_peak_rss_tree_mb"])
    flat = r["rss_growth_4x"] <= t["rss_growth_4x_max"]
    print(f"peak RSS <= {t['peak_rss_tree_mb_max']:.0f} MB: {verdict(peak <= t['peak_rss_tree_mb_max'])}; 4x / 1x = "
          f"{r['rss_growth_4x']:.2f}  [<= {t['rss_growth_4x_max']}: {verdict(flat)}]")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{data,quality,speed,cache}")

    command = commands.add_parser("data", help="render corpus pieces into album-like 44.1 kHz stereo WAV tracks")
    command.add_argument("out_dir", type=Path)
    command.add_argument("--minutes", type=float, default=10.0)
    command.add_argument("--track-seconds", type=float, default=TRACK_SECONDS)
    command.add_argument("--composer", default="bach",
                         help="a composer or collection of music21's corpus (default bach; palestrina, monteverdi "
                              "and essenFolksong were tuned on)")
    command.set_defaults(run=data)

    command = commands.add_parser("quality", help="do the defaults meet issue 10's quality targets on unseen chorales?")
    command.add_argument("--data-dir", type=Path, help="reuse (or render) the chorale tracks here")
    command.add_argument("--train-minutes", type=float, default=10.0)
    command.add_argument("--chunk", type=int, default=5, help="epochs per training process (default 5)")
    command.add_argument("--hypotheses", type=int, help="--hypotheses of the model (default: the CLI's); results "
                                                        "then go to audio-quality-hypotheses-K.json")
    add_basics(command, "audio-quality.json", threads=1, seed=True)
    command.set_defaults(run=quality)

    command = commands.add_parser("speed", help="is generation at -n 1024 -l 4 faster than real time, and linear?")
    command.add_argument("--data-dir", type=Path, help="reuse (or render) the chorale tracks here")
    command.add_argument("--seconds", type=float, nargs=2, default=[10.0, 40.0], metavar=("SHORT", "LONG"),
                         help="clip lengths (default 10 40)")
    command.add_argument("--repeats", type=int, default=1, help="runs of each timing; the fastest is kept")
    add_basics(command, "audio-speed.json", threads=None)
    command.set_defaults(run=speed)

    command = commands.add_parser("cache", help="how fast and lean is the cache build, flat on 4x the music?")
    command.add_argument("--data-dir", type=Path, help="reuse (or render) the chorale tracks here")
    command.add_argument("--repeats", type=int, default=5, help="builds of each dataset (default 5)")
    add_basics(command, "audio-cache.json", threads=None)
    command.set_defaults(run=cache_build)

    # the child process `speed` times: the parent's imports and memory stay out of the measurement
    command = commands.add_parser("time-generation")
    command.add_argument("dataset", type=Path)
    command.add_argument("cache", type=Path)
    command.add_argument("out_dir", type=Path)
    command.add_argument("--seconds", type=float, default=40.0)
    command.add_argument("--clips", type=int, default=10)
    command.add_argument("-n", type=int, default=1024)
    command.add_argument("-l", type=int, default=4)
    command.add_argument("--hypotheses", type=int, default=HYPOTHESES)
    command.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    command.set_defaults(run=time_generation)

    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
