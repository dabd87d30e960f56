"""`midi personalise` (MidiMe) on a held-out song: how much closer the personalised model's prior samples are to the
song than the base model's, and how long personalising took, for a MusicVAE, a CNN-VRNN and the note VAE.

    python scripts/bench_personalise.py [--data DIR] [--chorales DIR] [--steps-musicvae 3000 ...] [--threads 1]

The base models train as scripts/bench_midi.py trains them (`musicvae`: the example's 2-bar melody model on the Essen
folk songs; `cnn-vrnn`: one z per 8-bar window on Bach; `note-models`: vae-note on the Essen folk songs), for fewer
steps (a few CPU-minutes each); a run dir already trained that far is reused. The melody models are personalised on
a fiddle tune of the bundled Ryan's Mammoth Collection (not in the Essen corpus), the CNN-VRNN on a chorale of its
test split. For each seed, n prior samples of the personalised run and n of its base are compared with the song's
windows (symbolic.studies.personalised.closeness): pitch-class histogram L1 (the target: at least 30% lower for
MusicVAE and CNN-VRNN), best-window onset F1, feature overlap.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench_common import RESULTS, ROOT, add_basics, describe_machine, write_results
from bench_midi import CNN_VRNN_HPARAMS, make_chorales, make_folk

RYANS = ROOT / "symbolic" / "examples" / "melodies" / "ryans"
TARGET = 0.30  # pitch-class L1 at least this much lower than the base model's, for MusicVAE and CNN-VRNN


def base_runs(args: argparse.Namespace) -> list[dict]:
    """(family name, config, hparams, data, steps, song) of each base model the benchmark personalises."""
    from symbolic.data.midi_io import find_midi_files
    from symbolic.data.splits import split_of
    from symbolic.examples import beta_rate_for, example_hparams

    if {"musicvae", "vae-note"} & set(args.families) and not (args.data.is_dir() and find_midi_files(args.data)):
        make_folk(args.data)
    if "cnn-vrnn" in args.families and not args.chorales.is_dir():
        make_chorales(args.chorales)
    song = args.song or sorted(RYANS.glob("*.mid"))[0]
    chorale = args.chorale or next((p for p in sorted(args.chorales.glob("*.mid"))
                                    if split_of(p.relative_to(args.chorales).as_posix()) == "test"), None)
    runs = [("musicvae", "cat-mel_2bar_small", example_hparams(args.steps_musicvae), args.data,
             args.steps_musicvae, song),
            ("cnn-vrnn", "cnn-vrnn",
             f"{CNN_VRNN_HPARAMS},vrnn=false,beta_rate={beta_rate_for(args.steps_cnn_vrnn):.8g}", args.chorales,
             args.steps_cnn_vrnn, chorale),
            ("vae-note", "vae-note", None, args.data, args.steps_vae_note, song)]
    return [dict(zip(("name", "config", "hparams", "data", "steps", "song"), run)) for run in runs
            if run[0] in args.families]


def bench_family(run: dict, args: argparse.Namespace) -> dict:
    """Train (or reuse) the base run, then personalise it on the song once per seed and measure the closeness."""
    from symbolic.personalise import MidiMeConfig
    from symbolic.studies.personalised import closeness, personalise, pitch_class_l1, windows_with_notes
    from symbolic.train import train
    from symbolic.trained_model import TrainedModel

    run_dir = args.work / run["name"]
    started = time.monotonic()
    train(run_dir, run["data"], run["config"], run["hparams"], num_steps=run["steps"], val_every=run["steps"],
          checkpoint_every=run["steps"], progress=False, seed=0, workers=args.threads)
    row = {"config": run["config"], "hparams": run["hparams"], "steps": run["steps"], "song": str(run["song"]),
           "base_seconds": round(time.monotonic() - started, 1), "seeds": {}}
    for seed in args.seeds:
        out = args.work / f"{run['name']}-personalised-{seed}"
        record = personalise(run_dir, [run["song"]], out, MidiMeConfig(steps=args.personalise_steps), seed,
                             device="cpu", progress=False)
        model = TrainedModel(out, "cpu")
        windows = windows_with_notes(model, run["song"])  # what the small model learnt
        found = closeness(model, windows, args.samples, args.temperature, seed)
        _, mu, _ = model.encode_windows(windows)  # the reference: the song decoded from its own latent codes
        decoded = model.to_midi(model.decode_windows(mu, args.temperature))
        mine, base = found["personalised"]["pitch_class_l1"], found["base"]["pitch_class_l1"]
        row["seeds"][seed] = {"personalise_seconds": record["seconds"], "windows": record["windows"],
                              "final_losses": record["final_losses"], "closer_by": round(1 - mine / base, 4),
                              "reconstruction_pitch_class_l1": pitch_class_l1(decoded, model.to_midi(windows)),
                              **{f"{who}_{key}": found[who][key] for who in ("personalised", "base")
                                 for key in ("pitch_class_l1", "onset_f1", "overlap")}}
        if args.png and run["name"] == "musicvae" and seed == args.seeds[0]:
            draw(model, windows, run["song"], args.png, seed)
    closer = [r["closer_by"] for r in row["seeds"].values()]
    row["closer_by_min"], row["closer_by_mean"] = min(closer), sum(closer) / len(closer)
    print("\n".join(family_lines(run["name"], row)), flush=True)
    return row


def draw(model, windows, song: Path, png: Path, seed: int, bars: int = 8) -> None:
    """The song's first ``bars`` bars above as many bars of personalised samples, on one piano-roll PNG."""
    import torch

    from symbolic.render import write_piano_roll
    from symbolic.studies.variations import stitch

    count = max(1, bars // model.converter.slice_bars)
    torch.manual_seed(seed)
    write_piano_roll(stitch(model.converter, model.sample_windows(count)), png, "personalised samples (MidiMe)",
                     above=(stitch(model.converter, windows[:count]), f"{song.stem} (the song)"))
    print(f"picture: {png}")


def summary(results: dict) -> list[str]:
    """The settings, then each family's lines."""
    lines = [f"personalised on one held-out song; {results['samples']} samples per model at T="
             f"{results['temperature']}; {results['machine']['threads']} CPU thread(s)"]
    return lines + [line for name, row in results["families"].items() for line in family_lines(name, row)]


def family_lines(name: str, row: dict) -> list[str]:
    """Per seed: pitch-class L1 of personalised and base samples, onset F1, seconds; then the mean against the
    target (MusicVAE and CNN-VRNN)."""
    lines = [f"{name:9} seed {seed}: pitch-class L1 {r['personalised_pitch_class_l1']:.3f} vs base "
             f"{r['base_pitch_class_l1']:.3f} ({r['closer_by']:+.0%} closer; the song's own windows decoded: "
             f"{r['reconstruction_pitch_class_l1']:.3f}), onset F1 {r['personalised_onset_f1']:.3f} vs "
             f"{r['base_onset_f1']:.3f}; {r['windows']} windows, personalised in {r['personalise_seconds']:.1f} s"
             for seed, r in row["seeds"].items()]
    target = f" (target {TARGET:.0%}: {'met' if row['closer_by_min'] >= TARGET else 'NOT met'})" \
        if name != "vae-note" else ""
    return lines + [f"{name:9} closer by {row['closer_by_mean']:.0%} on average{target}"]


def run_benchmark(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    results = {"machine": describe_machine(args.threads), "samples": args.samples, "temperature": args.temperature,
               "personalise_steps": args.personalise_steps, "seeds": args.seeds, "families": {}}
    for run in base_runs(args):
        results["families"][run["name"]] = bench_family(run, args)
    print("\n".join(summary(results)))
    write_results(results, args.out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=RESULTS / "essen-midi",
                        help="folder of Essen MIDI files (made when missing, as bench_midi.py makes it)")
    parser.add_argument("--chorales", type=Path, default=Path("/tmp/cnn-vrnn-bench/chorales"),
                        help="folder of Bach MIDI files (made when missing, as bench_midi.py cnn-vrnn makes it)")
    parser.add_argument("--work", type=Path, default=RESULTS / "personalise",
                        help="prepared data, base runs (reused when trained that far) and personalised runs")
    parser.add_argument("--families", nargs="+", choices=("musicvae", "cnn-vrnn", "vae-note"),
                        default=["musicvae", "cnn-vrnn", "vae-note"])
    parser.add_argument("--steps-musicvae", type=int, default=3000,
                        help="steps of the 2-bar melody model (the example model's)")
    parser.add_argument("--steps-cnn-vrnn", type=int, default=300, help="steps of the CNN-VRNN")
    parser.add_argument("--steps-vae-note", type=int, default=300, help="steps of the note VAE")
    parser.add_argument("--song", type=Path, help="the melody models' song (default: the first bundled Ryan's tune)")
    parser.add_argument("--chorale", type=Path, help="the CNN-VRNN's song (default: the first test-split chorale)")
    parser.add_argument("--personalise-steps", type=int, default=300, help="steps of the small VAE")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds of personalising and sampling")
    parser.add_argument("--samples", type=int, default=100, help="prior samples of each model per seed")
    parser.add_argument("--temperature", type=float, default=0.5, help="sampling temperature")
    parser.add_argument("--png", type=Path, help="draw the song above personalised MusicVAE samples here")
    add_basics(parser, "personalise.json", threads=1)
    run_benchmark(parser.parse_args(argv))


if __name__ == "__main__":
    main()
