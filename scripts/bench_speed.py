"""How close each model family's training step runs to this machine's limit, what the engine costs over a bare
PyTorch loop, how throughput moves with threads (on a GPU: with bf16 autocast and torch.compile), and one wavegen
clip against the memory bandwidth; `all` also runs the generation and data benchmarks and merges their JSON.

    python scripts/bench_speed.py all [--skip generation data] [--families vrash-note cnn-vrnn] [--device cuda]
    python scripts/bench_speed.py all --skip generation data --baseline /tmp/base   # before -> after
    python scripts/bench_speed.py case train cnn-vrnn --mode engine --threads 1      # one measurement

Every measurement is a fresh process (`case ...`, printing one JSON line), so its thread count and peak memory are
its own. The limits: the best `torch.mm` rate of square fp32 matrices (bf16 too on CUDA) and the bandwidth of a copy
and of a sum of 512 MB, at each thread count measured. A family's step is built as the project builds it (the named
config's model and batch on the bundled example melodies, repeated to fill the steps; wavegen's default model on the
rendered example minuet) and its FLOPs are counted on the CPU with torch's FlopCounterMode, oneDNN off while counting
so that the LSTMs run as the matmuls the counter sees (oneDNN's fused LSTM is invisible to it). The engine runs
through Trainer's public API only; the bare loop does the same work (Adam, clipping, the lr schedule and the weights'
average where the config has them); both time each step from one call of `training_loss` to the next and drop the
warm-up steps; the checkpoint write is timed on its own. `--baseline DIR` (another checkout, e.g. made with
`git worktree add /tmp/base b404f4d`) runs every case a second time with PYTHONPATH=DIR, interleaved.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_common import RESULTS, ROOT, add_basics, describe_machine, run_timed, write_results

SCRIPTS = Path(__file__).resolve().parent
WORK = RESULTS / "speed-work"  # prepared MIDI windows and the rendered minuet, reused from run to run
FAMILIES = {"cat-mel_2bar_small": "MusicVAE cat-mel_2bar_small", "vrash-note": "note model vrash-note",
            "cnn-vrnn": "CNN-VRNN", "wavegen": "wavegen -n 1024 -l 4"}
WAVEGEN_SHAPE = (1024, 4)  # -n, -l: the defaults of training and generation
MATMUL_SIZES = {"cpu": (512, 1024, 2048), "cuda": (2048, 4096, 8192)}
BANDWIDTH_BYTES = 512 * 2 ** 20  # far beyond any cache
ENGINE_TARGET = 1.10
SKIPPABLE = ("training", "clip", "generation", "data")

if TYPE_CHECKING:  # torch is imported where a case runs, so that -h and the driver start fast
    import torch


# --------------------------------------------------------------------------------------------- what is measured
@dataclass
class Workload:
    """One family's training step as the project sets it up: the model, its training data, the optimiser."""

    model: torch.nn.Module
    data: torch.utils.data.Dataset
    batch_size: int
    learning_rate: float
    grad_clip: float | None
    ema_decay: float | None = None
    lr_lambda: Callable[[int], float] | None = None


class Cycled:
    """``data`` repeated to at least ``length`` items, so that a short run never ends an epoch (no checkpoint or
    validation falls among the timed steps)."""

    def __init__(self, data, length: int):
        self.data = data
        self.length = max(length, len(data))

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        return self.data[index % len(self.data)]


def symbolic_workload(config_name: str, work: Path) -> Workload:
    """A MIDI config at its own sizes and batch, on the train split of the bundled melodies (as `midi train`)."""
    import torch

    from symbolic.configs import get_config
    from symbolic.data.converters import converter_from_spec
    from symbolic.data.datasets import PreparedDataset
    from symbolic.data.prepare import load_or_prepare
    from symbolic.examples import EXAMPLE_DATA
    from symbolic.models.families import build_model

    config = get_config(config_name)
    result = load_or_prepare(converter_from_spec(config.data), EXAMPLE_DATA, work / "prepared", workers=1,
                             progress=False)
    data = PreparedDataset(result).split("train", transpose=config.transpose)
    torch.manual_seed(0)
    return Workload(build_model(config), data, config.batch_size, config.learning_rate, config.grad_clip,
                    lr_lambda=config.lr_lambda)


