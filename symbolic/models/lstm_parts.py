"""LSTM building blocks of MusicVAE: bidirectional encoder, stacked LSTM, state from an embedding, decoders.

An LSTM state here is a list with one ``(h, c)`` pair per layer, each ``[1, N, hidden]`` as nn.LSTM takes it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LstmState = list[tuple[Tensor, Tensor]]


def lstm_layer(input_size: int, hidden_size: int, bidirectional: bool = False) -> nn.LSTM:
    """One batch-first LSTM layer with zero biases but a forget-gate bias of 1, as TensorFlow's LSTM cells."""
    lstm = nn.LSTM(input_size, hidden_size, batch_first=True, bidirectional=bidirectional)
    for name, bias in lstm.named_parameters():
        if name.startswith("bias"):
            nn.init.zeros_(bias)
            if name.startswith("bias_ih"):
                nn.init.ones_(bias[hidden_size:2 * hidden_size])  # gate order: input, forget, cell, output
    return lstm


def small_linear(in_features: int, out_features: int) -> nn.Linear:
    """Linear layer with N(0, 0.001²) weights and zero bias: Magenta's init for μ, σ and states from z."""
    linear = nn.Linear(in_features, out_features)
    nn.init.normal_(linear.weight, std=0.001)
    nn.init.zeros_(linear.bias)
    return linear


def sample_categorical(logits: Tensor, temperature: float) -> Tensor:
    """Class indices drawn from softmax(logits / temperature); temperature 0 takes the argmax."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return logits.argmax(-1)
    # Gumbel-max: argmax(logits / T + Gumbel noise) is a draw from the softmax, with no host-device sync.
    gumbel = -torch.empty_like(logits, dtype=torch.float32).exponential_().log()
    return (logits.float() / temperature + gumbel).argmax(-1)


class BidirectionalLstmEncoder(nn.Module):
    """Stacked bidirectional LSTM; returns the top layer's final forward and backward outputs, concatenated."""

    def __init__(self, input_size: int, sizes: list[int], keep_prob: float):
        super().__init__()
        in_sizes = [input_size] + [2 * size for size in sizes[:-1]]
        self.layers = nn.ModuleList(lstm_layer(i, h, bidirectional=True) for i, h in zip(in_sizes, sizes))
        self.dropout = nn.Dropout(1.0 - keep_prob)
        self.output_size = 2 * sizes[-1]

    def forward(self, x: Tensor) -> Tensor:
        """[B, T, input_size] -> [B, 2 * sizes[-1]]."""
        for layer in self.layers:
            x, (h, _) = layer(self.dropout(x))
        return torch.cat([h[0], h[1]], dim=-1)


class StackedLstm(nn.Module):
    """Unidirectional LSTM layers of any sizes with dropout on each layer's input (Magenta's rnn_cell)."""

    def __init__(self, input_size: int, sizes: list[int], keep_prob: float):
        super().__init__()
        self.layers = nn.ModuleList(lstm_layer(i, h) for i, h in zip([input_size] + sizes[:-1], sizes))
        self.dropout = nn.Dropout(1.0 - keep_prob)

    def forward(self, x: Tensor, state: LstmState) -> tuple[Tensor, LstmState]:
        """Run [N, L, input_size] from `state`; returns the top layer's outputs [N, L, H] and the new state."""
        new_state = []
        for layer, layer_state in zip(self.layers, state):
            x, layer_state = layer(self.dropout(x), layer_state)
            new_state.append(layer_state)
        return x, new_state


class InitialState(nn.Module):
    """tanh(Linear(embedding)) split into every layer's (h, c): how z or a bar embedding starts an LSTM."""

    def __init__(self, embed_size: int, sizes: list[int]):
        super().__init__()
        self.split = [size for size in sizes for _ in "hc"]
        self.linear = small_linear(embed_size, sum(self.split))

    def forward(self, embedding: Tensor) -> LstmState:
        parts = [p.unsqueeze(0).contiguous() for p in torch.tanh(self.linear(embedding)).split(self.split, -1)]
        return list(zip(parts[0::2], parts[1::2]))


