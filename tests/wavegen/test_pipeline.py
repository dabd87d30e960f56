"""The audio pipeline from Python, without argparse: train, generate from the checkpoint, score."""
import dataclasses
import json
from pathlib import Path

import pytest
import soundfile as sf

from engine.errors import UserError
from wavegen.pipeline import generate, score_clips, train
from wavegen.settings import (GENERATION_NOISE, INPUT_NOISE, KEPT_GENERATION_NOISE, KEPT_INPUT_NOISE, Settings,
                              with_checkpoint_settings)


def tiny(tmp_path: Path, dataset: Path, **fields) -> Settings:
    """Settings of a fast run on the test clips with everything written under ``tmp_path``."""
    return Settings(datasets_folder_path=dataset, traindata_folder_path=tmp_path / "cache",
                    checkpoint=tmp_path / "model.pt", output_music_name=str(tmp_path / "out" / "clip"),
                    workers=1, no_progress=True, **fields)


def test_train_generate_from_the_checkpoint_and_score(tmp_path, dataset):
    trained = train(tiny(tmp_path, dataset, hidden_layer_neurons=16, hidden_layer_count=1, epochs=1))
    assert trained.model.config.hidden_size == 16 and len(trained.windows) > 0
    assert sorted(path.name for path in trained.files) == sorted(path.name for path in dataset.iterdir())
    assert (tmp_path / "model.pt").is_file()

    saved = train(tiny(tmp_path, dataset, epochs=0))  # no shape given: the checkpoint's
    assert (saved.settings.hidden_layer_neurons, saved.settings.hidden_layer_count) == (16, 1)
    clips = generate(saved, count=2, seconds=0.5, output_name=saved.settings.output_music_name, progress=False)
    assert clips.paths == [tmp_path / "out" / "clip-0.wav", tmp_path / "out" / "clip-1.wav"]
    assert clips.audio.shape == (2, round(0.5 * clips.rate))
    for path in clips.paths:
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (44100, 1, "PCM_16", round(0.5 * 44100))
    assert json.loads((tmp_path / "out" / "clip-clips.json").read_text()) == {"clips": ["clip-0.wav", "clip-1.wav"]}

    result = score_clips(clips.paths, saved.settings)
    assert result["count"] == 2 and result["clip_seconds"] == pytest.approx(0.5, abs=1e-3)
    assert json.loads((tmp_path / "out" / "clip-evaluation.json").read_text())["count"] == 2


@pytest.mark.parametrize("keep_gate, noise", [(False, GENERATION_NOISE), (True, KEPT_GENERATION_NOISE)])
def test_generation_noise_defaults_to_the_models(tmp_path, dataset, keep_gate, noise):
    """Without a noise, a model with the keep gate (which holds frames) generates with more than one without."""
    trained = train(tiny(tmp_path, dataset, hidden_layer_neurons=16, hidden_layer_count=1, epochs=1,
                         keep_gate=keep_gate))

    def clips(name: str, **noise_given) -> object:
        return generate(trained, count=2, seconds=0.5, output_name=str(tmp_path / name), progress=False,
                        **noise_given).audio

    default = clips("default")
    assert (default == clips("given", noise=noise)).all()
    assert not (default == clips("other", noise=noise + 0.5)).all()


@pytest.mark.parametrize("keep_gate, given, used", [(True, None, KEPT_INPUT_NOISE), (False, None, INPUT_NOISE),
                                                    (True, 0.3, 0.3)])
def test_input_noise_defaults_to_the_models(tmp_path, dataset, keep_gate, given, used):
    """Without --input-noise a model with the keep gate (which keeps the clean last frame) trains with more."""
    trained = train(tiny(tmp_path, dataset, hidden_layer_neurons=16, hidden_layer_count=1, epochs=1,
                         keep_gate=keep_gate, input_noise=given))
    assert trained.model.config.input_noise == used


def test_settings_default_as_the_command_and_given_fields_are_checked_against_a_checkpoint():
    settings = Settings()
    assert (settings.sequence_length, settings.stride) == (128, 128)
    assert Settings(framer="blocks").sequence_length == 40
    saved = {"hidden_layer_neurons": 16, "sequence_length": 6}
    completed = with_checkpoint_settings(settings, saved)
    assert (completed.hidden_layer_neurons, completed.sequence_length) == (16, 6)
    with pytest.raises(UserError, match="--hidden-layer-neurons: checkpoint has 16, now 1024"):
        with_checkpoint_settings(dataclasses.replace(settings, given=frozenset({"hidden_layer_neurons"})), saved)