def wavegen_workload(work: Path) -> Workload:
    """wavegen's default model and training settings on the training windows of the rendered example minuet."""
    import torch

    from wavegen.example import install_example
    from wavegen.preprocess import prepare
    from wavegen.settings import Settings, default_input_noise
    from wavegen.train import build_model, model_hparams, split_windows

    s = Settings()
    spec = s.frame_spec()
    install_example(work / "wavegen-audio")
    prepared = prepare(work / "wavegen-audio", work / "wavegen-cache", spec, progress=False)
    mean, std = prepared.normalisation(s.val_fraction)
    data, _, _ = split_windows(prepared, mean, std, s.sequence_length, s.stride, s.val_fraction)
    torch.manual_seed(0)
    model = build_model(model_hparams(spec, *WAVEGEN_SHAPE, s.hypotheses, s.keep_gate),
                        default_input_noise(s.keep_gate), s.dropout)
    return Workload(model, data, s.batch_size, s.learning_rate, grad_clip=1.0, ema_decay=s.ema_decay or None)


def workload(family: str, work: Path) -> Workload:
    """The workload of one of FAMILIES, its data prepared (or reused) under ``work``."""
    return wavegen_workload(work) if family == "wavegen" else symbolic_workload(family, work)


class StepClock:
    """Stamps the wall and CPU time of every call of ``model.training_loss`` (after waiting for the GPU): one step
    to the next, data loading, backward and optimizer included, whoever drives the loop. The CPU time of a
    one-thread run hardly changes when other processes take turns on its core; the wall time does."""

    def __init__(self, model, device):
        import torch

        self.times: list[float] = []
        self.cpu_times: list[float] = []
        inner = model.training_loss

        def stamped(batch, step):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            self.times.append(time.perf_counter())
            self.cpu_times.append(time.process_time())
            return inner(batch, step)

        model.training_loss = stamped

    def clear(self) -> None:
        self.times.clear()
        self.cpu_times.clear()


def step_intervals(times: list[float], steps: int, warmup: int) -> list[float]:
    """Seconds of each optimizer step after the first ``warmup``, from the call times of a run of ``steps`` steps
    (a step that accumulates micro-batches calls ``training_loss`` more than once; its first call starts it)."""
    calls_per_step = len(times) // steps
    starts = times[::calls_per_step][:steps]
    return [b - a for a, b in zip(starts, starts[1:])][warmup:]


def training_flops(model, batch, step: int = 0) -> dict:
    """FLOPs of one training step's forward and backward (FlopCounterMode counts matmuls and convolutions, not
    elementwise work), with oneDNN off so that every LSTM runs as the matmuls the counter sees."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # oneDNN's flags warn about TF32 on Intel GPUs
        with torch.backends.mkldnn.flags(enabled=False), counter:
            loss = model.training_loss(batch, step).loss
            forward = counter.get_total_flops()
            loss.backward()
    model.zero_grad(set_to_none=True)
    by_op = {str(op): count for op, count in counter.get_flop_counts()["Global"].items()}
    return {"forward": forward, "total": counter.get_total_flops(), "by_op": by_op}


def forward_flops_as_run(model, batch, step: int = 0) -> int:
    """FLOPs the counter sees in a forward with torch's own kernels (oneDNN's fused LSTM counts 0)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.training_loss(batch, step)
    return counter.get_total_flops()


def generation_weights(model) -> dict:
    """The weights one generated frame of one clip reads (wavegen.generate: each LSTM layer's input and recurrent
    matrices with their summed bias; the fused feedback layer K n x n, or with the keep gate the drawn hypothesis' new
    frame and gate and the encoder; the choice head), in numbers and as read on this machine (float16 where
    wavegen.lstm_step packs them for fbgemm)."""
    import torch

    n, layers, k = model.config.hidden_size, model.config.num_layers, model.config.hypotheses
    lstm = sum(p.numel() for name, p in model.lstm.named_parameters() if name.startswith("weight")) + layers * 4 * n
    dim = model.config.frame_dim
    feedback = (2 * dim * n + 2 * dim + dim * n + n) if getattr(model, "keep", None) is not None else k * n * n + k * n
    choose = sum(p.numel() for p in model.choose.parameters()) if model.choose is not None else 0
    try:
        from wavegen.lstm_step import fp16_packed
        with warnings.catch_warnings():  # torch calls the fbgemm functions deprecated
            warnings.simplefilter("ignore")
            halved = fp16_packed(torch.zeros(2, 2, device=next(model.parameters()).device)) is not None
    except ImportError:  # a checkout from before the float16 step
        halved = False
    packed_bytes = 2 if halved else 4
    return {"numbers": lstm + feedback + choose, "fp32_bytes": 4 * (lstm + feedback + choose),
            "bytes_as_run": packed_bytes * (lstm + feedback) + 4 * choose, "float16_packed": halved}


