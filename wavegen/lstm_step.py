"""One step of generation's stacked LSTM at a time, with half-precision weights on the CPU.

Generation runs the LSTM one frame at a time for a batch of a few clips. On the CPU such a step reads every weight
once (134 MB at -n 1024 -l 4) for a handful of rows, and MKL's float32 product is slow at that shape (on an AVX2
AMD EPYC: 12 ms for one layer's [10, 2n] x [2n, 4n], against 4 ms for fbgemm's product with float16 weights and
float32 activations, which reads half the bytes). So on the CPU each layer's two weight matrices are packed once into
fbgemm's float16 format; elsewhere, or where torch lacks fbgemm, the same step uses the weights as they are. The
rounding of the weights (a relative 1e-3) is far below the noise generation adds to every frame it feeds back.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from wavegen.model import LSTMState

Product = Callable[[torch.Tensor], torch.Tensor]


def fp16_packed(weight: torch.Tensor) -> torch.Tensor | None:
    """``weight`` packed as float16 for fbgemm, or None where that cannot be done (not a float32 CPU tensor, or a
    torch without fbgemm or without these deprecated functions)."""
    if (weight.device.type != "cpu" or weight.dtype != torch.float32
            or "fbgemm" not in torch.backends.quantized.supported_engines):
        return None
    try:
        return torch.fbgemm_pack_gemm_matrix_fp16(weight.contiguous())
    except (AttributeError, RuntimeError):
        return None


def linear_product(weight: torch.Tensor, bias: torch.Tensor | None) -> Product:
    """``x -> x W^T + b``: with W packed as float16 for fbgemm on the CPU when torch has it, else as given."""
    with warnings.catch_warnings():  # torch calls the fbgemm functions deprecated, once per process; they still work
        warnings.simplefilter("ignore")
        packed = fp16_packed(weight)
        if packed is None:
            return lambda x: F.linear(x, weight, bias)
        full_bias = bias if bias is not None else weight.new_zeros(len(weight))
        torch.fbgemm_linear_fp16_weight(weight.new_zeros(1, weight.shape[1]), packed, full_bias)  # its warning, here
    return lambda x: torch.fbgemm_linear_fp16_weight(x, packed, full_bias)


class LSTMStepper:
    """``nn.LSTM`` (batch_first, no projection) as a function of one input row per sequence and the state."""

    def __init__(self, lstm: nn.LSTM):
        self.gates = [linear_product(torch.cat([getattr(lstm, f"weight_ih_l{i}"), getattr(lstm, f"weight_hh_l{i}")], 1),
                                     getattr(lstm, f"bias_ih_l{i}") + getattr(lstm, f"bias_hh_l{i}"))
                      for i in range(lstm.num_layers)]

    def __call__(self, inputs: torch.Tensor, state: LSTMState) -> tuple[torch.Tensor, LSTMState]:
        """Inputs [batch, n] and the state ([layers, batch, n] each) -> the top layer's output [batch, n], new state."""
        hidden, cell = list(state[0].unbind(0)), list(state[1].unbind(0))
        for layer, gates in enumerate(self.gates):
            in_gate, forget_gate, candidate, out_gate = gates(torch.cat([inputs, hidden[layer]], 1)).chunk(4, 1)
            cell[layer] = forget_gate.sigmoid() * cell[layer] + in_gate.sigmoid() * candidate.tanh()
            hidden[layer] = out_gate.sigmoid() * cell[layer].tanh()
            inputs = hidden[layer]
        return inputs, (torch.stack(hidden), torch.stack(cell))
