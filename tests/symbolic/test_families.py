"""One command set for every model family: a MusicVAE run dir and note-model run dirs through the same commands,
one-line refusals of what a family cannot do, old checkpoints, `midi compare` and `midi latent-map`."""
import json
import math
import shutil

import numpy as np
import pytest

from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.errors import UserError
from symbolic.data.datasets import PreparedDataset
from symbolic.data.prepare import PrepareResult
from symbolic.data.splits import split_of
from symbolic.studies.compare import held_out_files, held_out_windows
from symbolic.studies.latent_map import neighbour_agreement, pca_2d, sub_folder
from symbolic.trained_model import TrainedModel
from tests.symbolic.test_music_vae_commands import examples, midi, run  # noqa: F401 (fixtures)

# Random-walk melodies of 21 to 64 notes: windows of 16 notes every 8.
TINY_NOTES = "rnn_size=16,z_size=4,pitch_class_embed=4,octave_embed=2,duration_embed=2,program_embed=2," \
             "batch_size=8,data.seq_len=16,data.hop=8"


def train_notes(config, examples, run_dir, steps=4):
    assert midi("train", "--config", config, "--examples-path", examples, "--run-dir", run_dir, "--hparams",
                TINY_NOTES, "--num-steps", steps, "--val-every", steps, "--no-progress") == 0
    return run_dir


@pytest.fixture(scope="module")
def vrash_run(tmp_path_factory, examples):
    return train_notes("vrash-note", examples, tmp_path_factory.mktemp("vrash"))


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory, examples):
    return train_notes("lm-note", examples, tmp_path_factory.mktemp("lm"))


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


@pytest.mark.parametrize("which", ["run", "vrash_run"])
def test_a_music_vae_and_a_vrash_run_dir_work_with_the_same_commands(which, examples, tmp_path, capsys, request):
    run_dir = request.getfixturevalue(which)
    song_a, song_b = sorted(examples.glob("*.mid"))[:2]
    capsys.readouterr()  # the fixtures' training output
    assert midi("evaluate", "--run-dir", run_dir, "--examples-path", examples, "--json", "--no-progress") == 0
    metrics = json.loads(capsys.readouterr().out)
    family = {"run": "music_vae", "vrash_run": "note_model"}[which]
    assert metrics["family"] == family and metrics["verdicts"] and "kl_bits" in metrics
    if family == "note_model":
        assert metrics["nll_bound"] > metrics["cross_entropy"] > 0 and metrics["unigram_cross_entropy"] > 0
        assert math.isclose(metrics["cross_entropy"],
                            metrics["ce_pitch_class"] + metrics["ce_octave"] + metrics["ce_duration"], rel_tol=1e-5)
    out = tmp_path / "out"
    for command in (["sample", "-n", 2], ["interpolate", "--input-midi-1", song_a, "--input-midi-2", song_b, "-n", 3],
                    ["reconstruct", "--input-midi", song_a]):
        assert midi(*command, "--run-dir", run_dir, "--output-dir", out / command[0], "--seed", 0) == 0
    assert [len(list((out / c).glob("*.mid"))) for c in ("sample", "interpolate", "reconstruct")] == [2, 3, 1]


def test_the_lm_says_in_one_line_what_it_cannot_do(lm_run, examples, tmp_path, capsys):
    song = sorted(examples.glob("*.mid"))[0]
    assert midi("sample", "--run-dir", lm_run, "-n", 2, "--output-dir", tmp_path / "samples") == 0
    assert len(list((tmp_path / "samples").glob("*.mid"))) == 2
    capsys.readouterr()
    for command in (["interpolate", "--input-midi-1", song, "--input-midi-2", song, "--output-dir", tmp_path],
                    ["reconstruct", "--input-midi", song, "--output-dir", tmp_path],
                    ["latent-map", "--examples-path", examples, "--png", tmp_path / "map.png"]):
        assert midi(command[0], "--run-dir", lm_run, *command[1:]) == 2
        line = error_line(capsys)
        assert "needs a latent model" in line and "lm-note" in line and "it can only sample" in line, line
    assert midi("attribute", "--run-dir", lm_run, "--examples-path", examples, "--attribute", "note_density",
                "--input-midi", song, "--output-dir", tmp_path) == 2
    assert "needs a MusicVAE of melodies" in error_line(capsys)


