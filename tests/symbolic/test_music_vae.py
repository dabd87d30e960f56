"""MusicVAE: shapes of every config, the loss against hand computations, scheduled sampling, decoding,
checkpoints, and a tiny model that overfits (reconstruction and interpolation endpoints)."""
import math

import pytest
import torch

from engine.checkpoint import load_checkpoint, save_checkpoint
from symbolic.configs import CONFIGS, MusicVAEConfig, get_config
from symbolic.models.latent import gaussian_kl, slerp
from symbolic.models.music_vae import CategoricalDecoder, MusicVAE

MUSIC_VAE_CONFIGS = sorted(name for name, config in CONFIGS.items() if config.family == "music_vae")


def shrunk(name: str, extra: str = "") -> MusicVAEConfig:
    """The named config with every LSTM layer (layer counts kept) and z cut to 8 units."""
    c = get_config(name)
    hparams = [f"z_size=8,enc_rnn_size={[8] * len(c.enc_rnn_size)},dec_rnn_size={[8] * len(c.dec_rnn_size)}"]
    if c.hierarchical:
        hparams.append(f"conductor_rnn_size={[8] * len(c.conductor_rnn_size)}")
    return get_config(name, ",".join(hparams + ([extra] if extra else [])).replace(" ", ""))


def random_batch(config: MusicVAEConfig, n: int, length: int | None = None) -> torch.Tensor:
    length = length or config.seq_len
    chords = (config.chord_depth,) if config.chord_depth else ()  # a chord track after the decoded ones
    return torch.stack([torch.randint(0, d, (n, length)) for d in config.depths + chords], dim=-1)


@pytest.mark.parametrize("name", MUSIC_VAE_CONFIGS)
def test_full_size_models_have_magentas_shapes(name):
    config = get_config(name)
    with torch.device("meta"):  # parameters without memory: the 2048-unit models cost nothing to build
        model = MusicVAE(config)
    input_size = {"cat-drums_2bar_small": 10, "hierdec-trio_16bar": 692,  # drum roll: 9 hits + rest
                  "cat-mel_2bar_med_chords": 90 + 49}.get(name, 90)  # the melody and its triad one-hot
    assert [(l.input_size, l.hidden_size) for l in model.encoder.layers] == list(zip(
        [input_size] + [2 * h for h in config.enc_rnn_size[:-1]], config.enc_rnn_size))
    assert model.mu.in_features == 2 * config.enc_rnn_size[-1] and model.mu.out_features == config.z_size
    embed = config.conductor_rnn_size[-1] if config.hierarchical else config.z_size
    assert [(d.depth, d.lstm.layers[0].input_size, [l.hidden_size for l in d.lstm.layers])
            for d in model.decoders] == [(depth, depth + embed + config.chord_depth, config.dec_rnn_size)
                                         for depth in config.depths]
    assert (model.conductor is not None) == config.hierarchical


@pytest.mark.parametrize("name", MUSIC_VAE_CONFIGS)
def test_shapes_of_loss_logits_and_decoding_for_every_config(name):
    torch.manual_seed(0)
    config = shrunk(name)
    model = MusicVAE(config)
    x = random_batch(config, 3).to(torch.int16)  # converters produce int16 windows
    out = model.training_loss(x, step=5)
    assert out.loss.shape == () and torch.isfinite(out.loss) and out.count == 3
    assert set(out.metrics) == {"r_loss", "kl_bits", "kl_loss", "beta", "sampling_prob", "accuracy"}
    z, mu, sigma = model.encode(x)
    assert mu.shape == sigma.shape == z.shape == (3, config.z_size) and (sigma > 0).all()
    logits = model.decoder_logits(x, z)
    assert [tuple(l.shape) for l in logits] == [(3, config.seq_len, d) for d in config.depths]
    model.eval()
    short = x[:, :2 * config.steps_per_bar]  # the rest on 2 bars: step-by-step decoding of 16 bars is slow
    for y, length in ((model.decode(z, config.seq_len, 1.0), config.seq_len), (model.sample(2, 32, 0.5), 32),
                      (model.reconstruct(short), 32), (model.interpolate(short[0], short[1], 4), 32)):
        assert y.dtype == torch.int64 and y.shape[1:] == (length, len(config.depths) + bool(config.chord_depth))
        assert all(((y[..., k] >= 0) & (y[..., k] < d)).all() for k, d in enumerate(config.depths))
    metrics = model.evaluate(short)
    assert metrics["bar_accuracy"].shape == metrics["bar_sampled_accuracy"].shape == (2,)
    assert metrics["accuracy"] == pytest.approx(float(metrics["bar_accuracy"].mean()))


