"""Benchmark of the WAV pipeline against its targets; writes JSON to benchmarks/results/ and prints a summary.

1. Data: ~10 and ~40 minutes of 44.1 kHz stereo 16-bit music (Bach chorales rendered with fluidsynth into
   2.5-minute tracks, scripts/bench_wavegen_data.py), rendered into a temporary folder (or reused: --data-dir).
2. Cache build, whole processes from an empty cache: `music-composer --preprocess-only --framer blocks` (the same
   work as the old tool: disjoint rfft blocks) against the old tool's preprocessing
   (scripts/bench_wavegen_reference.py) on the same files, interleaved, --repeats times each. Memory is
   the peak RSS of the largest process (exact, from wait4) and the peak of the summed RSS of the process tree
   (sampled every 20 ms; it counts pages the worker processes share more than once, so it errs high).
   Targets: >= 2x faster than the reference, summed peak RSS <= 300 MB, and flat on the 4x dataset.
3. Generation at -n 1024 -l 4 with the default framer (STFT, Griffin-Lim), -g 10 clips in one batch
   (scripts/bench_wavegen_generate.py, one process per run): 40 s and 160 s clips. Targets (issue 10): >= 5x faster
   than real time (seconds of audio written per second), and time(160 s) / time(40 s) <= 4.4 (linear). Also
   reported: one clip (-g 1), and 40 s x 10 with one torch thread (on a busy machine two OpenMP threads can be
   slower than one).

The machine's load average is recorded: other processes on a shared machine slow every measurement.

    python scripts/bench_wavegen.py [--data-dir DIR] [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

from bench_rss import TreeRssSampler  # noqa: E402
from bench_wavegen_data import render_tracks, renderer  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
TARGETS = {"cache_speedup_min": 2.0, "cache_peak_rss_mb_max": 300.0, "rss_growth_4x_max": 1.25,
           "generation_realtime_factor_min": 5.0, "generation_160_over_40_max": 4.4}


def music_composer() -> list[str]:
    """The installed `music-composer` console script, or the repository's wrapper script."""
    script = Path(sys.executable).with_name("music-composer")
    return [str(script)] if script.exists() else [sys.executable, str(REPO / "scripts" / "music-composer.py")]