def test_a_checkpoint_without_a_family_is_a_music_vae_and_an_unknown_family_is_named(run, tmp_path):
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["hparams"]["family"] == "music_vae"
    del state["hparams"]["family"]  # as every checkpoint written before the note models
    save_checkpoint(tmp_path / "old" / "checkpoint.pt", state)
    assert TrainedModel(tmp_path / "old").config.family == "music_vae"
    state["hparams"]["family"] = "transformer"
    save_checkpoint(tmp_path / "future" / "checkpoint.pt", state)
    with pytest.raises(UserError, match="unknown model family 'transformer'"):
        TrainedModel(tmp_path / "future")


def test_a_run_dir_is_never_resumed_as_another_family(vrash_run, examples, capsys):
    capsys.readouterr()
    assert midi("train", "--config", "cat-mel_2bar_small", "--examples-path", examples, "--run-dir", vrash_run,
                "--num-steps", 8, "--no-progress") == 2
    line = error_line(capsys)
    assert "holds a note model config (vrash-note)" in line and "MusicVAE config" in line
    assert midi("train", "--config", "lm-note", "--examples-path", examples, "--run-dir", vrash_run, "--hparams",
                TINY_NOTES, "--num-steps", 8, "--no-progress") == 2
    assert "mode" in error_line(capsys)  # same family, another model: a shape key differs