def test_hierarchical_decoding_needs_whole_bars():
    model = MusicVAE(shrunk("hierdec-mel_16bar")).eval()
    with pytest.raises(ValueError, match="whole bars of 16 steps"):
        model.decode(torch.zeros(1, 8), 40)
    with pytest.raises(ValueError, match=r"integer class indices \[B, T, 1\]"):
        model.training_loss(torch.zeros(2, 32, 1), 0)
    assert model.decode(torch.zeros(1, 8), 48).shape == (1, 48, 1)  # more bars than trained on: fine


@pytest.mark.parametrize("name", ["cat-mel_2bar_small", "hierdec-trio_16bar"])
def test_step_by_step_decoding_matches_the_teacher_forced_pass(name):
    """Greedy decoding (state carried step by step, bar by bar) equals the argmax of the one-call training pass
    fed the decoded sequence, bar boundaries and per-bar state resets included."""
    torch.manual_seed(1)
    config = shrunk(name, "data.slice_bars=2")
    model = MusicVAE(config).eval()
    z = 3 * torch.randn(4, config.z_size)
    decoded = model.decode(z, config.seq_len, temperature=0.0)
    logits = model.decoder_logits(decoded, z)
    assert torch.equal(torch.stack([l.argmax(-1) for l in logits], -1), decoded)


