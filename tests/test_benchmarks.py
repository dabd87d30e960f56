"""The benchmark scripts stay importable and runnable (`-h` of every entry and subcommand), and their shared helpers
do what every benchmark relies on. Nothing here runs a benchmark."""
import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.step import StepOutput

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
ENTRIES = {"bench_audio": ["sources", "quality", "data", "speed", "cache", "time-generation"],
           "bench_midi": ["prepare", "musicvae", "note-models", "cnn-vrnn", "prepare-files", "scale"],
           "bench_midi_quality": ["make", "cnn-vrnn", "musicvae"],
           "bench_chords": ["chorales"],
           "bench_personalise": [],
           "bench_threads": [],
           "bench_speed": ["all", "case"],
           "bench_memory": ["run", "case"]}


@pytest.fixture
def scripts(monkeypatch):
    """Import the benchmarks as they import each other when run as files: from scripts/ on the path."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    return importlib


@pytest.mark.parametrize("entry", ENTRIES)
def test_every_entry_runs_its_help_as_a_file(entry):
    done = subprocess.run([sys.executable, str(SCRIPTS / f"{entry}.py"), "-h"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {entry}.py")


@pytest.mark.parametrize("entry,command", [(e, c) for e, commands in ENTRIES.items() for c in commands])
def test_every_subcommand_has_help(scripts, capsys, entry, command):
    with pytest.raises(SystemExit) as stopped:
        scripts.import_module(entry).main([command, "-h"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.startswith("usage:")


def test_the_machine_description_says_cpus_threads_load_and_software(scripts):
    machine = scripts.import_module("bench_common").describe_machine(3)
    assert {"cpus", "usable_cpus", "threads", "loadavg_before", "processor", "platform", "python",
            "torch"} <= machine.keys()
    assert machine["threads"] == 3 and len(machine["loadavg_before"]) == 3


def test_results_are_written_as_json_with_the_load_after(scripts, tmp_path, capsys):
    common = scripts.import_module("bench_common")
    path = common.write_results({"machine": common.describe_machine(1), "figure": 1.5}, tmp_path / "a" / "r.json")
    written = json.loads(path.read_text())
    assert written["figure"] == 1.5 and len(written["machine"]["loadavg_after"]) == 3
    assert str(path) in capsys.readouterr().out


def test_the_basic_flags_default_to_the_results_folder(scripts):
    common = scripts.import_module("bench_common")
    parser = argparse.ArgumentParser()
    common.add_basics(parser, "x.json", threads=2, seed=True)
    args = parser.parse_args([])
    assert (args.out, args.threads, args.seed) == (common.RESULTS / "x.json", 2, 0)


def test_a_subprocess_is_timed_with_its_output_and_memory(scripts):
    common = scripts.import_module("bench_common")
    timed = common.run_timed([sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr)"])
    assert timed.returncode == 0 and "out" in timed.output and "err" in timed.output
    assert timed.wall_s > 0 and timed.cpu_s > 0 and timed.peak_rss_mb > 1
    assert set(timed.costs()) == {"wall_s", "cpu_s", "peak_rss_mb", "peak_rss_tree_mb"}


def test_a_failing_subprocess_exits_with_its_output_unless_told_not_to(scripts):
    common = scripts.import_module("bench_common")
    command = [sys.executable, "-c", "raise SystemExit('broken')"]
    assert common.run_timed(command, check=False).returncode == 1
    with pytest.raises(SystemExit, match="broken"):
        common.run_timed(command)


class TinyRecurrent(torch.nn.Module):
    """An LSTM and a Linear head with the engine's training_loss: FLOPs that can be counted by hand."""

    def __init__(self, inputs: int, hidden: int, outputs: int):
        super().__init__()
        self.lstm = torch.nn.LSTM(inputs, hidden, batch_first=True)
        self.head = torch.nn.Linear(hidden, outputs)

    def training_loss(self, batch, step):
        return StepOutput(self.head(self.lstm(batch)[0]).square().mean(), {}, len(batch))


def test_the_flop_count_sees_the_lstms_matmuls(scripts):
    batch, time, inputs, hidden, outputs = 3, 5, 4, 8, 2
    counted = scripts.import_module("bench_speed").training_flops(TinyRecurrent(inputs, hidden, outputs),
                                                                  torch.randn(batch, time, inputs))
    lstm = 2 * batch * time * 4 * hidden * (inputs + hidden)
    assert counted["forward"] == lstm + 2 * batch * time * hidden * outputs
    assert 2 * counted["forward"] < counted["total"] <= 3 * counted["forward"]  # the backward is counted too


