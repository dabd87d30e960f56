"""The symbolic quality benchmark: how CNN-VRNN and MusicVAE do on several kinds of music, each trained on its own
source's training files and measured on that source's test files (80/10/10 by a hash of the path), JSON out.

    python scripts/bench_midi_quality.py make [--data DIR]                  # once (needs music21 and abc2midi)
    python scripts/bench_midi_quality.py cnn-vrnn [--sources ...] [--num-steps 1500] [--seeds 0 1] [--threads 1]
    python scripts/bench_midi_quality.py musicvae [--sources ...] [--num-steps 3000] [--seeds 0 1] [--threads 1]

Sources (music21's corpus). Which are held out was decided before any result was looked at, and is fixed here:
the TUNING sources are the ones the project's defaults were already chosen on (Bach for CNN-VRNN, whose chorale
benchmark lives in bench_midi.py; Essen for MusicVAE, whose example and benchmark use it); every other source is
HELD OUT of all tuning: no default, schedule or decoding choice may be made by looking at its figures, which are
reported apart.

- bach (polyphonic, tuning): every Bach work, chorales mostly, 4 voices.
- palestrina (polyphonic, held out): every fifth mass movement of the corpus (Humdrum), 4-6 voices; their 4/2 bars
  are written as two 2/2 bars (the same pulse on the 16-step bars the converters read; the 3/2 ones are skipped).
- monteverdi (polyphonic, held out): the madrigals (MusicXML), 5 voices.
- essen (melodic, tuning): the Essen folk songs, rendered with abc2midi.
- ryans (melodic, held out): Ryan's Mammoth Collection of fiddle tunes, rendered with abc2midi.

Every CNN-VRNN figure comes with its trivial baseline (the note-frequency BCE per bar; prior samples for the
variations), every MusicVAE figure with always-hold accuracy and the real-against-real overlap; each is given per
seed. Trainings are measured in steps at --threads 1 and report the process CPU time they used.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_common import add_basics, describe_machine, write_results
from bench_midi import CNN_VRNN_HPARAMS, cpu_seconds, prepared_for, song_distances

POLYPHONIC = {"bach": "tuning", "palestrina": "held out", "monteverdi": "held out"}
MELODIC = {"essen": "tuning", "ryans": "held out"}
DATA = Path("/tmp/midi-quality")
PALESTRINA_EVERY = 5  # 1318 files parse slowly; every fifth keeps ~260 of them


def corpus_paths(source: str) -> list[Path]:
    """The music21 corpus files a source is made from (see the module docstring)."""
    from music21 import corpus

    if source == "palestrina":
        return sorted(corpus.getComposer("palestrina"))[::PALESTRINA_EVERY]
    if source == "monteverdi":
        return [p for p in sorted(corpus.getComposer("monteverdi")) if p.suffix == ".mxl"]
    if source == "bach":
        return [p for p in sorted(corpus.getComposer("bach")) if p.suffix != ".rntxt"]
    return sorted(corpus.getComposer({"essen": "essenFolksong", "ryans": "ryansMammoth"}[source]))


def write_score(path: Path, folder: Path) -> bool:
    """One corpus score written as MIDI in ``folder``, shifted by its pickup so that bar lines fall where the
    converters put them; False when music21 cannot parse or write it."""
    import music21
    import symusic

    target = folder / f"{path.stem.replace('.', '_')}.mid"
    try:
        score = music21.corpus.parse(str(path))
        score.write("midi", fp=str(target))
        first = score.parts[0].getElementsByClass("Measure")[0]
        midi = symusic.Score(str(target))
        midi.shift_time(int(round(first.paddingLeft * midi.ticks_per_quarter)), inplace=True)
        halve_four_two(midi).dump_midi(str(target))
        return True
    except Exception as e:  # noqa: BLE001 - a corpus file music21 cannot parse or write is skipped and counted
        print(f"skipped {path}: {type(e).__name__}: {e}", file=sys.stderr)
        return False


def halve_four_two(midi):
    """``midi`` (a symusic Score) with every 4/2 time signature written as 2/2: a 4/2 bar becomes two 2/2 bars."""
    import symusic

    for k, sig in enumerate(midi.time_signatures):
        if (sig.numerator, sig.denominator) == (4, 2):
            midi.time_signatures[k] = symusic.TimeSignature(sig.time, 2, 2)
    return midi


def render_abc(path: Path, folder: Path) -> int:
    """Every tune of one ABC file as a MIDI file in ``folder`` (abc2midi); how many were written."""
    with tempfile.TemporaryDirectory() as tmp:  # abc2midi writes <stem><X number>.mid beside its input
        shutil.copy(path, tmp)
        subprocess.run(["abc2midi", path.name, "-quiet", "-silent"], cwd=tmp, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        produced = list(Path(tmp).glob("*.mid"))
        for midi in produced:
            shutil.move(midi, folder / f"{path.stem}_{midi.stem[len(path.stem):]}.mid")
    return len(produced)


def make_source(source: str, data: Path) -> dict:
    """``data/source``, made once (in a staging folder renamed when complete): files written and skipped."""
    folder = data / source
    if folder.is_dir():
        return {"made": False, "files": len(list(folder.glob("*.mid")))}
    staging = folder.with_name(source + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    paths = corpus_paths(source)
    if source in MELODIC:
        written = sum(render_abc(p, staging) for p in paths)
    else:
        written = sum(write_score(p, staging) for p in paths)
    staging.rename(folder)
    return {"made": True, "corpus_files": len(paths), "files": written}


def make(args: argparse.Namespace) -> None:
    """Write every source's MIDI folder under --data (those already there are kept)."""
    for source in args.sources:
        started = time.monotonic()
        print(source, make_source(source, args.data), f"{time.monotonic() - started:.0f} s", flush=True)


