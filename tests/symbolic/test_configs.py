"""The MusicVAE config registry: Magenta's sizes, hparams overrides, schedules and serialisation."""
import json
import math

import pytest

from engine.errors import UserError
from symbolic.configs import CONFIGS, MusicVAEConfig, get_config, list_configs

# name: (z_size, enc_rnn_size, dec_rnn_size, conductor_rnn_size, free_bits, max_beta, beta_rate,
#        sampling_schedule, sampling_rate, batch_size, kind, seq_len, depths), from Magenta's configs.py.
MAGENTA = {
    "cat-mel_2bar_small": (256, [512], [256, 256], [], 0, 0.2, 0.99999, "inverse_sigmoid", 1000, 512,
                           "melody", 32, (90,)),
    "cat-mel_2bar_big": (512, [2048], [2048] * 3, [], 0, 0.5, 0.99999, "inverse_sigmoid", 1000, 512,
                         "melody", 32, (90,)),
    "cat-drums_2bar_small": (256, [512], [256, 256], [], 48, 0.2, 0.0, "inverse_sigmoid", 1000, 512,
                             "drums", 32, (512,)),
    "flat-mel_16bar": (512, [2048, 2048], [2048] * 3, [], 256, 0.2, 0.0, "constant", 0, 512,
                       "melody", 256, (90,)),
    "hierdec-mel_16bar": (512, [2048, 2048], [1024, 1024], [1024, 1024], 256, 0.2, 0.0, "constant", 0, 512,
                          "melody", 256, (90,)),
    "hierdec-trio_16bar": (512, [2048, 2048], [1024, 1024], [1024, 1024], 256, 0.2, 0.0, "constant", 0, 256,
                           "trio", 256, (90, 90, 512)),
    "cat-mel_2bar_med_chords": (256, [1024], [512] * 3, [], 0, 1.0, 0.0, "constant", 0, 512,
                                "lead_sheet", 32, (90,)),  # Magenta's default schedules
}


def test_registry_has_magentas_names_and_sizes():
    assert sorted(name for name in list_configs() if CONFIGS[name].family == "music_vae") == sorted(MAGENTA)
    for name, expected in MAGENTA.items():
        c = get_config(name)
        got = (c.z_size, c.enc_rnn_size, c.dec_rnn_size, c.conductor_rnn_size, c.free_bits, c.max_beta,
               c.beta_rate, c.sampling_schedule, c.sampling_rate, c.batch_size, c.data["kind"], c.seq_len, c.depths)
        assert got == expected, name
        assert c.hierarchical == name.startswith("hierdec")
        assert (c.learning_rate, c.decay_rate, c.min_learning_rate, c.grad_clip) == (1e-3, 0.9999, 1e-5, 1.0)
    assert get_config("cat-drums_2bar_small").roll_input
    # Magenta's NoteSequenceAugmenter(transpose_range=(-5, 5)) is on its 2-bar melody configs only, (-3, 3) with chords.
    assert {name: CONFIGS[name].transpose for name in MAGENTA} == {
        name: 3 if name.endswith("chords") else 5 if name.startswith("cat-mel_2bar") else 0 for name in MAGENTA}
    assert get_config("cat-mel_2bar_small").data["program_range"] == [0, 31]
    assert "program_range" not in get_config("hierdec-mel_16bar").data


def test_hparams_override_fields_with_their_types():
    c = get_config("hierdec-trio_16bar", "z_size=64, enc_rnn_size=[128,128],dec_rnn_size=[32],learning_rate=3e-4,"
                                         "conductor_rnn_size=[16],roll_input=false,data.slice_bars=4,"
                                         "sampling_schedule=exponential,sampling_rate=0.99,batch_size=8")
    assert (c.z_size, c.enc_rnn_size, c.dec_rnn_size, c.conductor_rnn_size) == (64, [128, 128], [32], [16])
    assert (c.learning_rate, c.sampling_schedule, c.sampling_rate, c.batch_size) == (3e-4, "exponential", 0.99, 8)
    assert c.data == {"kind": "trio", "slice_bars": 4, "steps_per_quarter": 4} and c.seq_len == 64
    assert CONFIGS["hierdec-trio_16bar"].data["slice_bars"] == 16  # the registry itself is untouched
    assert get_config("flat-mel_16bar", "hierarchical=true,conductor_rnn_size=[8]").hierarchical


