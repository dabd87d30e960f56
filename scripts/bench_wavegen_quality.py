"""Benchmark of what wavegen's clips sound like, against issue 10's targets; writes JSON and prints a summary.

1. Data: ~10 minutes of music the defaults were not tuned on (they were tuned on the bundled minuet): Bach chorales
   from music21's corpus rendered with fluidsynth into 2.5-minute tracks (scripts/bench_wavegen_data.py), or reused
   with --data-dir.
2. Training: `music-composer -n 256 -l 2` with every other flag at its default, resumed --chunk epochs at a time
   until --train-minutes of wall time (whole processes, start-up included) are spent.
3. Quality: `-e 0 -g 3 -s 10` from that checkpoint; its evaluation (log-mel Fréchet distance to the held-out tails
   beside the references, per-clip drift and movement) and the last logged val/mse and val/baseline_mse.
4. Speed at the default -n 1024 -l 4 (random weights, scripts/bench_wavegen_generate.py): one 10 s clip, and 10
   clips of 10 s and of 40 s in one batch, all with the default framer and Griffin-Lim, with torch's default
   threads and with one (on a busy machine two OpenMP threads can be slower than one). --speed-only reruns this
   part alone (on a quieter machine) and replaces it in the existing results.

Targets: val MSE >= 20 % below repeating the last frame; clips >= 80 % of the way from the frozen spectrum to real
music; every clip's second half changes >= 0.5x as much as the music's, its last second's loudness within x0.5-x2 of
its first; generation faster than real time for one clip and >= 5x for 10 in a batch, time(40 s) / time(10 s) <= 4.4.

    python scripts/bench_wavegen_quality.py [--data-dir DIR] [--train-minutes 10] [--threads 1] [--speed-only]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

from bench_wavegen import music_composer  # noqa: E402
from bench_wavegen_data import render_tracks, renderer  # noqa: E402

RESULT = REPO / "benchmarks" / "results" / "wavegen-quality.json"
TARGETS = {"val_mse_over_baseline_max": 0.8, "progress_min": 0.8, "movement_vs_music_min": 0.5,
           "loudness_drift_range": [0.5, 2.0], "realtime_one_clip_min": 1.0, "realtime_ten_clips_min": 5.0,
           "time_40_over_10_max": 4.4}


def run(cmd: list[str], env: dict) -> str:
    """Run ``cmd`` in the repository; its output, or exit with it when it fails."""
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def train(data: Path, work: Path, minutes: float, chunk: int, env: dict, extra: list[str]) -> dict:
    """Train -n 256 -l 2 in chunks of epochs until ``minutes`` of wall time are spent; the last logged metrics."""
    flags = ["-d", str(data), "-t", str(work / "cache"), "--checkpoint", str(work / "model.pt"), "-n", "256",
             "-l", "2", "-g", "0", "--no-progress", *extra]
    epochs, spent = 0, 0.0
    run([*music_composer(), "--preprocess-only", *flags[:4], "--no-progress"], env)  # not counted as training
    while spent < minutes * 60:
        epochs += chunk
        started = time.perf_counter()
        run([*music_composer(), *flags, "-e", str(epochs)], env)
        spent += time.perf_counter() - started
        print(f"trained {epochs} epochs in {spent / 60:.1f} min", file=sys.stderr)
    rows = [json.loads(line) for line in (work / "model-logs" / "metrics.jsonl").read_text().splitlines()]
    last = [row for row in rows if "val/mse" in row][-1]
    return {"epochs": epochs, "train_wall_s": spent, "val_mse": last["val/mse"],
            "val_baseline_mse": last["val/baseline_mse"], "train_mse": last.get("train/mse"),
            "val_mse_over_baseline": last["val/mse"] / last["val/baseline_mse"], "flags": flags}


def generate(data: Path, work: Path, env: dict, extra: list[str]) -> dict:
    """Three 10 s clips from the trained model, and their evaluation."""
    flags = ["-d", str(data), "-t", str(work / "cache"), "--checkpoint", str(work / "model.pt"), "-n", "256",
             "-l", "2", "-e", "0", "-g", "3", "-s", "10", "--no-progress", "--png", "-o", str(work / "clip"),
             *extra]
    output = run([*music_composer(), *flags], env)
    print(output, file=sys.stderr)
    return json.loads((work / "clip-evaluation.json").read_text())


def speed(data: Path, work: Path, seconds: float, clips: int, *extra: str) -> dict:
    """One fresh-process generation at -n 1024 -l 4 (torch's default threads unless ``extra`` says otherwise)."""
    out = run([sys.executable, str(REPO / "scripts" / "bench_wavegen_generate.py"), str(data),
               str(work / "cache-speed"), str(work / "speed"), "--seconds", str(seconds), "--clips", str(clips),
               *extra], dict(os.environ))
    return json.loads(out.strip().splitlines()[-1])


def speeds(data: Path, work: Path, model_flags: list[str]) -> dict:
    """The generation timings, with the default threads and with one; the best of the two for each size, and
    time(40 s) / time(10 s) for each thread count (the lower reported: the other is the one a busy machine slowed)."""
    runs = {f"{name}{suffix}": speed(data, work, seconds, clips, *model_flags, *extra)
            for suffix, extra in (("", ()), ("_1thread", ("--threads", "1")))
            for name, seconds, clips in (("10s_x1", 10, 1), ("10s_x10", 10, 10), ("40s_x10", 40, 10))}
    best = {name: max(runs[name], runs[f"{name}_1thread"], key=lambda r: r["realtime_factor"])
            for name in ("10s_x1", "10s_x10", "40s_x10")}
    ratios = [runs[f"40s_x10{suffix}"]["wall_s"] / runs[f"10s_x10{suffix}"]["wall_s"] for suffix in ("", "_1thread")]
    return {**runs, "best": best, "time_40_over_10": min(ratios), "time_40_over_10_per_threads": ratios,
            "loadavg": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="reuse (or create) the rendered tracks here")
    parser.add_argument("--train-minutes", type=float, default=10.0)
    parser.add_argument("--chunk", type=int, default=5, help="epochs per training process (default 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for training (default 1)")
    parser.add_argument("--hypotheses", type=int, help="--hypotheses for the model (default: the CLI's); results then "
                                                            "go to wavegen-quality-hypotheses-K.json")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--speed-only", action="store_true", help="rerun only the speed part; keep the rest")
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    extra = ["--hypotheses", str(args.hypotheses)] if args.hypotheses else []
    result = RESULT.with_stem(f"{RESULT.stem}-hypotheses-{args.hypotheses}") if args.hypotheses else RESULT
    with tempfile.TemporaryDirectory(prefix="bench_wavegen_quality_") as tmp:
        work = Path(tmp)
        data = args.data_dir or work / "tracks"
        if len(list(data.glob("track-*.wav"))) < 4:
            print(f"rendering 10 min of chorales into {data} with {renderer()} ...", file=sys.stderr)
            render_tracks(data, minutes=10, track_seconds=150)
        if args.speed_only:
            results = json.loads(result.read_text())
        else:
            results = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "renderer": renderer(),
                                   "loadavg_before": os.getloadavg()},
                       "targets": TARGETS, "data": f"{data}: 4 tracks of 150 s of Bach chorales",
                       "flags": extra, "training": train(data, work, args.train_minutes, args.chunk, env, extra),
                       "evaluation": generate(data, work, env, extra)}
            results["machine"]["loadavg_after"] = os.getloadavg()
        if not args.skip_speed:
            results["speed"] = speeds(data, work, extra)
    result.parent.mkdir(parents=True, exist_ok=True)
    result.write_text(json.dumps(results, indent=1))
    print_summary(results, result)