# ----------------------------------------------------------------------------------------------------- CNN-VRNN
MODELS = {"one-z": "vrnn=false", "per-bar": "vrnn=true"}  # the old default, and the new one
DECODINGS = ("independent", "count")  # the old decoding, and the new one
BEFORE, AFTER = ("one-z", "independent"), ("per-bar", "count")
VARIATION_TEMPERATURES = (0.25, 0.5, 1.0)


def train_timed(run_dir: Path, data: Path, config: str, hparams: str, num_steps: int, seed: int) -> dict:
    """Train ``config`` afresh for ``num_steps`` steps: wall and process CPU seconds (this process, one thread)."""
    from symbolic.train import train

    shutil.rmtree(run_dir, ignore_errors=True)
    started, cpu = time.monotonic(), cpu_seconds()
    train(run_dir, data, config, hparams, num_steps=num_steps, val_every=num_steps, progress=False, seed=seed,
          workers=1)
    return {"steps": num_steps, "wall_s": round(time.monotonic() - started, 1),
            "cpu_s": round(cpu_seconds() - cpu, 1)}


def cnn_vrnn_source(args: argparse.Namespace, source: str, seed: int) -> dict:
    """Both models on one source with one seed: held-out BCE per bar against the note frequencies, onset F1 of
    reconstructions (posterior means, T = 0) with each decoding, and the new default's variations of held-out songs
    at three temperatures beside prior samples."""
    from symbolic.examples import beta_rate_for
    from symbolic.studies.evaluate import baselines, evaluate_model
    from symbolic.trained_model import TrainedModel

    data, row = args.data / source, {}
    for name in args.models:
        setting = MODELS[name]
        run_dir = args.run_dir / source / f"{name}-seed{seed}"
        hparams = f"{args.hparams},{setting},beta_rate={beta_rate_for(args.num_steps):.8g}"
        cost = train_timed(run_dir, data, "cnn-vrnn", hparams, args.num_steps, seed)
        model = TrainedModel(run_dir, "cpu")
        test = model.example_windows(data, "test", progress=False)
        base = baselines(model.example_windows(data, "train", progress=False), test, model.config)
        result = {"hparams": hparams, **cost, **base, "test_windows": len(test)}
        for decoding in DECODINGS:
            model.config.decoding = decoding
            metrics = evaluate_model(model, test, 0.0, seed=seed, progress=False)
            result[decoding] = {k: round(v, 4) for k, v in metrics.items() if k != "n_sequences"}
        if name == AFTER[0]:
            model.config.decoding = AFTER[1]
            _, sources = model.example_windows_and_sources(data, "test", progress=False)
            songs = [data / rel for rel in sorted(set(sources))[:args.songs]]
            result["variations"] = [song_distances(model, songs, args.variations, t, seed)
                                    for t in VARIATION_TEMPERATURES]
        row[name] = result
        print(f"{source} seed {seed} {name}: {cost['steps']} steps, {cost['cpu_s']:.0f} CPU-s; BCE per bar "
              f"{result['count']['bce_per_bar']:.1f} (frequencies {base['frequency_bce_per_bar']:.1f}); onset F1 "
              + ", ".join(f"{d} {result[d]['onset_f1']:.3f}" for d in DECODINGS), flush=True)
    return row