# ------------------------------------------------------------------------------------------------------ cases
def peak_memory_mb(device) -> float:
    """This process's peak RSS (CPU) or the device's peak allocation (CUDA), in MB."""
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best_time(run: Callable[[], object], sync: Callable[[], None], seconds: float, least: int = 3) -> float:
    """The fastest of repeated calls of ``run``, repeating for ``seconds`` and at least ``least`` times."""
    best, spent, calls = math.inf, 0.0, 0
    while spent < seconds or calls < least:
        start = time.perf_counter()
        run()
        sync()
        elapsed = time.perf_counter() - start
        best, spent, calls = min(best, elapsed), spent + elapsed, calls + 1
    return best


def case_limits(args: argparse.Namespace) -> dict:
    """Dense-matmul peak (FLOP/s) per dtype and memory bandwidth (bytes/s) at this thread count."""
    import torch

    device = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16} if device.type == "cuda" else {"fp32": torch.float32}
    matmul = {}
    for name, dtype in dtypes.items():
        rates = {}
        for n in MATMUL_SIZES[device.type]:
            a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
            out = torch.empty_like(a)
            rates[n] = 2 * n ** 3 / best_time(lambda: torch.mm(a, b, out=out), sync, seconds=1.0)
        matmul[name] = {"flops": max(rates.values()), "by_size": rates}
    x = torch.ones(BANDWIDTH_BYTES // 4, device=device)
    y = torch.empty_like(x)
    copy = 2 * BANDWIDTH_BYTES / best_time(lambda: y.copy_(x), sync, seconds=1.0)
    read = BANDWIDTH_BYTES / best_time(lambda: x.sum(), sync, seconds=1.0)
    return {"threads": torch.get_num_threads(), "device": str(device), "matmul": matmul,
            "bandwidth": {"copy": copy, "read": read}}


def case_flops(args: argparse.Namespace) -> dict:
    """FLOPs per training step of a family, counted on the CPU on one real batch."""
    from torch.utils.data import DataLoader

    w = workload(args.family, args.work)
    batch = next(iter(DataLoader(w.data, batch_size=w.batch_size, shuffle=True)))
    w.model.train()
    counted = training_flops(w.model, batch)
    return {"family": args.family, **counted, "forward_as_run": forward_flops_as_run(w.model, batch),
            "parameters": sum(p.numel() for p in w.model.parameters()), "batch_size": w.batch_size}


def bare_loop(w: Workload, device, precision: str, calls: int) -> None:
    """What a user would write without the engine: the same batches, Adam, clipping, schedule and average."""
    import torch
    from torch.utils.data import DataLoader

    model = w.model.to(device).train()
    parameters = list(model.parameters())
    optimizer = torch.optim.Adam(parameters, lr=w.learning_rate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, w.lr_lambda) if w.lr_lambda else None
    average = [p.detach().clone() for p in parameters] if w.ema_decay else None
    loader = DataLoader(w.data, batch_size=w.batch_size, shuffle=True, pin_memory=device.type == "cuda",
                        generator=torch.Generator().manual_seed(0))
    for step, batch in zip(range(calls), loader):
        batch = batch.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model.training_loss(batch, step).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if w.grad_clip:
            torch.nn.utils.clip_grad_norm_(parameters, w.grad_clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if average is not None:
            torch._foreach_lerp_(average, [p.detach() for p in parameters], 1 - w.ema_decay)


def engine_run(w: Workload, device, precision: str, calls: int, clock: StepClock) -> dict:
    """``calls`` steps of Trainer.fit() (public API only), then one more checkpoint write, timed on its own."""
    from engine.trainer import TrainConfig, Trainer

    with tempfile.TemporaryDirectory(prefix="bench-speed-") as run_dir:
        config = TrainConfig(run_dir=run_dir, max_steps=calls, batch_size=w.batch_size,
                             learning_rate=w.learning_rate, grad_clip=w.grad_clip, ema_decay=w.ema_decay,
                             device=str(device), precision=precision, progress=False, tensorboard=False)
        started = time.perf_counter()
        trainer = Trainer(w.model, w.data, None, config, lr_lambda=w.lr_lambda)
        setup_s = time.perf_counter() - started
        clock.clear()  # a memory estimate in the constructor may have called the model
        trainer.fit()
        started = time.perf_counter()
        trainer.save()
        return {"setup_s": setup_s, "checkpoint_write_s": time.perf_counter() - started,
                "checkpoint_bytes": config.checkpoint.stat().st_size}


def case_train(args: argparse.Namespace) -> dict:
    """Step time, sequences per second and peak memory of one family under the engine or a bare loop."""
    import torch

    device = torch.device(args.device)
    calls = args.warmup + args.steps + 1  # the last call only marks where the last timed step ended
    w = workload(args.family, args.work)
    w.data = Cycled(w.data, (calls + 1) * w.batch_size)
    if args.compile:
        w.model.training_loss = torch.compile(w.model.training_loss)
    clock = StepClock(w.model, device)
    if args.mode == "engine":
        extra = engine_run(w, device, args.precision, calls, clock)
    else:
        bare_loop(w, device, args.precision, calls)
        extra = {}
    steps = step_intervals(clock.times, calls, args.warmup)
    cpu_steps = step_intervals(clock.cpu_times, calls, args.warmup)
    step_s = statistics.median(steps)
    return {"family": args.family, "mode": args.mode, "threads": torch.get_num_threads(), "device": str(device),
            "precision": args.precision, "compile": args.compile, "batch_size": w.batch_size,
            "forward_calls_per_step": len(clock.times) // calls, "steps_s": steps, "step_s": step_s,
            "step_cpu_s": statistics.median(cpu_steps), "seq_per_s": w.batch_size / step_s,
            "peak_mb": peak_memory_mb(device), **extra}


def case_clip(args: argparse.Namespace) -> dict:
    """One clip of ``--seconds`` generated at -n 1024 -l 4 with random weights and no generation noise (the frame
    loop alone): frames per second, and the weights each frame reads."""
    import torch

    from wavegen.generate import generate_frames
    from wavegen.settings import HYPOTHESES, Settings
    from wavegen.train import build_model, model_hparams

    device = torch.device(args.device)
    s = Settings()
    spec = s.frame_spec()
    torch.manual_seed(0)
    model = build_model(model_hparams(spec, *WAVEGEN_SHAPE, HYPOTHESES)).to(device).eval()
    seeds = torch.randn(1, s.sequence_length + 1, spec.frame_dim, device=device)
    frames = spec.frames_for(math.ceil(args.seconds * spec.sample_rate))
    generate_frames(model, seeds, 4, seed=0, progress=False)  # warm-up: the packed weights, the first allocations
    started = time.perf_counter()
    generate_frames(model, seeds, frames, seed=0, progress=False)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    wall = time.perf_counter() - started
    return {"threads": torch.get_num_threads(), "device": str(device), "seconds": args.seconds, "frames": frames,
            "wall_s": wall, "frames_per_s": frames / wall, "audio_frames_per_s": spec.frames_per_second,
            "realtime_factor": frames / wall / spec.frames_per_second, "weights_per_frame": generation_weights(model),
            "peak_mb": peak_memory_mb(device)}


CASES = {"limits": case_limits, "flops": case_flops, "train": case_train, "clip": case_clip}


def case(args: argparse.Namespace) -> None:
    """Run one measurement in this (fresh) process and print it as one JSON line."""
    import torch

    if args.kind in ("flops", "train") and args.family not in FAMILIES:
        raise SystemExit(f"error: case {args.kind} needs a family: {', '.join(FAMILIES)}")
    torch.set_num_threads(args.threads)
    print(json.dumps(CASES[args.kind](args)))


# ------------------------------------------------------------------------------------------------ the driver
@dataclass(frozen=True)
class Variant:
    """One training measurement: bare loop or engine, at a thread count, precision and compile setting."""

    mode: str
    threads: int
    precision: str = "fp32"
    compile: bool = False
    name: str = ""  # the column it fills: "1 thread", "bf16 compile", ...

    def argv(self) -> list[str]:
        """The flags of `case train` that ask for this variant."""
        return ["--mode", self.mode, "--threads", str(self.threads), "--precision", self.precision,
                *(["--compile"] if self.compile else [])]


def variants(device: str, default_threads: int) -> list[Variant]:
    """On a CPU: bare and engine at 1 thread, the engine at 2 and at the default count; on CUDA (default threads):
    bare and engine in fp32, the engine under bf16 autocast and with torch.compile. The first engine variant is the
    reference the fraction of peak and the engine overhead are read at; the bare one pairs with it."""
    if device == "cuda":
        return [Variant("bare", default_threads, name="fp32")] + [
            Variant("engine", default_threads, precision, compiled, f"{precision}{' compile' if compiled else ''}")
            for compiled in (False, True) for precision in ("fp32", "bf16")]
    threads = {1: "1 thread", 2: "2 threads"}
    if default_threads not in threads:
        threads[default_threads] = f"default ({default_threads})"
    return [Variant("bare", 1, name="1 thread")] + [Variant("engine", t, name=n) for t, n in threads.items()]


def run_case(argv: list[str], checkout: Path | None, threads: int) -> dict:
    """One `case` in a fresh process (PYTHONPATH=checkout for a baseline); its JSON, or the error it died of."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    if checkout is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(checkout), os.environ.get("PYTHONPATH")]))
    done = run_timed([sys.executable, __file__, "case", *argv, "--threads", str(threads)],
                     cwd=checkout or ROOT, env=env, check=False)
    lines = [line for line in done.output.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        tail = done.output.strip().splitlines()[-8:]
        print(f"  case {' '.join(argv)} failed ({done.returncode}): {tail[-1] if tail else ''}", file=sys.stderr)
        return {"error": "\n".join(tail), "returncode": done.returncode}
    return {**json.loads(lines[-1]), "process_wall_s": done.wall_s}


def summarise_family(runs: dict[str, list[dict]], flops: dict, limits: dict, variants_run: list[Variant]) -> dict:
    """Per variant the best (least disturbed) run's step time; the reference engine variant's fraction of the
    matmul peak at its threads and precision (on wall and on CPU time), and its time over the bare loop's."""
    summary: dict = {"flops_per_step": flops.get("total"), "variants": {}}
    for v in variants_run:
        rows = [r for r in runs[f"{v.mode} {v.name}"] if "step_s" in r]
        if not rows:
            continue
        best = min(rows, key=lambda r: r["step_s"])
        peak = limits.get(str(v.threads), {}).get("matmul", {}).get(v.precision, {}).get("flops")
        step_cpu_s = min(r["step_cpu_s"] for r in rows)
        fraction, fraction_cpu = ((flops["total"] / best["step_s"] / peak, flops["total"] / step_cpu_s / peak)
                                  if peak and flops.get("total") else (None, None))
        summary["variants"][f"{v.mode} {v.name}"] = {
            "step_s": best["step_s"], "step_cpu_s": step_cpu_s, "seq_per_s": best["seq_per_s"],
            "fraction_of_peak": fraction, "fraction_of_peak_cpu": fraction_cpu,
            "peak_mb": max(r["peak_mb"] for r in rows), "threads": best["threads"],
            "checkpoint_write_s": best.get("checkpoint_write_s")}
    engine = next((v for v in variants_run if v.mode == "engine"), None)
    bare = next((v for v in variants_run if v.mode == "bare"), None)
    ran = summary["variants"]
    if engine and f"engine {engine.name}" in ran:
        reference = ran[f"engine {engine.name}"]
        summary.update(step_s=reference["step_s"], fraction_of_peak=reference["fraction_of_peak"],
                       fraction_of_peak_cpu=reference["fraction_of_peak_cpu"], checkpoint_write_s=reference["checkpoint_write_s"],
                       peak_mb=max(v["peak_mb"] for v in ran.values()))
        if bare and f"bare {bare.name}" in ran:
            summary["engine_overhead"] = reference["step_s"] / ran[f"bare {bare.name}"]["step_s"]
            summary["engine_overhead_cpu"] = reference["step_cpu_s"] / ran[f"bare {bare.name}"]["step_cpu_s"]
    return summary


def summarise_clip(clip: dict, limits: dict) -> dict:
    """Weight bytes per frame x frames per second over the read bandwidth at the clip's threads, and the frames
    per second (and real-time factor) that bandwidth allows with fp32, fp16 and int8 weights."""
    if "frames_per_s" not in clip:
        return {}
    bandwidth = limits.get(str(clip["threads"]), {}).get("bandwidth", {}).get("read")
    weights = clip["weights_per_frame"]
    if not bandwidth:
        return {}
    ceilings = {name: bandwidth / (weights["numbers"] * size) for name, size in (("fp32", 4), ("fp16", 2),
                                                                                ("int8", 1))}
    return {"fraction_of_bandwidth_fp32": weights["fp32_bytes"] * clip["frames_per_s"] / bandwidth,
            "fraction_of_bandwidth_as_run": weights["bytes_as_run"] * clip["frames_per_s"] / bandwidth,
            "ceiling_frames_per_s": ceilings,
            "ceiling_realtime_factor": {k: v / clip["audio_frames_per_s"] for k, v in ceilings.items()}}


def run_script(script: str, argv: list[str], out: Path, checkout: Path | None) -> dict:
    """Another benchmark as a subprocess, its JSON merged in; a failure (an older script without the flag, say)
    is recorded instead."""
    env = dict(os.environ)
    if checkout is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(checkout), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, str(SCRIPTS / script), *argv, "--out", str(out)]
    print(f"running {' '.join(command[1:])}", file=sys.stderr, flush=True)
    out.unlink(missing_ok=True)
    done = run_timed(command, env=env, check=False)
    if done.returncode == 0 and out.exists():
        return json.loads(out.read_text())
    return {"error": f"exit {done.returncode}", "command": " ".join(command[1:]),
            "output_tail": done.output.strip().splitlines()[-10:]}


def si(value: float | None, unit: str = "") -> str:
    """12.3 G, 950 M: three significant figures with a decimal prefix."""
    if value is None:
        return "-"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".strip()


def cell(values: list, show: Callable[[Any], str]) -> str:
    """One table cell: the figure, or before -> after with a baseline (a missing one is '-')."""
    return " → ".join("-" if v is None else show(v) for v in values)


def table(results: dict) -> list[str]:
    """The compact table: family, FLOPs/step, step s, fraction of peak, engine overhead, seq/s per variant, peak
    MB; with a baseline each cell reads before → after."""
    labels = results["checkouts"]
    engine_columns = [v for v in results["variants"] if v.startswith("engine ")]
    lines = [f"| family | FLOPs/step | step s | of peak wall / CPU | engine × wall / CPU (≤ {ENGINE_TARGET:.2f}) | "
             + " | ".join(f"seq/s {c.removeprefix('engine ')}" for c in engine_columns) + " | peak MB |",
             "|---" * (6 + len(engine_columns)) + "|"]
    for family, by_checkout in results["families"].items():
        summaries = [by_checkout.get(label, {}).get("summary", {}) for label in labels]
        row = [FAMILIES[family], cell([s.get("flops_per_step") for s in summaries], si),
               cell([s.get("step_s") for s in summaries], lambda v: f"{v:.3g}"),
               cell([(s["fraction_of_peak"], s["fraction_of_peak_cpu"]) if s.get("fraction_of_peak") else None
                     for s in summaries], lambda v: f"{v[0]:.0%} / {v[1]:.0%}"),
               cell([(s["engine_overhead"], s["engine_overhead_cpu"]) if "engine_overhead" in s else None
                     for s in summaries], lambda v: f"{v[0]:.2f} / {v[1]:.2f}")]
        row += [cell([s.get("variants", {}).get(c, {}).get("seq_per_s") for s in summaries], lambda v: f"{v:.3g}")
                for c in engine_columns]
        row.append(cell([s.get("peak_mb") for s in summaries], lambda v: f"{v:.0f}"))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def limits_lines(limits: dict) -> list[str]:
    """One line per thread count: the matmul peak of each dtype and the memory bandwidth."""
    lines = []
    for threads, limit in limits.items():
        if "matmul" not in limit:
            lines.append(f"limits at {threads} thread(s): failed ({limit.get('error', '')[-200:]})")
            continue
        peaks = ", ".join(f"{dtype} {si(m['flops'], 'FLOP/s')}" for dtype, m in limit["matmul"].items())
        bw = limit["bandwidth"]
        lines.append(f"limits at {threads} thread(s) on {limit['device']}: torch.mm {peaks}; memory "
                     f"{si(bw['read'], 'B/s')} read, {si(bw['copy'], 'B/s')} copied")
    return lines


def clip_lines(clips: dict) -> list[str]:
    """One line per clip measured: weights per frame, frames per second, the share of the bandwidth, ceilings."""
    lines = []
    for key, by_checkout in clips.items():
        for label, clip in by_checkout.items():
            if "frames_per_s" not in clip:
                lines.append(f"one clip ({key}, {label}): failed ({clip.get('error', '')[-200:]})")
                continue
            s, w = clip["summary"], clip["weights_per_frame"]
            ceilings = ", ".join(f"{k} {v:.0f} frames/s ({s['ceiling_realtime_factor'][k]:.1f}× real time)"
                                 for k, v in s.get("ceiling_frames_per_s", {}).items())
            lines.append(
                f"one clip at -n 1024 -l 4 ({key}, {label}): {w['numbers'] / 1e6:.1f} M weights read per frame "
                f"({w['fp32_bytes'] / 1e6:.0f} MB in fp32, {w['bytes_as_run'] / 1e6:.0f} MB as run); "
                f"{clip['frames_per_s']:.1f} frames/s = {clip['realtime_factor']:.2f}× real time; fp32 bytes × "
                f"frames/s = {s.get('fraction_of_bandwidth_fp32', 0):.0%} of the read bandwidth (as run "
                f"{s.get('fraction_of_bandwidth_as_run', 0):.0%}); bandwidth ceilings: {ceilings}")
    return lines


def failed_parts(results: object, path: str = "") -> list[str]:
    """Where a measurement recorded an error instead of its figures, as paths into the JSON."""
    if isinstance(results, dict):
        if "error" in results:
            return [path]
        return [p for key, value in results.items() for p in failed_parts(value, f"{path}/{key}".lstrip("/"))]
    if isinstance(results, list):
        return [p for i, value in enumerate(results) for p in failed_parts(value, f"{path}/{i}")]
    return []


def all_command(args: argparse.Namespace) -> None:
    """Every measurement side by side on this machine; JSON to --out, a table on stdout."""
    import torch

    from engine.threads import Cpus, choose_threads

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda, but torch sees no CUDA GPU here")
    default_threads = choose_threads(Cpus.here, None, os.environ.get("OMP_NUM_THREADS"))[0]
    checkouts: list[tuple[str, Path | None]] = [("after", None)]
    if args.baseline:
        if not (args.baseline / "engine" / "trainer.py").is_file():
            raise SystemExit(f"error: --baseline {args.baseline}: not a checkout of this repository")
        checkouts.insert(0, ("before", args.baseline.resolve()))
    plan = variants(device, default_threads)
    thread_counts = sorted({v.threads for v in plan})
    results = {"machine": describe_machine("each case records its own"),
               "settings": {"device": device, "default_threads": default_threads, "warmup": args.warmup,
                            "steps": args.steps, "repeats": args.repeats, "skip": args.skip,
                            "baseline": str(args.baseline) if args.baseline else None},
               "checkouts": [label for label, _ in checkouts], "variants": [f"{v.mode} {v.name}" for v in plan],
               "limits": {}, "families": {}, "clip": {}}
    if device == "cuda":
        results["machine"]["gpu"] = torch.cuda.get_device_name()
    print(f"device {device}; default threads {default_threads}; checkouts: "
          f"{', '.join(f'{label} ({path or ROOT})' for label, path in checkouts)}", file=sys.stderr, flush=True)

    def work(label: str) -> list[str]:
        return ["--work", str(WORK / label), "--device", device]

    for threads in thread_counts:
        results["limits"][str(threads)] = run_case(["limits", *work("after")], None, threads)
    if "training" not in args.skip:
        for family in args.families:
            runs = {label: {f"{v.mode} {v.name}": [] for v in plan} for label, _ in checkouts}
            flops = {label: run_case(["flops", family, *work(label)], path, default_threads)
                     for label, path in checkouts}
            for repeat in range(args.repeats):
                for v in plan:
                    for label, path in checkouts:
                        row = run_case(["train", family, *work(label), *v.argv(), "--warmup", str(args.warmup),
                                        "--steps", str(args.steps)], path, v.threads)
                        runs[label][f"{v.mode} {v.name}"].append(row)
                        print(f"  {family} {label} {v.mode} {v.name}: "
                              + (f"{row['step_s']:.3g} s/step" if "step_s" in row else "failed"),
                              file=sys.stderr, flush=True)
            results["families"][family] = {
                label: {"flops": flops[label], "runs": runs[label],
                        "summary": summarise_family(runs[label], flops[label], results["limits"], plan)}
                for label, _ in checkouts}
    if "clip" not in args.skip:
        for threads in ([1, default_threads] if device == "cpu" else [default_threads]):
            key = f"{threads} thread(s)"
            if key in results["clip"]:
                continue
            results["clip"][key] = {}
            for label, path in checkouts:
                clip = run_case(["clip", *work(label), "--seconds", str(args.clip_seconds)], path, threads)
                results["clip"][key][label] = {**clip, "summary": summarise_clip(clip, results["limits"])}
    if "generation" not in args.skip:
        results["generation"] = {label: run_script("bench_audio.py", ["speed", "--seconds", "10", "40", "160"],
                                                   WORK / f"generation-{label}.json", path)
                                 for label, path in checkouts}
    if "data" not in args.skip:  # the current checkout's only: these start music_composer.py beside bench_common.py
        results["data"] = {"audio_cache": run_script("bench_audio.py", ["cache"], WORK / "audio-cache.json", None),
                           "midi_scale": run_script("bench_midi.py", ["scale"], WORK / "midi-scale.json", None)}
    print("\n".join(limits_lines(results["limits"]) + table(results) + clip_lines(results["clip"])))
    for part in ("generation", "data"):
        for name, figures in results.get(part, {}).items():
            if "error" in figures:
                print(f"{part} {name}: failed ({figures['error']}): {' / '.join(figures['output_tail'][-2:])}")
    write_results(results, args.out)
    failed = failed_parts(results)
    if failed:
        raise SystemExit(f"{len(failed)} measurement(s) failed, their errors in {args.out}: {', '.join(failed)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{all,case}")

    command = commands.add_parser("all", help="every measurement side by side, JSON and a table")
    command.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                         help="where the training and the clip run (default: CUDA when present)")
    command.add_argument("--families", nargs="+", choices=list(FAMILIES), default=list(FAMILIES))
    command.add_argument("--skip", nargs="+", action="extend", choices=SKIPPABLE, default=[],
                         help="parts not to run (the flag may be given more than once)")
    command.add_argument("--baseline", type=Path, metavar="DIR",
                         help="another checkout: every case also runs with PYTHONPATH=DIR (before -> after)")
    command.add_argument("--warmup", type=int, default=2, help="steps not timed at the start of each run")
    command.add_argument("--steps", type=int, default=4, help="steps timed in each run (their median counts)")
    command.add_argument("--repeats", type=int, default=1, help="runs of each training case; the fastest counts")
    command.add_argument("--clip-seconds", type=float, default=10.0, help="length of the generated clip")
    add_basics(command, "speed.json", threads=None)
    command.set_defaults(run=all_command)

    # one measurement in a fresh process, as `all` starts them
    command = commands.add_parser("case", help="one measurement, printed as one JSON line")
    command.add_argument("kind", choices=list(CASES))
    command.add_argument("family", nargs="?", help=f"for flops and train: {', '.join(FAMILIES)}")
    command.add_argument("--mode", choices=["bare", "engine"], default="engine")
    command.add_argument("--threads", type=int, default=1)
    command.add_argument("--device", default="cpu")
    command.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    command.add_argument("--compile", action="store_true", help="torch.compile the model's training_loss")
    command.add_argument("--warmup", type=int, default=2)
    command.add_argument("--steps", type=int, default=4)
    command.add_argument("--seconds", type=float, default=10.0, help="clip length")
    command.add_argument("--work", type=Path, default=WORK / "after", help="prepared data, reused")
    command.set_defaults(run=case)

    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
