"""LSTM building blocks shared by the recurrent models: layers with TensorFlow's init, a bidirectional encoder, a
stacked LSTM, the state started from an embedding, and categorical sampling.

An LSTM state here is a list with one ``(h, c)`` pair per layer, each ``[1, N, hidden]`` as nn.LSTM takes it
(``[N, hidden]`` for `StackedLstm.step`).
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


def lstm_cell(gates: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """The new (h, c) of an LSTM cell from its gates' pre-activations [N, 4H] (nn.LSTM's order) and c [N, H]."""
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


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

    def step(self, first_gates: Tensor, state: LstmState) -> tuple[Tensor, LstmState]:
        """One step computed with the layers' own weights, cheaper than calling them on length-1 sequences: the
        first layer's input share of its gates (W_ih·x + b_ih, x with its dropout) [N, 4H] and a state of [N, H]
        pairs -> the top layer's output [N, H] and the new state."""
        new_state: LstmState = []
        for i, (layer, (h, c)) in enumerate(zip(self.layers, state)):
            x_gates = first_gates if i == 0 else F.linear(self.dropout(x), layer.weight_ih_l0, layer.bias_ih_l0)
            x, c = lstm_cell(torch.addmm(x_gates + layer.bias_hh_l0, h, layer.weight_hh_l0.t()), c)
            new_state.append((x, c))
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