def cnn_vrnn(args: argparse.Namespace) -> None:
    """The old default (one z per window, independent cells) against the new (a latent per bar, bars drawn whole)
    on every polyphonic source, per seed; held-out sources reported apart."""
    import torch

    torch.set_num_threads(args.threads)
    results = {"machine": describe_machine(args.threads), "num_steps": args.num_steps, "hparams": args.hparams,
               "models": args.models, "held_out": {s: POLYPHONIC[s] for s in args.sources}, "before": BEFORE,
               "after": AFTER, "sources": {}}
    for source in args.sources:
        make_source(source, args.data)
        results["sources"][source] = {}
        for seed in args.seeds:
            results["sources"][source][str(seed)] = cnn_vrnn_source(args, source, seed)
            write_results(results, args.out)  # after every run: a long benchmark stopped keeps what it measured
    print("\n".join(cnn_vrnn_summary(results)))


def cnn_vrnn_summary(results: dict) -> list[str]:
    """Per source and seed: onset F1 before and after, the BCE against its baseline, the variations' distances."""
    lines = ["| source | kind | seed | CPU-s | onset F1 before | after | per-bar, independent | BCE/bar after "
             "(frequencies) | T: variation F1 / prior F1, variation / prior pitch-class distance |",
             "|---|---|---|---|---|---|---|---|---|"]
    for source, seeds in results["sources"].items():
        for seed, row in seeds.items():
            before = f"{row[BEFORE[0]][BEFORE[1]]['onset_f1']:.3f}" if BEFORE[0] in row else "not run"
            after = row[AFTER[0]][AFTER[1]]
            variations = "; ".join(f"{v['temperature']}: {v['variation_onset_f1']:.2f} / {v['prior_onset_f1']:.2f}, "
                                   f"{v['variation_pitch_class_distance']:.2f} / {v['prior_pitch_class_distance']:.2f}"
                                   for v in row[AFTER[0]]["variations"])
            lines.append(f"| {source} | {results['held_out'][source]} | {seed} | {row[AFTER[0]]['cpu_s']:.0f} | "
                         f"{before} | {after['onset_f1']:.3f} | "
                         f"{row[AFTER[0]]['independent']['onset_f1']:.3f} | {after['bce_per_bar']:.1f} "
                         f"({row[AFTER[0]]['frequency_bce_per_bar']:.1f}) | {variations} |")
    return lines


# ----------------------------------------------------------------------------------------------------- MusicVAE
MUSICVAE_CONFIG = "cat-mel_2bar_small"
SAMPLE_TEMPERATURES = (0.5, 1.0)


def aggregate_posterior(model, windows: np.ndarray) -> dict:
    """The mixture of the windows' posteriors N(μ_i, σ_i²) beside the prior N(0, I): per dimension its mean and
    standard deviation (sqrt(mean σ² + var μ)), averaged over the dimensions (prior: 0 and 1), and the spread of
    its means across dimensions."""
    _, mu, sigma = model.encode_windows(windows)
    mean, std = mu.mean(0), (sigma.pow(2).mean(0) + mu.var(0)).sqrt()
    return {"mean_abs_mean": round(mean.abs().mean().item(), 3), "mean_std": round(std.mean().item(), 3),
            "min_std": round(std.min().item(), 3), "max_std": round(std.max().item(), 3)}


