"""The benchmark scripts stay importable and runnable (`-h` of every entry and subcommand), and their shared helpers
do what every benchmark relies on. Nothing here runs a benchmark."""
import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
ENTRIES = {"bench_audio": ["data", "quality", "speed", "cache", "time-generation"],
           "bench_midi": ["prepare", "musicvae", "note-models", "cnn-vrnn", "prepare-files"],
           "bench_threads": []}


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