class Conductor(nn.Module):
    """Top level of the hierarchical decoder: an LSTM started from z emitting one embedding per bar.

    Its inputs are zeros (Magenta's hierdec configs disable autoregression at this level), so all bars'
    embeddings come from one LSTM call.
    """

    def __init__(self, z_size: int, sizes: list[int], keep_prob: float):
        super().__init__()
        self.initial_state = InitialState(z_size, sizes)
        self.lstm = StackedLstm(1, sizes, keep_prob)
        self.output_size = sizes[-1]

    def forward(self, z: Tensor, n_bars: int) -> Tensor:
        """[B, z_size] -> bar embeddings [B, n_bars, output_size]."""
        embeddings, _ = self.lstm(z.new_zeros(z.shape[0], n_bars, 1), self.initial_state(z))
        return embeddings


class CategoricalLstmDecoder(nn.Module):
    """One track's decoder: LSTM started from an embedding, which is also appended to every input; softmax out.

    Inputs are one-hot previous tokens (zeros before the first); outputs are logits over the track's classes.
    """

    def __init__(self, depth: int, embed_size: int, sizes: list[int], keep_prob: float):
        super().__init__()
        self.depth = depth
        self.initial_state = InitialState(embed_size, sizes)
        self.lstm = StackedLstm(depth + embed_size, sizes, keep_prob)
        self.output = nn.Linear(sizes[-1], depth)

    def forward(self, inputs: Tensor, embedding: Tensor, sampling_prob: float = 0.0) -> Tensor:
        """Logits [N, L, depth] for one-hot inputs [N, L, depth] given embeddings [N, E].

        With sampling_prob > 0 (scheduled sampling), each step after the first is fed, with that probability
        per sequence, a token sampled from the previous step's output instead of the given input.
        """
        state = self.initial_state(embedding)
        if sampling_prob == 0.0:
            out, _ = self.lstm(self._append(inputs, embedding), state)
            return self.output(out)
        logits: list[Tensor] = []
        token = inputs[:, 0]
        for t in range(inputs.shape[1]):
            if t:
                sampled = F.one_hot(sample_categorical(logits[-1].detach(), 1.0), self.depth).to(inputs.dtype)
                use_sample = torch.rand(inputs.shape[0], 1, device=inputs.device) < sampling_prob
                token = torch.where(use_sample, sampled, inputs[:, t])
            step_logits, state = self.step(token, embedding, state)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)

    def step(self, token: Tensor, embedding: Tensor, state: LstmState) -> tuple[Tensor, LstmState]:
        """One step: previous one-hot token [N, depth] -> logits [N, depth] and the carried state."""
        out, state = self.lstm(self._append(token.unsqueeze(1), embedding), state)
        return self.output(out[:, 0]), state

    def sample(self, embedding: Tensor, first: Tensor, length: int, temperature: float) -> Tensor:
        """Class indices [N, length] decoded from `embedding`, each step fed the previous step's sample.

        `first` [N, depth] is the one-hot input of the first step (zeros, or the previous bar's last token).
        """
        state = self.initial_state(embedding)
        token, tokens = first, []
        for _ in range(length):
            logits, state = self.step(token, embedding, state)
            tokens.append(sample_categorical(logits, temperature))
            token = F.one_hot(tokens[-1], self.depth).to(first.dtype)
        return torch.stack(tokens, dim=1)

    @staticmethod
    def _append(x: Tensor, embedding: Tensor) -> Tensor:
        """Concatenate embeddings [N, E] to every step of x [N, L, D]."""
        return torch.cat([x, embedding.unsqueeze(1).expand(-1, x.shape[1], -1).to(x.dtype)], dim=-1)