def musicvae_source(args: argparse.Namespace, source: str, seed: int) -> dict:
    """The 2-bar model on one source with one seed: held-out accuracies against always-hold, the aggregate
    posterior against the prior, prior samples' feature overlap with the test windows at two temperatures, drawn from
    the fitted prior (the default, symbolic.latent_prior) and from N(0, I); as many samples as test windows, so that
    the samples' side of the overlap is no noisier than the real one."""
    from symbolic.examples import example_hparams
    from symbolic.studies.evaluate import baselines, evaluate_model, sample_quality
    from symbolic.trained_model import TrainedModel

    prepared, _ = prepared_for(MUSICVAE_CONFIG, args.data / source, args.run_dir / source)
    run_dir = args.run_dir / source / f"2bar-seed{seed}"
    hparams = args.hparams or example_hparams(args.num_steps)
    cost = train_timed(run_dir, prepared, MUSICVAE_CONFIG, hparams, args.num_steps, seed)
    model = TrainedModel(run_dir, "cpu")
    test = model.example_windows(prepared, "test", progress=False)
    test = test[np.random.default_rng(seed).permutation(len(test))[:args.max_eval]]
    metrics = evaluate_model(model, test, 0.0, seed=seed, progress=False)
    metrics.update(baselines(model.example_windows(prepared, "train", progress=False), test, model.config))
    result = {"hparams": hparams, **cost, "test_windows": len(test),
              **{k: metrics[k] for k in ("accuracy", "sampled_accuracy", "always_hold_accuracy", "kl_bits")},
              "aggregate_posterior": aggregate_posterior(model, test), "samples": {}}
    if model.fitted_prior is not None:
        result["fitted_prior"] = {k: round(v, 3) for k, v in model.fitted_prior.summary().items()}
    for prior, draws in (("fitted", model.fitted_prior), ("normal", None)):
        model.prior = draws
        for temperature in SAMPLE_TEMPERATURES:
            quality = sample_quality(model, test, len(test), temperature, seed)
            result["samples"][f"{prior} {temperature}"] = {
                "overlap": round(quality["overlap"], 3), "ceiling": round(quality["ceiling"], 3),
                "features": {k: round(v["overlap"], 3) for k, v in quality["features"].items()}}
    print(f"{source} seed {seed}: {cost['steps']} steps, {cost['cpu_s']:.0f} CPU-s; accuracy {result['accuracy']:.3f} "
          f"(always hold {result['always_hold_accuracy']:.3f}); samples overlap "
          f"{ {k: v['overlap'] for k, v in result['samples'].items()} }; aggregate "
          f"posterior {result['aggregate_posterior']}", flush=True)
    return result


def musicvae(args: argparse.Namespace) -> None:
    """The 2-bar melody model on every melodic source, per seed; held-out sources reported apart."""
    import torch

    torch.set_num_threads(args.threads)
    results = {"machine": describe_machine(args.threads), "num_steps": args.num_steps, "config": MUSICVAE_CONFIG,
               "held_out": {s: MELODIC[s] for s in args.sources}, "sources": {}}
    for source in args.sources:
        make_source(source, args.data)
        results["sources"][source] = {}
        for seed in args.seeds:
            results["sources"][source][str(seed)] = musicvae_source(args, source, seed)
            write_results(results, args.out)  # after every run: a long benchmark stopped keeps what it measured


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{make,cnn-vrnn,musicvae}")

    command = commands.add_parser("make", help="write every source's MIDI folder once")
    command.add_argument("--data", type=Path, default=DATA)
    command.add_argument("--sources", nargs="+", choices=[*POLYPHONIC, *MELODIC], default=[*POLYPHONIC, *MELODIC])
    command.set_defaults(run=make)

    command = commands.add_parser("cnn-vrnn", help="the old and new CNN-VRNN defaults on every polyphonic source")
    command.add_argument("--data", type=Path, default=DATA)
    command.add_argument("--run-dir", type=Path, default=Path("/tmp/midi-quality-runs"))
    command.add_argument("--sources", nargs="+", choices=list(POLYPHONIC), default=list(POLYPHONIC))
    command.add_argument("--num-steps", type=int, default=1500)
    command.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    command.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS),
                         help="one-z: the old default; per-bar: the new (the summary needs per-bar)")
    command.add_argument("--hparams", default=CNN_VRNN_HPARAMS, help="overrides of both models")
    command.add_argument("--songs", type=int, default=4, help="held-out songs to vary")
    command.add_argument("--variations", type=int, default=2, help="variations (and prior samples) per song")
    add_basics(command, "midi-quality-cnn-vrnn.json", threads=1)
    command.set_defaults(run=cnn_vrnn)

    command = commands.add_parser("musicvae", help="the 2-bar MusicVAE on every melodic source")
    command.add_argument("--data", type=Path, default=DATA)
    command.add_argument("--run-dir", type=Path, default=Path("/tmp/midi-quality-runs"))
    command.add_argument("--sources", nargs="+", choices=list(MELODIC), default=list(MELODIC))
    command.add_argument("--num-steps", type=int, default=3000)
    command.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    command.add_argument("--hparams", help="overrides (default: the example model's, scaled to --num-steps)")
    command.add_argument("--max-eval", type=int, default=1000, help="test windows evaluated per model at most")
    add_basics(command, "midi-quality-musicvae.json", threads=1)
    command.set_defaults(run=musicvae)

    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
