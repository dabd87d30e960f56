"""The model's loss and baseline, multiple hypotheses, the keep gate, O(1)-per-frame generation with the state
carried, safe audio conversion."""
import numpy as np
import torch

from wavegen.framer import FrameSpec
from wavegen.generate import HOLD_OFFSET, frames_to_audio, generate_frames
from wavegen.lstm_step import LSTMStepper
from wavegen.model import WaveLSTM, WaveLSTMConfig


def small_model(input_noise: float = 0.0, hypotheses: int = 1, dropout: float = 0.0, keep_gate: bool = False,
                frame_dim: int = 8, hidden_size: int = 6) -> WaveLSTM:
    torch.manual_seed(0)
    return WaveLSTM(WaveLSTMConfig(frame_dim=frame_dim, hidden_size=hidden_size, num_layers=2, input_noise=input_noise,
                                   hypotheses=hypotheses, dropout=dropout, keep_gate=keep_gate)).eval()


def test_training_loss_reports_mse_and_repeat_last_frame_baseline():
    batch = torch.randn(3, 5, 8)
    out = small_model().training_loss(batch, step=0)
    predictions, _ = small_model()(batch[:, :-1])
    assert torch.allclose(out.loss, ((predictions - batch[:, 1:]) ** 2).mean())
    assert torch.allclose(out.metrics["mse"], out.loss)
    assert torch.allclose(out.metrics["baseline_mse"], ((batch[:, :-1] - batch[:, 1:]) ** 2).mean())
    assert out.count == 3


def test_input_noise_perturbs_training_inputs_only_and_not_the_baseline():
    batch = torch.randn(3, 5, 8)
    noisy = small_model(input_noise=0.5)
    clean = small_model().training_loss(batch, step=0)
    assert torch.equal(noisy.training_loss(batch, step=0).loss, clean.loss)  # eval mode: validation sees clean frames
    trained = noisy.train().training_loss(batch, step=0)
    assert not torch.equal(trained.loss, clean.loss)
    assert torch.equal(trained.metrics["baseline_mse"], clean.metrics["baseline_mse"])


def test_dropout_acts_in_training_only_on_the_same_weights():
    batch = torch.randn(3, 5, 8)
    dropped = small_model(dropout=0.5)
    assert torch.equal(dropped.training_loss(batch, step=0).loss, small_model().training_loss(batch, step=0).loss)
    dropped.train()
    first, second = dropped.training_loss(batch, step=0), dropped.training_loss(batch, step=0)
    assert not torch.equal(first.loss, second.loss)
    assert set(dropped.state_dict()) == set(small_model().state_dict())  # no new weights: old checkpoints load


def test_generation_noise_is_fed_back_reproducibly():
    model = small_model()
    seeds = torch.randn(2, 4, 8)
    plain = generate_frames(model, seeds, num_frames=6, progress=False)
    noisy = generate_frames(model, seeds, num_frames=6, noise=0.5, seed=1, progress=False)
    torch.testing.assert_close(noisy[:, 0], plain[:, 0])  # the first frame follows the seed alone
    assert not torch.allclose(noisy[:, 1:], plain[:, 1:])
    torch.testing.assert_close(generate_frames(model, seeds, 6, noise=0.5, seed=1, progress=False), noisy)
    assert not torch.allclose(generate_frames(model, seeds, 6, noise=0.5, seed=2, progress=False), noisy)


def test_stepwise_generation_equals_running_the_whole_sequence(monkeypatch):
    model = small_model()
    seeds = torch.randn(2, 4, 8)
    calls, steps = [], []
    model.lstm.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[1]))
    step = LSTMStepper.__call__
    monkeypatch.setattr(LSTMStepper, "__call__", lambda self, x, state: (steps.append(x.shape), step(self, x, state))[1])
    generated = generate_frames(model, seeds, num_frames=6, progress=False)
    assert generated.shape == (2, 6, 8)
    assert calls == [4] and steps == [(2, 6)] * 5  # the seed once, then one step (a row per clip) per new frame
    full, _ = model(torch.cat([seeds, generated[:, :-1]], dim=1))
    torch.testing.assert_close(full[:, 3:], generated, rtol=0, atol=2e-3)  # float16 weights in the steps