def verdict(good: bool) -> str:
    return "PASS" if good else "FAIL"


def print_summary(r: dict, path: Path) -> None:
    """Each number beside its target."""
    t, tr, ev = TARGETS, r["training"], r["evaluation"]
    ratio, most = tr["val_mse_over_baseline"], t["val_mse_over_baseline_max"]
    print(f"training: {tr['epochs']} epochs in {tr['train_wall_s'] / 60:.1f} min; val/mse {tr['val_mse']:.4f} vs "
          f"repeat-last-frame {tr['val_baseline_mse']:.4f} = {ratio:.2f}x  [<= {most}: {verdict(ratio <= most)}]")
    d = ev["frechet"]
    print(f"Fréchet: clips {d['clips']:.0f}, real {d['real']:.0f}, frozen spectrum {d['frozen_spectrum']:.0f}, "
          f"white noise {d['white_noise']:.0f}: {ev['progress']:.0%} of the way  "
          f"[>= {t['progress_min']:.0%}: {verdict(ev['progress'] >= t['progress_min'])}]")
    low, high = t["loudness_drift_range"]
    for i, clip in enumerate(ev["clips"]):
        moving = clip["movement_vs_music"] is not None and clip["movement_vs_music"] >= t["movement_vs_music_min"]
        print(f"clip {i}: movement {clip['movement_vs_music']:.2f}x the music's [{verdict(moving)}], loudness drift "
              f"x{clip['loudness_drift']:.2f} [{verdict(low <= clip['loudness_drift'] <= high)}]")
    if "speed" in r:
        s, best = r["speed"], r["speed"]["best"]
        ten = min(best["10s_x10"]["realtime_factor"], best["40s_x10"]["realtime_factor"])
        print(f"generation -n 1024 -l 4 (best of torch's default threads and 1; load average "
              f"{s['loadavg'][0]:.1f}): 1 clip {best['10s_x1']['realtime_factor']:.1f}x real time "
              f"[{verdict(best['10s_x1']['realtime_factor'] >= t['realtime_one_clip_min'])}], 10 clips "
              f"{best['10s_x10']['realtime_factor']:.1f}x (10 s) and {best['40s_x10']['realtime_factor']:.1f}x (40 s) "
              f"[{verdict(ten >= t['realtime_ten_clips_min'])}], time(40 s) / time(10 s) = "
              f"{s['time_40_over_10']:.2f} [{verdict(s['time_40_over_10'] <= t['time_40_over_10_max'])}]")
        for name, run_ in s.items():
            if isinstance(run_, dict) and "wall_s" in run_:
                print(f"  {name}: {run_['wall_s']:.1f} s, {run_['realtime_factor']:.2f}x ({run_['threads']} threads)")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