def test_compare_trains_each_config_under_one_budget_beside_the_untrained_model(examples, tmp_path, capsys):
    assert midi("compare", "--configs", "lm-note,vrash-note", "--examples-path", examples, "--num-steps", 3,
                "--run-dir", tmp_path, "--hparams", TINY_NOTES, "--samples", 4, "--no-progress") == 0
    out = capsys.readouterr().out
    assert "untrained lm-note" in out and "held-out data" in out and "unigram_cross_entropy" in out
    assert "compared: cross_entropy (nats per note)" in out and "units: nats per note: cross_entropy" in out
    result = json.loads((tmp_path / "compare.json").read_text())
    assert [(row["name"], row["step"], row["group"]) for row in result["rows"]] == [
        ("untrained", 0, 0), ("lm-note", 3, 0), ("vrash-note", 3, 0)]  # one converter, one family: one group
    untrained = result["rows"][0]["metrics"]["cross_entropy"]
    uniform = math.log(13) + math.log(11) + math.log(15)  # near-uniform heads: a sum of log class counts
    [group] = result["groups"]
    assert abs(untrained - uniform) < 0.5 and group["metric"] == "cross_entropy" and group["unit"] == "nats per note"
    assert set(group["data_features"]) == {"repeated_note_rate", "pitch_class_entropy"}
    assert group["n_test_windows"] == PreparedDataset.open(group["prepared"]).result.windows["test"]
    assert all(set(row["metrics"]) - {"n_sequences"} <= set(group["units"]) for row in result["rows"])
    assert (tmp_path / "compare.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "compare.txt").exists()
    assert midi("compare", "--configs", "lm-note,lm-note", "--examples-path", examples, "--num-steps", 3,
                "--run-dir", tmp_path, "--no-progress") == 2
    assert "distinct config names" in error_line(capsys)


def test_compare_across_converters_scores_each_row_on_its_own_windows_of_the_same_files(examples, tmp_path, capsys):
    assert midi("compare", "--configs", "lm-note,cat-mel_2bar_small", "--examples-path", examples, "--num-steps", 1,
                "--run-dir", tmp_path, "--hparams", "z_size=4,batch_size=8", "--samples", 4, "--no-progress") == 0
    out = capsys.readouterr().out
    assert "compared: cross_entropy (nats per note)" in out and "compared: accuracy (fraction of steps)" in out
    result = json.loads((tmp_path / "compare.json").read_text())
    assert [(row["name"], row["group"], row["unit"]) for row in result["rows"]] == [
        ("untrained", 0, "nats per note"), ("lm-note", 0, "nats per note"),
        ("cat-mel_2bar_small", 1, "fraction of steps")]
    notes, melody = result["groups"]
    assert (notes["converter"]["kind"], notes["metric"], set(notes["baselines"])) == (
        "notes", "cross_entropy", {"unigram_cross_entropy"})
    assert (melody["converter"]["kind"], melody["metric"], set(melody["baselines"])) == (
        "melody", "accuracy", {"always_hold_accuracy", "unigram_nll"})
    assert set(result["rows"][2]["metrics"]) - {"n_sequences"} <= set(melody["units"])
    test_files = sorted(path.name for path in examples.glob("*.mid") if split_of(path.name) == "test")
    assert result["test_files"] == test_files and melody["n_test_windows"] == 3 * len(test_files)  # 3 per file
    assert notes["n_test_windows"] == PreparedDataset.open(notes["prepared"]).result.windows["test"]
    assert result["rows"][2]["metrics"]["n_sequences"] == melody["n_test_windows"]
    assert (tmp_path / "compare.png").read_bytes()[:4] == b"\x89PNG"
    assert midi("compare", "--configs", "lm-note,cat-mel_2bar_small", "--examples-path", examples, "--num-steps", 1,
                "--run-dir", tmp_path, "--hparams", "z_size=4,batch_size=8", "--metric", "elbo", "--no-progress") == 2
    assert "metric 'elbo' is not reported by lm-note" in error_line(capsys)


def fake_prepared(folder, kind: str, test_sources: list, note: str | None = None) -> PrepareResult:
    """A prepared folder whose test split holds ``test_sources`` ([file, windows]); window k of it holds k."""
    windows = np.arange(sum(count for _, count in test_sources), dtype=np.int16).reshape(-1, 1, 1)
    result = PrepareResult(output_dir=folder / kind, spec={"kind": kind}, files_found=3, windows={}, files={
        "test": len(test_sources)}, skipped={}, stats={}, note=note, sources={"test": test_sources})
    result.split_path("test").parent.mkdir(parents=True)
    np.save(result.split_path("test"), windows)
    return result


def test_held_out_files_are_those_every_converter_found_windows_in(tmp_path):
    notes = fake_prepared(tmp_path, "notes", [["a.mid", 2], ["b.mid", 1], ["c.mid", 2]])
    melody = fake_prepared(tmp_path, "melody", [["c.mid", 3], ["b.mid", 1]])
    assert held_out_files([notes, melody], "songs") == ["b.mid", "c.mid"]
    assert held_out_windows(notes, ["b.mid", "c.mid"])[:, 0, 0].tolist() == [2, 3, 4]
    assert held_out_windows(melody, ["b.mid", "c.mid"])[:, 0, 0].tolist() == [0, 1, 2, 3]
    few = fake_prepared(tmp_path, "drums", [], note="only 4 usable files (< 10): all of them are in train")
    with pytest.raises(UserError, match=r"songs: no held-out test file gives windows for every config \(notes "
                                        r"windows in 3 test files; drums windows in 0 test files \(only 4"):
        held_out_files([notes, few], "songs")


def test_latent_map_colours_the_windows_by_sub_folder(vrash_run, examples, tmp_path, capsys):
    folders = tmp_path / "folders"
    for k, song in enumerate(sorted(examples.glob("*.mid"))):
        (folders / f"group{k % 2}").mkdir(parents=True, exist_ok=True)
        shutil.copy(song, folders / f"group{k % 2}" / song.name)
    capsys.readouterr()
    assert midi("latent-map", "--run-dir", vrash_run, "--examples-path", folders, "--png", tmp_path / "map.png",
                "--method", "pca", "--no-progress") == 0
    summary = capsys.readouterr().out
    assert "mapped by pca" in summary and "group0" in summary and "group1" in summary
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"


def test_latent_map_pieces():
    assert sub_folder("bach/chorale.mid") == "bach" and sub_folder("song.mid") == "(top level)"
    points = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    assert neighbour_agreement(points, np.array(["a", "a", "b", "b"]), k=1) == 1.0
    assert neighbour_agreement(points, np.array(["a", "b", "a", "b"]), k=1) == 0.0
    line = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [2.0, 2.0, 0.0]])
    projected = pca_2d(line)
    assert np.allclose(np.abs(projected[:, 0]), [math.sqrt(2), 0.0, math.sqrt(2)]) and np.allclose(projected[:, 1], 0)
