"""--evaluate scores the clips named, else those the last generation wrote, else (older clips) those found."""
import json
from pathlib import Path

from wavegen.cli import main


def run(tmp_path: Path, dataset: Path, *extra: str) -> list[str]:
    return ["-d", str(dataset), "-t", str(tmp_path / "cache"), "--checkpoint", str(tmp_path / "model.pt"),
            "-o", str(tmp_path / "out" / "clip"), "-n", "16", "-l", "1", "-s", "0.3", "--no-progress", "--workers", "1",
            *extra]


def scored(tmp_path: Path) -> int:
    return json.loads((tmp_path / "out" / "clip-evaluation.json").read_text())["count"]


def test_evaluate_scores_the_clips_of_the_last_generation_or_those_named(tmp_path, dataset, capsys):
    out = tmp_path / "out"
    assert main(run(tmp_path, dataset, "-e", "1", "-g", "4")) == 0
    assert main(run(tmp_path, dataset, "-e", "0", "-g", "2", "--seed", "5")) == 0
    assert json.loads((out / "clip-clips.json").read_text())["clips"] == ["clip-0.wav", "clip-1.wav"]
    capsys.readouterr()
    assert main(run(tmp_path, dataset, "--evaluate")) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("scoring")]
    assert lines == [f"scoring 2 clip(s), the last generation's as {out / 'clip-clips.json'} lists them: "
                     f"{out / 'clip-0.wav'} ... {out / 'clip-1.wav'}, against the last 10% of every file in {dataset}/"]
    assert scored(tmp_path) == 2

    assert main(run(tmp_path, dataset, "--evaluate", str(out / "clip-3.wav"))) == 0
    assert f"scoring 1 clip(s), as named: {out / 'clip-3.wav'}, against" in capsys.readouterr().out
    assert scored(tmp_path) == 1

    (out / "clip-clips.json").unlink()  # clips written before generations listed them: found by their names
    assert main(run(tmp_path, dataset, "--evaluate")) == 0
    assert "scoring 4 clip(s), found as clip-0.wav, clip-1.wav, ...:" in capsys.readouterr().out
    assert scored(tmp_path) == 4


def test_evaluate_names_a_missing_clip_or_a_damaged_list_in_one_line(tmp_path, dataset, capsys):
    missing = tmp_path / "out" / "nothing.wav"
    assert main(run(tmp_path, dataset, "--evaluate", str(missing))) == 2
    assert capsys.readouterr().err == f"error: --evaluate: there is no clip {missing}\n"
    manifest = tmp_path / "out" / "clip-clips.json"
    manifest.parent.mkdir()
    manifest.write_text('{"clips": ["clip-0.wav", "clip-1.wav"')  # cut short
    assert main(run(tmp_path, dataset, "--evaluate")) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {manifest} is unreadable (JSONDecodeError: ") and err.count("\n") == 1
    assert err.endswith("; name the clips to score instead: --evaluate CLIP.wav ...\n")
