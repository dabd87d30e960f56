"""MusicVAE's stepwise decoder (scheduled sampling, decoding) against the formulation it replaced, each step fed to
the nn.LSTM layers as a length-1 sequence with the embedding appended: the same logits, gradients and random draws,
and the parameter names that checkpoints store."""
import pytest
import torch
import torch.nn.functional as F

from symbolic.configs import get_config
from symbolic.models.lstm_parts import sample_categorical
from symbolic.models.music_vae import CategoricalDecoder, MusicVAE

DEPTH, EMBED = 90, 6


def reference_step(decoder: CategoricalDecoder, token, embedding, state):
    """The step as it was: the one-hot token and the embedding through the nn.LSTM layers as a length-1 sequence."""
    out, state = decoder.lstm(decoder._append(token.unsqueeze(1), embedding), state)
    return decoder.output(out[:, 0]), state


def reference_forward(decoder: CategoricalDecoder, inputs, embedding, sampling_prob):
    """The scheduled-sampling pass as it was, drawing the same random numbers in the same order."""
    state, logits, token = decoder.initial_state(embedding), [], inputs[:, 0]
    for t in range(inputs.shape[1]):
        if t:
            sampled = F.one_hot(sample_categorical(logits[-1].detach(), 1.0), DEPTH).float()
            token = torch.where(torch.rand(inputs.shape[0], 1) < sampling_prob, sampled, inputs[:, t])
        step_logits, state = reference_step(decoder, token, embedding, state)
        logits.append(step_logits)
    return torch.stack(logits, dim=1)


def decoder_and_inputs(keep_prob: float):
    torch.manual_seed(0)
    decoder = CategoricalDecoder(DEPTH, EMBED, sizes=[16, 12], keep_prob=keep_prob)
    inputs = F.pad(F.one_hot(torch.randint(0, DEPTH, (5, 9)), DEPTH).float(), (0, 0, 1, 0))  # zeros first
    return decoder, inputs, torch.randn(5, EMBED)


def logits_grads_and_rng(run, decoder, embedding, seed: int):
    """Logits of `run`, the gradients of a loss on them (every parameter and the embedding), and the RNG state after."""
    decoder.zero_grad()
    embedding = embedding.clone().requires_grad_()
    torch.manual_seed(seed)
    logits = run(embedding)
    rng = torch.get_rng_state()
    (logits.logsumexp(-1) - logits[..., 3]).sum().backward()
    grads = {name: p.grad.clone() for name, p in decoder.named_parameters()}
    return logits.detach(), {**grads, "embedding": embedding.grad}, rng


@pytest.mark.parametrize("keep_prob", [1.0, 0.6])
@pytest.mark.parametrize("sampling_prob", [0.3, 1.0])
def test_scheduled_sampling_matches_the_length_one_nn_lstm_steps(keep_prob, sampling_prob):
    decoder, inputs, embedding = decoder_and_inputs(keep_prob)
    new = logits_grads_and_rng(lambda e: decoder(inputs, e, sampling_prob), decoder, embedding, seed=3)
    old = logits_grads_and_rng(lambda e: reference_forward(decoder, inputs, e, sampling_prob), decoder, embedding, 3)
    torch.testing.assert_close(new[0], old[0])
    assert new[1].keys() == old[1].keys()
    for name in new[1]:
        torch.testing.assert_close(new[1][name], old[1][name], msg=name)
    assert torch.equal(new[2], old[2])  # the same draws: dropout masks, samples and coin flips, in the same order
    if keep_prob < 1:  # the dropout is really drawn: another seed gives other logits
        assert not torch.allclose(new[0], logits_grads_and_rng(
            lambda e: decoder(inputs, e, sampling_prob), decoder, embedding, seed=4)[0])


def test_sampling_matches_the_length_one_nn_lstm_steps():
    decoder, inputs, embedding = decoder_and_inputs(1.0)
    decoder.eval()
    torch.manual_seed(1)
    tokens = decoder.sample(embedding, inputs[:, 0], 12, temperature=1.0)
    torch.manual_seed(1)
    state, token, expected = decoder.initial_state(embedding), inputs[:, 0], []
    for _ in range(12):
        logits, state = reference_step(decoder, token, embedding, state)
        expected.append(sample_categorical(logits, 1.0))
        token = F.one_hot(expected[-1], DEPTH).float()
    assert torch.equal(tokens, torch.stack(expected, dim=1))


def test_decoder_parameters_keep_the_names_checkpoints_store():
    model = MusicVAE(get_config("cat-mel_2bar_small", "z_size=8,enc_rnn_size=[8],dec_rnn_size=[8,8]"))
    lstm = [f"decoders.0.lstm.layers.{i}.{kind}_{part}_l0" for i in (0, 1) for kind in ("weight", "bias")
            for part in ("ih", "hh")]
    expected = ["decoders.0.initial_state.linear.weight", "decoders.0.initial_state.linear.bias", *lstm,
                "decoders.0.output.weight", "decoders.0.output.bias"]
    assert sorted(k for k in model.state_dict() if k.startswith("decoders.")) == sorted(expected)