@pytest.mark.parametrize("hparams, message", [
    ("z_sise=3", "unknown key 'z_sise'"),
    ("z_size=big", "bad value for z_size: 'big'"),
    ("z_size=1.5", "bad value for z_size"),
    ("enc_rnn_size=true", "bad value for enc_rnn_size"),
    ("roll_input=maybe", "bad value for roll_input"),
    ("z_size", "expected key=value"),
    ("dec_rnn_size=[]", "dec_rnn_size must be a non-empty list"),
    ("sampling_rate=0.5", "inverse_sigmoid sampling_rate must be >= 1"),
    ("conductor_rnn_size=[64]", "conductor_rnn_size must be"),
    ("data.slice_bars=0", "data.slice_bars must be a positive integer"),
    ("data.kind=piano", "kind is one of"),
    ("transpose=-1", "transpose must be a whole number of semitones in [0, 87]"),
    ("transpose=88", "transpose must be a whole number of semitones in [0, 87]"),
])
def test_bad_hparams_raise_user_errors_that_name_the_problem(hparams, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[")):
        get_config("cat-mel_2bar_small", hparams)


def test_unknown_config_lists_the_known_ones():
    with pytest.raises(UserError, match="hierdec-mel_16bar"):
        get_config("hierdec-mel_8bar")


def test_to_dict_from_dict_round_trip_through_json():
    c = get_config("hierdec-trio_16bar", "z_size=7")
    assert MusicVAEConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    with pytest.raises(UserError, match="bogus"):
        MusicVAEConfig.from_dict({**c.to_dict(), "bogus": 1})


def test_configs_saved_before_transposition_load_without_it():
    saved = get_config("cat-mel_2bar_small").to_dict()
    del saved["transpose"]
    assert MusicVAEConfig.from_dict(saved).transpose == 0  # what such a run was trained with
    with pytest.raises(UserError, match="transpose needs melody-type tracks"):
        get_config("cat-drums_2bar_small", "transpose=3")
    assert get_config("hierdec-trio_16bar", "transpose=3").transpose == 3  # melody and bass are shifted


def test_learning_rate_decays_exponentially_to_the_floor():
    c = get_config("cat-mel_2bar_small")  # lr 1e-3, decay 0.9999, floor 1e-5
    assert c.lr_lambda(0) == pytest.approx(1.0)
    assert c.lr_lambda(10_000) == pytest.approx(0.99 * math.exp(-1.000050003) + 0.01, rel=1e-6)  # 0.374182
    assert c.lr_lambda(10_000_000) == pytest.approx(0.01)


def test_beta_anneals_to_max_beta():
    c = get_config("cat-mel_2bar_small")  # max_beta 0.2, rate 0.99999
    assert c.beta(0) == 0.0
    assert c.beta(100_000) == pytest.approx(0.2 * (1 - math.exp(-1.000005)), rel=1e-6)  # 0.1264245
    assert get_config("hierdec-mel_16bar").beta(1) == 0.2  # beta_rate 0: constant after step 0, as in Magenta


def test_scheduled_sampling_probabilities():
    c = get_config("cat-mel_2bar_small")  # inverse_sigmoid, k = 1000: 1 - k / (k + exp(step / k))
    assert c.sampling_prob(0) == pytest.approx(1 - 1000 / 1001)
    assert c.sampling_prob(5000) == pytest.approx(0.129234, abs=1e-6)
    assert c.sampling_prob(10_000_000) == 1.0  # no overflow far into training
    assert get_config("cat-mel_2bar_small", "sampling_schedule=exponential,sampling_rate=0.999").sampling_prob(
        1000) == pytest.approx(0.632305, abs=1e-6)
    assert get_config("cat-mel_2bar_small", "sampling_schedule=constant,sampling_rate=0.3").sampling_prob(7) == 0.3
    assert get_config("hierdec-mel_16bar").sampling_prob(10 ** 6) == 0.0


def test_the_note_models_share_the_registry_and_a_bare_number_is_a_one_element_list():
    assert {name: (get_config(name).family, get_config(name).mode) for name in ("lm-note", "vae-note", "vrash-note")} \
        == {"lm-note": ("note_model", "lm"), "vae-note": ("note_model", "vae"), "vrash-note": ("note_model", "vrash")}
    assert get_config("vrash-note").z_size == 16 and get_config("vrash-note").data["kind"] == "notes"
    assert get_config("cat-mel_2bar_small", "enc_rnn_size=256").enc_rnn_size == [256]
    assert get_config("vrash-note", "rnn_size=64,data.seq_len=48").rnn_size == [64]
    assert get_config("lm-note").capabilities == {"sample"} and "interpolate" in get_config("vae-note").capabilities
    with pytest.raises(UserError, match="unknown key 'enc_rnn_size' for a note model config"):
        get_config("vrash-note", "enc_rnn_size=64")
    with pytest.raises(UserError, match="data must be a converter spec of kind 'notes'"):
        get_config("vrash-note", "data.kind=melody")


def test_every_config_names_only_known_capabilities():
    from symbolic.configs import CAPABILITIES
    for name, config in CONFIGS.items():
        assert config.capabilities <= set(CAPABILITIES) and "sample" in config.capabilities, name