def test_hypotheses_learn_the_modes_a_single_prediction_averages():
    """Next frames of all +1 or all -1 at random: one MSE prediction learns their mean, 0; two hypotheses learn
    one mode each, and the choice head, which cannot know the coin, gives each about half."""
    def train(hypotheses: int) -> WaveLSTM:
        model = small_model(hypotheses=hypotheses).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
        generator = torch.Generator().manual_seed(0)
        for step in range(300):
            signs = torch.randint(0, 2, (16, 6, 1), generator=generator) * 2.0 - 1.0
            loss = model.training_loss(signs.expand(16, 6, 8).contiguous(), step).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return model.eval()
    frames = torch.ones(4, 5, 8)
    single = train(1)
    hidden, _ = single.lstm(single.encode(frames))
    assert single.hypotheses(hidden).abs().mean() < 0.2
    double = train(2)
    hidden, _ = double.lstm(double.encode(frames))
    modes = double.hypotheses(hidden).mean(-1).sort(-1).values  # [4, 5, 2]: each hypothesis' mean value
    torch.testing.assert_close(modes, torch.tensor([-1.0, 1.0]).expand_as(modes), atol=0.15, rtol=0)
    probabilities = double.choice_logits(hidden).softmax(-1)
    assert ((probabilities > 0.25) & (probabilities < 0.75)).all()


def test_generation_feeds_back_the_drawn_hypothesis():
    model = small_model(hypotheses=3)
    seeds = torch.randn(2, 4, 8)
    generated = generate_frames(model, seeds, num_frames=6, seed=3, progress=False)
    hidden, _ = model.lstm(model.encode(torch.cat([seeds, generated[:, :-1]], dim=1)))
    proposals = model.hypotheses(hidden[:, 3:])  # [2, 6, 3, 8]: what each step could have written
    distance = (proposals - generated.unsqueeze(2)).abs().amax(-1).amin(-1)
    assert distance.max() < 2e-3  # every written frame is one of its step's hypotheses, fed back as it was
    others = generate_frames(model, seeds, num_frames=6, seed=4, progress=False)
    assert not torch.allclose(others, generated)  # another seed draws other hypotheses
    torch.testing.assert_close(generate_frames(model, seeds, 6, seed=3, progress=False), generated)


def test_choice_temperature_spreads_the_draws_over_the_hypotheses():
    """Hypothesis h always writes h everywhere and the choice head favours hypothesis 0 at 95 %: at temperature 1
    about 95 % of the frames are 0s, at 4 the favourite's share falls to 1 / (1 + 19 ** -0.25) = 0.68."""
    model = small_model(hypotheses=2)
    with torch.no_grad():
        model.decode.weight.zero_()
        model.decode.bias.copy_(torch.arange(2.0).repeat_interleave(8))
        model.choose.weight.zero_()
        model.choose.bias.copy_(torch.tensor([np.log(19.0), 0.0]))
    seeds = torch.randn(50, 4, 8)

    def share_of_favourite(temperature: float) -> float:
        frames = generate_frames(model, seeds, 40, seed=1, progress=False, temperature=temperature)
        return float((frames[..., 0] == 0).float().mean())

    assert 0.93 < share_of_favourite(1.0) < 0.97
    assert 0.63 < share_of_favourite(4.0) < 0.72


def gated_copy(model: WaveLSTM, keep_bias: float) -> WaveLSTM:
    """``model`` with a keep gate whose weights are zero and whose bias is ``keep_bias`` everywhere."""
    gated = WaveLSTM(WaveLSTMConfig(**{**vars(model.config), "keep_gate": True})).eval()
    gated.load_state_dict(model.state_dict(), strict=False)
    torch.nn.init.zeros_(gated.keep.weight)
    torch.nn.init.constant_(gated.keep.bias, keep_bias)
    return gated


