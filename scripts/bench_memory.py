"""Does every Magenta config train within this machine's memory at its own sizes? (issue 26)

For each MusicVAE config with Magenta's sizes, in a fresh process: the trainer's memory estimate (engine.memory) for
the config's whole batch, the micro-batch the trainer would choose on this machine, and a measured check of the
estimate: one optimizer step made of two micro-batches of ``--micro-batch`` windows (random valid tokens of the
config's window shape: memory does not depend on the notes), its peak RSS above the model's own, against the
estimate for that micro-batch. The time of a micro-batch gives the time of a whole step on this CPU. Before the
micro-batches (commit b404f4d) a step took the whole batch at once: the estimate for the whole batch is what it
needed.

`python scripts/bench_memory.py [--configs A B ...] [--micro-batch 4] [--threads 1]`
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time

from bench_common import add_basics, describe_machine, run_timed, write_results

GIB = 2 ** 30


def peak_rss() -> int:
    """This process's peak RSS so far, in bytes (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def case(args: argparse.Namespace) -> None:
    """In this fresh process: estimate, then one step of two micro-batches; print the figures as JSON."""
    import torch

    from engine import memory
    from symbolic.configs import get_config
    from symbolic.models.families import build_model

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = get_config(args.config)
    model = build_model(config)
    rss_model = peak_rss()
    device = torch.device("cpu")

    def batch(n: int) -> torch.Tensor:
        return torch.stack([torch.randint(0, depth, (n, config.seq_len)) for depth in config.depths], dim=-1)

    def loss_of(n: int) -> torch.Tensor:
        return model.training_loss(batch(n), 0).loss

    estimate = memory.estimate(model, loss_of, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    times = []
    for _ in range(2):
        started = time.perf_counter()
        (loss_of(args.micro_batch) * 0.5).backward()
        times.append(time.perf_counter() - started)
    optimizer.step()
    fits = estimate.largest_batch()
    print(json.dumps({
        "config": args.config, "batch_size": config.batch_size,
        "parameters": sum(p.numel() for p in model.parameters()), "threads": torch.get_num_threads(),
        "free_gb": estimate.free / GIB, "fixed_gb": estimate.fixed / GIB,
        "per_example_mb": estimate.per_example / 2 ** 20,
        "whole_batch_estimate_gb": estimate.needs(config.batch_size) / GIB,
        "chosen_micro_batch": min(fits, config.batch_size), "micro_batch": args.micro_batch,
        "micro_batch_estimate_gb": estimate.needs(args.micro_batch) / GIB,
        "measured_above_model_gb": (peak_rss() - rss_model) / GIB, "peak_rss_gb": peak_rss() / GIB,
        "seconds_per_micro_batch": min(times)}))


def benchmark(args: argparse.Namespace) -> None:
    from symbolic.configs.music_vae import CONFIGS

    names = args.configs or list(CONFIGS)
    results = {"machine": describe_machine(args.threads), "micro_batch": args.micro_batch, "configs": {}}
    for name in names:
        command = [sys.executable, __file__, "case", name, "--micro-batch", str(args.micro_batch),
                   "--threads", str(args.threads)]
        lines = run_timed(command).output.splitlines()
        row = json.loads(next(line for line in reversed(lines) if line.startswith("{")))
        results["configs"][name] = row
        print(f"{name}: {row['parameters'] / 1e6:.0f} M parameters; whole batch of {row['batch_size']} needs "
              f"~{row['whole_batch_estimate_gb']:.1f} GB of {row['free_gb']:.1f} GB free -> micro-batches of "
              f"{row['chosen_micro_batch']}; at {args.micro_batch}: estimated {row['micro_batch_estimate_gb']:.2f} "
              f"GB, measured {row['measured_above_model_gb']:.2f} GB above the model (peak RSS "
              f"{row['peak_rss_gb']:.2f} GB), {row['seconds_per_micro_batch']:.1f} s per micro-batch on "
              f"{row['threads']} thread(s)", flush=True)
    write_results(results, args.out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench_memory.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="every config (the default command)")
    add_basics(run, "memory.json")
    run.add_argument("--configs", nargs="+", metavar="NAME", help="MusicVAE configs (default: all of Magenta's)")
    run.add_argument("--micro-batch", type=int, default=4, help="windows per measured micro-batch (default 4)")
    one = sub.add_parser("case", help="one config, in this process (what `run` starts)")
    one.add_argument("config")
    one.add_argument("--micro-batch", type=int, default=4)
    one.add_argument("--threads", type=int, default=1)
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("run", "case", "-h", "--help"):
        argv = ["run", *argv]
    args = parser.parse_args(argv)
    (case if args.command == "case" else benchmark)(args)


if __name__ == "__main__":
    main()
