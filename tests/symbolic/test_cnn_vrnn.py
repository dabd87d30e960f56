"""CNN-VRNN and its per-bar VRNN variant: shapes, the KLs against hand and Monte Carlo computations, the loss, the
frequency baseline, piano-roll songs that survive roll -> MIDI -> roll with their re-struck notes, and tiny models
that overfit through the Trainer."""
import math

import numpy as np
import pytest
import torch

from engine.errors import UserError
from engine.trainer import TrainConfig, Trainer
from symbolic.configs import get_config
from symbolic.configs.cnn_vrnn import CnnVrnnConfig
from symbolic.data.converters import PianorollConverter
from symbolic.models.cnn_vrnn import (UNITS, BarVrnn, CnnVrnn, baselines, build, gaussian_kl_between,
                                      onset_scores, sample_bars, verdicts)
from symbolic.models.latent import LN2, gaussian_kl
from tests.symbolic.test_converters import score_from_pretty_midi

BARS, STEPS, PITCHES = 4, 16, 12
DATA = {"kind": "pianoroll", "slice_bars": BARS, "steps_per_quarter": 4, "steps_per_bar": STEPS,
        "pitch_range": [60, 60 + PITCHES - 1]}


def tiny(vrnn: bool, **overrides) -> CnnVrnnConfig:
    values = dict(data=dict(DATA), vrnn=vrnn, cnn_channels=[4, 8], cnn_kernels=[3, 2], bar_size=16, z_size=4,
                  enc_rnn_size=8, dec_rnn_size=16)
    return CnnVrnnConfig(**{**values, **overrides})