def test_step_times_drop_the_warm_up_and_start_at_a_steps_first_micro_batch(scripts):
    step_intervals = scripts.import_module("bench_speed").step_intervals
    assert step_intervals([0, 1, 3, 6, 10], steps=5, warmup=2) == [3, 4]
    assert step_intervals([0, .5, 1, 1.5, 3, 3.2, 6, 6.1, 10, 10.1], steps=5, warmup=2) == [3, 4]


def test_a_generated_frame_reads_the_lstm_the_feedback_layer_and_the_choice_head(scripts):
    from wavegen.model import WaveLSTM, WaveLSTMConfig

    n, layers, k = 4, 2, 3
    weights = scripts.import_module("bench_speed").generation_weights(
        WaveLSTM(WaveLSTMConfig(frame_dim=6, hidden_size=n, num_layers=layers, hypotheses=k)))
    assert weights["numbers"] == layers * (8 * n * n + 4 * n) + (k * n * n + k * n) + (k * n + k)
    assert weights["fp32_bytes"] == 4 * weights["numbers"] and weights["bytes_as_run"] <= weights["fp32_bytes"]


def test_a_summary_reads_the_engine_overhead_and_the_fraction_of_peak_before_and_after(scripts):
    speed = scripts.import_module("bench_speed")
    plan = speed.variants("cpu", default_threads=1)
    assert [v.name for v in plan] == ["1 thread", "1 thread", "2 threads"]

    def run(step_s: float, cpu_s: float) -> dict:
        return {"step_s": step_s, "step_cpu_s": cpu_s, "seq_per_s": 10 / step_s, "peak_mb": 100.0, "threads": 1}

    runs = {"bare 1 thread": [run(2.0, 2.0), run(1.0, 1.0)], "engine 1 thread": [run(1.1, 1.05)],
            "engine 2 threads": [{"error": "killed"}]}
    limits = {"1": {"matmul": {"fp32": {"flops": 100.0}}}}
    summary = speed.summarise_family(runs, {"total": 55.0}, limits, plan)
    assert summary["engine_overhead"] == pytest.approx(1.1) and summary["engine_overhead_cpu"] == pytest.approx(1.05)
    assert summary["fraction_of_peak"] == pytest.approx(0.5) and "engine 2 threads" not in summary["variants"]
    results = {"checkouts": ["before", "after"], "variants": [f"{v.mode} {v.name}" for v in plan],
               "families": {"cnn-vrnn": {"before": {"summary": summary}, "after": {"summary": summary}}}}
    row = speed.table(results)[-1]
    assert "50% / 52% → 50% / 52%" in row and "1.10 / 1.05 → 1.10 / 1.05" in row and "- → -" in row
    assert speed.failed_parts({"families": {"cnn-vrnn": {"after": {"runs": runs}}}}) == [
        "families/cnn-vrnn/after/runs/engine 2 threads/0"]


def test_the_audio_benchmark_writes_mastered_tracks_of_exact_length_and_grooves_that_are_drums(scripts, tmp_path):
    import numpy as np
    import soundfile as sf

    sources = scripts.import_module("audio_sources")
    rng = np.random.default_rng(0)
    quiet = [(rng.standard_normal((30000, 2)) * 300).astype(np.int16) for _ in range(3)]
    tracks = sources.write_tracks(sources.mastered(quiet), tmp_path, 2, track_seconds=1.0)
    assert [sf.info(str(t)).frames for t in tracks] == [44100, 44100]
    assert np.abs(sf.read(str(tracks[0]))[0]).max() == pytest.approx(0.891, abs=0.01)  # -1 dBFS
    with pytest.raises(SystemExit, match="only 2.0 minutes|only 0.0"):
        sources.write_tracks(iter(quiet[:1]), tmp_path / "short", 2, track_seconds=1.0)
    song = sources.groove_song(np.random.default_rng(1), 20.0)
    drums, bass, chords = song.instruments
    assert drums.is_drum and {sources.KICK, sources.SNARE} <= {n.pitch for n in drums.notes}
    assert 20.0 - 4 * 60 / 84 < song.get_end_time() <= 20.0 and bass.notes and chords.notes  # whole bars