def test_kl_free_bits_and_beta_against_a_hand_computation():
    torch.manual_seed(0)
    config = shrunk("cat-mel_2bar_small", "free_bits=1.0,max_beta=0.5,beta_rate=0.9")
    model = MusicVAE(config)
    # Make the posterior input-independent: mu = (1, -0.5, 0, ...), sigma = (0.5, 1, 2, 1, ...).
    sigma = torch.tensor([0.5, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    with torch.no_grad():
        model.mu.weight.zero_()
        model.sigma.weight.zero_()
        model.mu.bias.copy_(torch.tensor([1.0, -0.5, 0, 0, 0, 0, 0, 0]))
        model.sigma.bias.copy_(torch.log(torch.expm1(sigma)))  # softplus^-1
    # KL per dim = (mu² + sigma²) / 2 - ln sigma - 1/2: 0.625 + ln 2 - 0.5, 0.125, 2 - ln 2 - 0.5 -> 1.75 nats.
    kl = 1.75
    beta = 0.5 * (1 - 0.9 ** 10)  # step 10
    out = model.training_loss(random_batch(config, 4), step=10)
    assert float(out.metrics["kl_bits"]) == pytest.approx(kl / math.log(2))
    assert float(out.metrics["kl_loss"]) == pytest.approx(kl - math.log(2))  # 1 free bit = ln 2 nats
    assert out.metrics["beta"] == pytest.approx(beta)
    assert out.loss.item() == pytest.approx(float(out.metrics["r_loss"]) + beta * (kl - math.log(2)), rel=1e-6)
    model.config = shrunk("cat-mel_2bar_small", "free_bits=3.0,max_beta=0.5,beta_rate=0.9")  # 3 bits > 1.75 nats
    out = model.training_loss(random_batch(config, 4), step=10)
    assert float(out.metrics["kl_loss"]) == 0.0 and out.loss.item() == pytest.approx(float(out.metrics["r_loss"]))
    assert gaussian_kl(torch.tensor([[1.0, -0.5, 0.0]]), sigma[None, :3]).item() == pytest.approx(kl)


def test_scheduled_sampling_feeds_samples_only_in_training():
    config = shrunk("cat-mel_2bar_small", "sampling_schedule=constant,sampling_rate=0.25")
    model = MusicVAE(config)
    x = random_batch(config, 2)
    assert model.training_loss(x, 0).metrics["sampling_prob"] == 0.25
    model.eval()
    assert model.training_loss(x, 0).metrics["sampling_prob"] == 0.0


def test_scheduled_sampling_inputs_are_samples_not_targets_or_argmax():
    torch.manual_seed(0)
    decoder = CategoricalDecoder(depth=90, embed_size=4, sizes=[16], keep_prob=1.0)
    embedding = torch.randn(8, 4)
    targets = torch.nn.functional.one_hot(torch.randint(0, 90, (8, 12)), 90).float()
    other = torch.cat([targets[:, :1], targets[:, 1:].roll(1, dims=0)], dim=1)  # same first step only

    def run(inputs, prob, seed):
        torch.manual_seed(seed)
        return decoder(inputs, embedding, prob)

    # Probability 0 is teacher forcing: the one-call pass equals feeding the targets step by step.
    (step, state), steps = decoder.stepper(embedding), []
    for t in range(12):
        logits, state = step(targets[:, t], state)
        steps.append(logits)
    assert torch.allclose(run(targets, 0.0, 0), torch.stack(steps, 1), atol=1e-5)
    # Probability 1: the targets after the first step are never seen, and the fed tokens are random draws.
    assert torch.equal(run(targets, 1.0, 0), run(other, 1.0, 0))
    assert not torch.allclose(run(targets, 1.0, 0), run(targets, 1.0, 1))
    # In between, some sequences see targets and some see samples.
    assert not torch.allclose(run(targets, 0.5, 0), run(other, 0.5, 0))


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    config = shrunk("hierdec-trio_16bar", "data.slice_bars=2")
    model = MusicVAE(config)
    x = random_batch(config, 2)
    torch.optim.Adam(model.parameters()).step(model.training_loss(x, 0).loss.backward())  # move off the init
    save_checkpoint(tmp_path / "c.pt", {"config": config.to_dict(), "model": model.state_dict()})
    state = load_checkpoint(tmp_path / "c.pt")
    loaded = MusicVAE(MusicVAEConfig.from_dict(state["config"]))
    loaded.load_state_dict(state["model"])
    model.eval(), loaded.eval()
    _, mu, _ = model.encode(x)
    assert torch.equal(loaded.encode(x)[1], mu)
    assert all(torch.equal(a, b) for a, b in zip(model.decoder_logits(x, mu), loaded.decoder_logits(x, mu)))
    decoded = []
    for m in (model, loaded):
        torch.manual_seed(3)
        decoded.append(m.decode(mu, config.seq_len, temperature=1.0))
    assert torch.equal(*decoded)


def test_slerp_endpoints_and_norm():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    path = slerp(a, b, torch.linspace(0, 1, 5))
    assert torch.allclose(path[0], a) and torch.allclose(path[-1], b, atol=1e-6)
    assert torch.allclose(path[2], (a + b) / math.sqrt(2))  # halfway round: sin(π/4) / sin(π/2) of each
    assert torch.allclose(slerp(a, 3 * a, torch.tensor([0.5])), 2 * a[None])  # parallel: linear


@pytest.fixture(scope="module")
def overfit_melody():
    """A tiny flat melody model trained on two 2-bar sequences with β = 0 until it reproduces them."""
    torch.manual_seed(0)
    config = get_config("cat-mel_2bar_small", "z_size=8,enc_rnn_size=[32],dec_rnn_size=[32],max_beta=0,"
                                              "sampling_schedule=constant,sampling_rate=0")
    model = MusicVAE(config)
    x = random_batch(config, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(250):
        out = model.training_loss(x, step)
        optimizer.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
    return model.eval(), x


def test_tiny_model_overfits_to_full_teacher_forced_accuracy(overfit_melody):
    model, x = overfit_melody
    metrics = model.evaluate(x, temperature=0.0)
    assert float(metrics["accuracy"]) == 1.0
    assert float(metrics["sampled_accuracy"]) == 1.0
    assert float(metrics["r_loss"]) < 1.0


def test_posterior_means_and_interpolation_endpoints_decode_to_the_inputs(overfit_melody):
    model, x = overfit_melody
    assert torch.equal(model.reconstruct(x, temperature=0.0), x)
    path = model.interpolate(x[0], x[1], 5, temperature=0.0)
    assert path.shape == (5, 32, 1)
    assert torch.equal(path[0], x[0]) and torch.equal(path[-1], x[1])