def chords(n: int, seed: int = 0) -> torch.Tensor:
    """Windows of a random triad per bar struck on beats 1 and 3 and held for two beats (bool, as stored)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, BARS, 2, STEPS, PITCHES, dtype=torch.bool)
    for i in range(n):
        for bar in range(BARS):
            triad = torch.randperm(PITCHES, generator=g)[:3]
            for start in (0, 8):
                x[i, bar, 0, start, triad] = True
                x[i, bar, 1, start:start + 8, triad] = True
    return x


def rolls(n: int, seed: int = 0, density: float = 0.1) -> torch.Tensor:
    """Random windows [n, BARS, 2, STEPS, PITCHES] as the converter stores them (bool), sounding covering onsets."""
    g = torch.Generator().manual_seed(seed)
    onset = torch.rand(n, BARS, STEPS, PITCHES, generator=g) < density
    sounding = onset | (torch.rand(n, BARS, STEPS, PITCHES, generator=g) < density)
    return torch.stack([onset, sounding], dim=2)


@pytest.mark.parametrize("vrnn", [False, True])
def test_shapes_of_loss_latents_and_generation(vrnn):
    torch.manual_seed(0)
    model = build(tiny(vrnn))
    assert isinstance(model, BarVrnn if vrnn else CnnVrnn)
    x = rolls(3).long()
    out = model.training_loss(x, step=5)
    assert out.loss.shape == () and torch.isfinite(out.loss) and out.count == 3
    assert set(out.metrics) == {"bce_per_bar", "kl_bits", "nll_bound_per_bar", "beta"}
    logits, kl = model.teacher_forced(x.float())
    assert logits.shape == (3, BARS, 2, STEPS, PITCHES) and kl.shape == (3,) and (kl >= 0).all()
    model.eval()
    z, mu, sigma = model.encode(x)
    z_size = 4 * BARS if vrnn else 4
    assert z.shape == mu.shape == sigma.shape == (3, z_size) and (sigma > 0).all()
    if not vrnn:  # (a VRNN's posterior means depend on the z_t drawn before them)
        assert torch.equal(model.reconstruct(x, 0.0), model.decode(mu, BARS, 0.0))
    for y, n in ((model.decode(mu, BARS, 0.0), 3), (model.decode(mu, BARS, 1.0), 3), (model.sample(2, BARS, 1.0), 2),
                 (model.interpolate(x[0], x[1], 5, 0.5), 5), (model.reconstruct(x, 0.5), 3)):
        assert y.dtype == torch.int64 and y.shape == (n, BARS, 2, STEPS, PITCHES)
        assert set(y.unique().tolist()) <= {0, 1}
        assert (y[:, :, 1] >= y[:, :, 0]).all()  # every onset sounds
    metrics = model.evaluate(x, temperature=0.0)
    assert set(metrics) == {"bce_per_bar", "kl_bits", "nll_bound_per_bar", "onset_precision", "onset_recall",
                            "onset_f1"}
    assert set(UNITS) == set(metrics) | set(baselines(x.numpy(), x.numpy(), model.config))  # a unit for each
    with pytest.raises(ValueError, match="piano-roll windows"):
        model.training_loss(torch.zeros(2, BARS, 2, STEPS, PITCHES + 1, dtype=torch.long), 0)
    if vrnn:
        with pytest.raises(ValueError, match="one z of 4 per bar"):
            model.decode(mu, BARS + 1)
    else:
        assert model.decode(mu, BARS + 2, 0.5).shape[1] == BARS + 2  # one z decodes any number of bars


def test_the_kl_between_gaussians_against_a_hand_and_a_monte_carlo_computation():
    # KL(N(1, 0.5²) ‖ N(0.5, 2²)) = log(2 / 0.5) + (0.5² + 0.5²) / (2·2²) − 1/2
    kl = gaussian_kl_between(*(torch.tensor([[v]]) for v in (1.0, 0.5, 0.5, 2.0)))
    assert kl.item() == pytest.approx(math.log(4) + 0.5 / 8 - 0.5, rel=1e-6)
    assert gaussian_kl_between(torch.tensor([[0.3]]), torch.tensor([[0.7]]), torch.zeros(1, 1), torch.ones(1, 1)) \
        .item() == pytest.approx(gaussian_kl(torch.tensor([[0.3]]), torch.tensor([[0.7]])).item())
    # consistent with the sampling: E_q[log q(z) - log p(z)] over draws z = μq + σq·ε
    g = torch.Generator().manual_seed(0)
    mu_q, sigma_q, mu_p, sigma_p = torch.randn(4, 3, generator=g), torch.rand(3) + 0.3, torch.randn(3), \
        torch.rand(3) + 0.5
    z = mu_q[0] + sigma_q * torch.randn(200_000, 3, generator=g)
    q, p = torch.distributions.Normal(mu_q[0], sigma_q), torch.distributions.Normal(mu_p, sigma_p)
    monte_carlo = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean()
    assert gaussian_kl_between(mu_q[0], sigma_q, mu_p, sigma_p).item() == pytest.approx(monte_carlo.item(), abs=0.02)


def test_loss_is_the_bce_summed_per_bar_plus_the_weighted_kl_above_the_free_bits():
    torch.manual_seed(0)
    config = tiny(False, free_bits=0.5, max_beta=0.7, beta_rate=0.9)
    model = CnnVrnn(config)
    x = rolls(3, seed=2).long()
    _, mu, sigma = model.encode(x)
    kl = (0.5 * (mu ** 2 + sigma ** 2) - torch.log(sigma) - 0.5).sum(-1)  # KL(N(μ, σ²) ‖ N(0, I)) by hand
    torch.manual_seed(1)
    out = model.training_loss(x, step=3)
    torch.manual_seed(1)
    logits, _ = model.teacher_forced(x.float())
    p = torch.sigmoid(logits)
    bce = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(dim=(2, 3, 4))  # [B, bars]
    beta = (1 - 0.9 ** 3) * 0.7
    assert float(out.metrics["kl_bits"]) == pytest.approx(kl.mean().item() / LN2, rel=1e-4)
    assert float(out.metrics["bce_per_bar"]) == pytest.approx(bce.mean().item(), rel=1e-4)
    expected = (bce.sum(1) + beta * (kl - 0.5 * LN2).clamp(min=0)).mean()
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-4)


def test_onset_scores_and_the_frequency_baseline_against_hand_computations():
    target = torch.zeros(1, 1, 2, 2, 2)
    target[0, 0, 0, 0, :] = 1  # two onsets
    predicted = torch.zeros_like(target)
    predicted[0, 0, 0, 0, 0] = predicted[0, 0, 0, 1, 1] = predicted[0, 0, 0, 1, 0] = 1  # one of three right
    scores = onset_scores(predicted, target)
    assert [round(scores[k].item(), 4) for k in ("onset_precision", "onset_recall", "onset_f1")] == [
        round(1 / 3, 4), 0.5, 0.4]
    assert onset_scores(torch.zeros_like(target), target)["onset_f1"].item() == 0.0

    train = np.zeros((2, 2, 2, 1, 1), bool)  # 4 bars of one cell per channel
    train[0, 0, 0] = True  # channel 0 on in 1 bar of 4: p = (1 + 1) / (4 + 2)
    held_out = np.zeros((1, 1, 2, 1, 1), bool)
    held_out[0, 0, 0] = True
    expected = -math.log(2 / 6) - math.log(1 - 1 / 6)  # channel 0 on, channel 1 (p = 1/6) off
    assert baselines(train, held_out, None)["frequency_bce_per_bar"] == pytest.approx(expected)
    lines = verdicts({"bce_per_bar": 1.0, "nll_bound_per_bar": 3.0, "frequency_bce_per_bar": 2.0})
    assert lines[0].endswith("the model beats it") and lines[1].endswith("the model does not beat it")


@pytest.mark.parametrize("vrnn", [False, True])
def test_a_tiny_model_overfits_a_tiny_set_through_the_trainer(vrnn, tmp_path):
    x = chords(4, seed=3).long()
    torch.manual_seed(0)
    model = build(tiny(vrnn, z_size=8, bar_size=32, dec_rnn_size=128, enc_rnn_size=32, free_bits=0.0, max_beta=0.0))
    before = baselines(x.numpy().astype(bool), x.numpy().astype(bool), model.config)["frequency_bce_per_bar"]
    config = TrainConfig(run_dir=str(tmp_path), max_steps=200, batch_size=4, learning_rate=1e-2, device="cpu",
                         log_every=200, progress=False, tensorboard=False)
    Trainer(model, list(x) * 16, None, config).fit()  # 16 steps an epoch
    model.eval()
    torch.manual_seed(0)
    metrics = model.evaluate(x, temperature=0.0)
    assert float(metrics["bce_per_bar"]) < 0.05 * before
    assert float(metrics["onset_f1"]) > 0.95


def test_a_piano_roll_song_survives_roll_midi_roll_with_its_re_struck_notes(score_of):
    converter = PianorollConverter(slice_bars=2, pitch_range=(48, 83))
    repeated = [(60, 4 * i, 4 * i + 4) for i in range(8)]  # C4 struck again on every beat of bars 1-2
    held = [(64, 0, 16), (67, 40, 48)]  # E4 held through bar 1; bar 3 half silent; bar 4 silent; G4 in bar 3
    song = converter.song_windows(score_of([(0, False, repeated + held)]), "song")
    assert song.reason is None and song.windows.shape == (2, 2, 2, 16, 36)  # bars 1-4 tiled (the grid's spare bar)
    roll = song.windows.reshape(-1, 2, 16, 36)
    assert np.flatnonzero(roll[0, 0, :, 60 - 48]).tolist() == [0, 4, 8, 12]  # the onsets of the re-struck note
    decoded = converter.decode(song.windows[0])
    c4 = sorted((round(n.start / 0.125), round(n.end / 0.125)) for n in decoded.instruments[0].notes if n.pitch == 60)
    assert c4 == [(4 * i, 4 * i + 4) for i in range(8)]  # eight notes, not one long one
    velocities = {round(n.start / 0.125): n.velocity for n in decoded.instruments[0].notes}
    assert velocities[0] > velocities[4] and len(set(velocities.values())) > 1 and 127 not in velocities.values()
    again = converter.song_windows(score_from_pretty_midi(decoded), "decoded").windows
    assert again[0].tolist() == song.windows[0].tolist()
    # encode takes training windows without silent bars and de-duplicated; song_windows takes every bar in order
    assert converter.encode(score_of([(0, False, repeated + held)]), "song").windows.shape[0] == 2


def test_onsets_start_notes_and_sounding_only_extends_them():
    converter = PianorollConverter(slice_bars=1, pitch_range=(60, 61))
    window = np.zeros((1, 2, 16, 2), bool)
    window[0, 1, 0:3, 0] = True  # C4 sounding from the window's first step: a note held over from before
    window[0, 0, 6, 0] = window[0, 1, 6:9, 0] = True  # struck at step 6, held 3 steps
    window[0, 1, 11:13, 0] = True  # sounding that no onset leads to (a generated flicker): no note
    window[0, 0, 4, 1] = True  # an onset alone: a one-step note
    notes = sorted((n.pitch, round(n.start / 0.125), round(n.end / 0.125)) for n in
                   converter.decode(window).instruments[0].notes)
    assert notes == [(60, 0, 3), (60, 6, 9), (61, 4, 5)]


def test_song_windows_keep_repeats_and_silent_bars_in_order(score_of):
    converter = PianorollConverter(slice_bars=2, pitch_range=(48, 83))
    phrase = [(60, 0, 8), (62, 8, 16), (64, 16, 32)]
    notes = phrase + [(p, s + 32, e + 32) for p, s, e in phrase] + [(65, 80, 96)]  # 2 bars twice, a rest, 1 bar
    windows = converter.song_windows(score_of([(0, False, notes)]), "song").windows
    assert len(windows) == 3 and windows[0].tolist() == windows[1].tolist()
    assert not windows[2, 0].any() and windows[2, 1, 0, 0, 65 - 48]  # bar 5 silent, bar 6 the F4
    assert len(converter.encode(score_of([(0, False, notes)]), "song").windows) == 2  # the repeat de-duplicated


def test_song_windows_end_at_each_time_segment(score_of):
    converter = PianorollConverter(slice_bars=4, pitch_range=(48, 83))
    notes = [(60 + bar, 16 * bar, 16 * bar + 16) for bar in range(8)]  # one note a bar, a tempo change at bar 6
    windows = converter.song_windows(score_of([(0, False, notes)], tempos=((0, 120.0), (80, 90.0))), "song").windows
    firsts = [[int(np.flatnonzero(bar[0, 0])[0]) + 48 if bar.any() else None for bar in w] for w in windows]
    assert firsts == [[60, 61, 62, 63], [64, None, None, None], [65, 66, 67, None]]  # no bar twice


def test_the_named_config_and_bad_settings():
    config = get_config("cnn-vrnn", "vrnn=true,cnn_channels=[8,8],data.pitch_range=[36,84]")
    assert config.family == "cnn_vrnn" and config.vrnn and config.seq_len == 8
    assert config.capabilities == {"sample", "encode", "interpolate", "reconstruct", "variations"}
    assert CnnVrnnConfig.from_dict(config.to_dict()) == config
    default = get_config("cnn-vrnn")
    assert default.vrnn and default.decoding == "count"  # a latent per bar, bars drawn whole: the measured default
    for hparams, message in (("cnn_kernels=[3]", "of one length"), ("z_size=0", "z_size"),
                             ("data.kind=melody", "of kind 'pianoroll'"), ("decoding=greedy", "decoding must be"),
                             ("transpose=-2", "transpose must be a whole number")):
        with pytest.raises(UserError, match=message):
            get_config("cnn-vrnn", hparams)


def test_count_decoding_gives_each_channel_of_a_bar_its_expected_number_of_cells():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 2, STEPS, PITCHES, generator=g) * 2 - 3
    expected = torch.sigmoid(logits).flatten(-2).sum(-1).round()  # [5, 2]
    greedy = sample_bars(logits, 0.0, "count")
    assert torch.equal(greedy[:, 0].flatten(-2).sum(-1), expected[:, 0])  # onsets: exactly the expected count
    for bar in (0, 3):  # the most likely onsets, and only they
        chosen = greedy[bar, 0].flatten().bool()
        assert logits[bar, 0].flatten()[chosen].min() > logits[bar, 0].flatten()[~chosen].max()
    assert (greedy[:, 1] >= greedy[:, 0]).all()  # onsets sound
    torch.manual_seed(1)
    drawn = sample_bars(logits, 1.0, "count")
    assert torch.equal(drawn[:, 0].flatten(-2).sum(-1), expected[:, 0]) and not torch.equal(drawn, greedy)
    # independent cells: logits > 0 at T = 0, which for a sparse roll is next to nothing
    assert torch.equal(sample_bars(logits, 0.0, "independent")[:, 0], (logits[:, 0] > 0).float())


def test_count_decoding_draws_a_single_cell_with_the_softmax_of_the_logits_over_the_temperature():
    logits = torch.full((2, 1, 4), -20.0)  # one bar [2, S=1, P=4]
    logits[:, 0, :2] = torch.tensor([2.0, -1.2])  # sigmoids sum to 0.88 + 0.23 = 1.1: one cell of these two
    torch.manual_seed(0)
    for temperature in (1.0, 2.0):
        firsts = torch.stack([sample_bars(logits, temperature, "count")[0, 0, 1] for _ in range(4000)])
        share = firsts.mean().item()  # how often the second cell was the one drawn (the channel's count is 1)
        expected = torch.softmax(torch.tensor([2.0, -1.2]) / temperature, 0)[1].item()
        assert share == pytest.approx(expected, abs=0.025)