def test_a_shut_keep_gate_holds_the_last_frame_and_an_open_one_is_the_model_without_it():
    model = small_model(hypotheses=3)
    seeds = torch.randn(2, 4, 8)
    held = generate_frames(gated_copy(model, 30.0), seeds, num_frames=5, noise=0.5, progress=False)
    torch.testing.assert_close(held, seeds[:, -1:].expand_as(held))
    plain = generate_frames(model, seeds, num_frames=5, noise=0.5, seed=2, progress=False)
    opened = generate_frames(gated_copy(model, -30.0), seeds, num_frames=5, noise=0.5, seed=2, progress=False)
    torch.testing.assert_close(opened, plain, rtol=0, atol=2e-3)  # the same draws, the same frames (float16 steps)


def test_keep_gate_generation_holds_or_renews_each_bin_as_its_gate_draws():
    model = gated_copy(small_model(hypotheses=3), HOLD_OFFSET)  # generation's shares: sigmoid(logit - HOLD_OFFSET)
    torch.nn.init.normal_(model.keep.weight)  # a gate that depends on the LSTM's state
    seeds = torch.randn(2, 4, 8)
    generated = generate_frames(model, seeds, num_frames=40, seed=3, progress=False)
    frames = torch.cat([seeds, generated], dim=1)
    hidden, _ = model.lstm(model.encode(frames[:, :-1]))
    new = model.new_frames(hidden[:, 3:])  # [2, 40, 3, 8]: each step's new values, per hypothesis
    before = frames[:, 3:-1].unsqueeze(2).expand_as(new)
    held = (generated.unsqueeze(2) - before).abs() < 2e-3
    renewed = (generated.unsqueeze(2) - new).abs() < 2e-3
    assert (held | renewed).all(-1).any(-1).all()  # every frame: one hypothesis, each bin held or renewed
    shares = (model.keep_logits(hidden[:, 3:]) - HOLD_OFFSET).sigmoid()
    held_bins = (generated - frames[:, 3:-1]).abs() < 2e-3
    assert 0.3 < held_bins.float().mean() < 0.7  # held about as often as the gate says (its shares average 1/2)
    assert abs(held_bins.float().mean() - shares.mean()) < 0.1
    predicted, _ = model(frames[:, :-1])
    assert predicted.shape == (2, 43, 8)
    torch.testing.assert_close(generate_frames(model, seeds, 40, seed=3, progress=False), generated)


def test_the_keep_gate_carries_held_notes_that_too_few_units_cannot():
    """Notes of 6 frames, each a random spectrum of 32 bins, through 4 LSTM units: the model without the gate must
    squeeze every frame through them and errs twice as much as repeating the last frame; the gate keeps the frame and
    beats repeating it (at best by half, letting go as a note ends, since the next note is unknown)."""
    generator = torch.Generator().manual_seed(0)

    def held_notes() -> torch.Tensor:
        notes = torch.randn(16, 6, 32, generator=generator).repeat_interleave(6, dim=1)
        starts = torch.randint(0, 6, (16,), generator=generator)
        return torch.stack([row[start:start + 25] for row, start in zip(notes, starts)])

    def validation_ratio(keep_gate: bool) -> float:
        model = small_model(keep_gate=keep_gate, frame_dim=32, hidden_size=4).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
        for step in range(150):
            loss = model.training_loss(held_notes(), step).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        out = model.eval().training_loss(held_notes(), 0)
        return float(out.metrics["mse"] / out.metrics["baseline_mse"])

    assert validation_ratio(keep_gate=False) > 2.0
    assert validation_ratio(keep_gate=True) < 0.95


def test_frames_to_audio_has_exact_length_and_never_lets_nan_or_overload_through():
    frames = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32) * 10
    frames[1, 2] = np.nan
    audio = frames_to_audio(frames, np.zeros(8, np.float32), np.ones(8, np.float32), FrameSpec.blocks(8),
                            num_samples=20)
    assert audio.shape == (20,) and np.isfinite(audio).all() and np.abs(audio).max() <= 1.0
    assert (audio[8:16] == 0).all()  # the block with a NaN became silence
    spec = FrameSpec(frame_size=16, hop_size=4)
    frames = np.full((1, 6, 9), 1e6, dtype=np.float32)
    frames[0, 2] = np.nan
    audio = frames_to_audio(frames, np.zeros(9, np.float32), np.ones(9, np.float32), spec, num_samples=20)
    assert audio.shape == (1, 20) and np.isfinite(audio).all() and np.abs(audio).max() <= 1.0