def run_measured(cmd: list[str]) -> dict:
    """Run ``cmd`` to completion; wall time, exact peak RSS of its largest process, sampled peak of the tree's sum."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO)
    with TreeRssSampler(proc.pid, interval_s=0.02) as rss:
        output = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{output.decode(errors='replace')}")
    return {"wall_s": elapsed, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024,
            "peak_rss_tree_mb": rss.peak / 2 ** 20, "loadavg_1min": os.getloadavg()[0]}


def build_cache(tool: str, dataset: Path, work: Path) -> dict:
    """One cache build from scratch by ``tool`` ('wavegen' or 'reference')."""
    cache = work / f"cache-{tool}"
    shutil.rmtree(cache, ignore_errors=True)
    if tool == "wavegen":
        cmd = [*music_composer(), "--preprocess-only", "--framer", "blocks", "--no-progress", "-d", str(dataset),
               "-t", str(cache)]
    else:
        cmd = [sys.executable, str(REPO / "scripts" / "bench_wavegen_reference.py"), str(dataset), str(cache)]
    result = run_measured(cmd)
    shutil.rmtree(cache, ignore_errors=True)
    return result


def summarise(runs: list[dict]) -> dict:
    return {"runs": runs, "median_wall_s": statistics.median(r["wall_s"] for r in runs),
            "median_cpu_s": statistics.median(r["cpu_s"] for r in runs),
            "min_wall_s": min(r["wall_s"] for r in runs),
            "max_peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "max_peak_rss_tree_mb": max(r["peak_rss_tree_mb"] for r in runs)}


def dataset_info(folder: Path) -> dict:
    import soundfile as sf
    files = sorted(folder.glob("*.wav"))
    return {"files": len(files), "minutes": sum(sf.info(str(f)).duration for f in files) / 60,
            "bytes": sum(f.stat().st_size for f in files)}


def generation(dataset: Path, work: Path, seconds: float, clips: int, repeats: int, *extra: str) -> dict:
    """Fastest of ``repeats`` fresh-process generations of ``clips`` clips of ``seconds`` at -n 1024 -l 4."""
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_wavegen_generate.py"), str(dataset),
                              str(work / "cache-generation"), str(work / "clips"), "--seconds", str(seconds),
                              "--clips", str(clips), *extra], capture_output=True, text=True, check=True, cwd=REPO)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = min(runs, key=lambda r: r["wall_s"])
    return {**best, "runs": [r["wall_s"] for r in runs]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="reuse (or create) rendered tracks here instead of a temp dir")
    parser.add_argument("--repeats", type=int, default=5, help="cache builds per tool and dataset (default 5)")
    parser.add_argument("--skip-generation", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_wavegen_") as tmp:
        work = Path(tmp)
        pool = args.data_dir or work / "tracks"
        if len(list(pool.glob("track-*.wav"))) < 16:
            print(f"rendering 40 min of chorales into {pool} with {renderer()} ...", file=sys.stderr)
            render_tracks(pool, minutes=40, track_seconds=150)
        tracks = sorted(pool.glob("track-*.wav"))[:16]  # 2.5 minutes each
        datasets = {"1x": work / "data-1x", "4x": work / "data-4x"}
        for name, count in (("1x", 4), ("4x", 16)):
            datasets[name].mkdir()
            for track in tracks[:count]:
                os.link(track, datasets[name] / track.name)

        results: dict = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                     "python": platform.python_version(), "renderer": renderer(),
                                     "loadavg_before": os.getloadavg()},
                         "targets": TARGETS, "datasets": {k: dataset_info(v) for k, v in datasets.items()}}
        for tool in ("reference", "wavegen"):  # warm the page cache and the interpreters once
            build_cache(tool, datasets["1x"], work)
        runs: dict[str, list[dict]] = {"reference-1x": [], "wavegen-1x": [], "wavegen-4x": []}
        for i in range(args.repeats):
            print(f"cache builds, round {i + 1}/{args.repeats}", file=sys.stderr)
            runs["reference-1x"].append(build_cache("reference", datasets["1x"], work))
            runs["wavegen-1x"].append(build_cache("wavegen", datasets["1x"], work))
            runs["wavegen-4x"].append(build_cache("wavegen", datasets["4x"], work))
        cache = {name: summarise(r) for name, r in runs.items()}
        ref, ours, ours4 = cache["reference-1x"], cache["wavegen-1x"], cache["wavegen-4x"]
        cache["speedup_median"] = ref["median_wall_s"] / ours["median_wall_s"]
        cache["speedup_min"] = ref["min_wall_s"] / ours["min_wall_s"]
        cache["rss_growth_4x"] = ours4["max_peak_rss_tree_mb"] / ours["max_peak_rss_tree_mb"]
        results["cache_build"] = cache

        if not args.skip_generation:
            print("generation at -n 1024 -l 4 ...", file=sys.stderr)
            gen = {"40s_x10": generation(datasets["1x"], work, 40, 10, 2),
                   "160s_x10": generation(datasets["1x"], work, 160, 10, 2),
                   "40s_x1": generation(datasets["1x"], work, 40, 1, 2),
                   "40s_x10_1thread": generation(datasets["1x"], work, 40, 10, 2, "--threads", "1")}
            gen["ratio_160_over_40"] = gen["160s_x10"]["wall_s"] / gen["40s_x10"]["wall_s"]
            results["generation"] = gen
        results["machine"]["loadavg_after"] = os.getloadavg()

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"wavegen-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=1))
    print_summary(results, path)


def verdict(good: bool) -> str:
    return "PASS" if good else "FAIL"


def print_summary(r: dict, path: Path) -> None:
    """The numbers against each target, one line each."""
    c, t, machine = r["cache_build"], TARGETS, r["machine"]
    ours, ref = c["wavegen-1x"], c["reference-1x"]
    d1, d4 = r["datasets"]["1x"], r["datasets"]["4x"]
    print(f"data: {d1['minutes']:.1f} min in {d1['files']} files (1x), {d4['minutes']:.1f} min in {d4['files']} "
          f"files (4x); {machine['cpus']} CPUs, load average {machine['loadavg_before'][0]:.1f} before, "
          f"{machine['loadavg_after'][0]:.1f} after")
    print(f"cache build 1x: wavegen {ours['median_wall_s']:.2f} s (best {ours['min_wall_s']:.2f}, CPU "
          f"{ours['median_cpu_s']:.2f}) vs reference {ref['median_wall_s']:.2f} s (best {ref['min_wall_s']:.2f}, CPU "
          f"{ref['median_cpu_s']:.2f}): {c['speedup_median']:.1f}x median, {c['speedup_min']:.1f}x best  "
          f"[>= {t['cache_speedup_min']}x: {verdict(c['speedup_median'] >= t['cache_speedup_min'])}]")
    for name in ("wavegen-1x", "wavegen-4x", "reference-1x"):
        print(f"peak RSS {name}: {c[name]['max_peak_rss_tree_mb']:.0f} MB process tree, "
              f"{c[name]['max_peak_rss_mb']:.0f} MB largest process")
    peak = max(ours["max_peak_rss_tree_mb"], c["wavegen-4x"]["max_peak_rss_tree_mb"])
    print(f"peak RSS <= {t['cache_peak_rss_mb_max']:.0f} MB: {verdict(peak <= t['cache_peak_rss_mb_max'])}; "
          f"4x / 1x = {c['rss_growth_4x']:.2f}  [<= {t['rss_growth_4x_max']}: "
          f"{verdict(c['rss_growth_4x'] <= t['rss_growth_4x_max'])}]")
    if "generation" in r:
        g = r["generation"]
        for name in ("40s_x10", "160s_x10", "40s_x1", "40s_x10_1thread"):
            print(f"generation {name}: {g[name]['wall_s']:.1f} s, {g[name]['realtime_factor']:.1f}x real time "
                  f"({g[name]['realtime_factor_per_clip']:.1f}x per clip, {g[name]['threads']} threads)")
        factor = min(g["40s_x10"]["realtime_factor"], g["160s_x10"]["realtime_factor"])
        print(f"real time >= {t['generation_realtime_factor_min']}x at -g 10: "
              f"{verdict(factor >= t['generation_realtime_factor_min'])}; time(160 s) / time(40 s) = "
              f"{g['ratio_160_over_40']:.2f}  [<= {t['generation_160_over_40_max']}: "
              f"{verdict(g['ratio_160_over_40'] <= t['generation_160_over_40_max'])}]")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
