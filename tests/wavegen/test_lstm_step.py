"""Generation's LSTM step: the same function as nn.LSTM, with float16 weights on the CPU."""
import pytest
import torch

from wavegen.lstm_step import LSTMStepper, linear_product


@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 2e-3), (torch.float64, 1e-10)])
def test_steps_follow_nn_lstm_over_a_sequence(dtype, tolerance):
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(48, 48, 3, batch_first=True).to(dtype)
    inputs = torch.randn(5, 30, 48, dtype=dtype)
    with torch.no_grad():
        expected, (hidden, cell) = lstm(inputs)
        step, state = LSTMStepper(lstm), (torch.zeros_like(hidden), torch.zeros_like(cell))
        outputs = []
        for t in range(inputs.shape[1]):
            output, state = step(inputs[:, t], state)
            outputs.append(output)
    torch.testing.assert_close(torch.stack(outputs, 1), expected, rtol=0, atol=tolerance)
    torch.testing.assert_close(state, (hidden, cell), rtol=0, atol=tolerance)


def test_the_half_precision_product_is_a_linear_layer_within_float16_rounding():
    torch.manual_seed(0)
    layer = torch.nn.Linear(300, 200)
    x = torch.randn(7, 300)
    with torch.no_grad():
        torch.testing.assert_close(linear_product(layer.weight, layer.bias)(x), layer(x), rtol=0, atol=3e-3)
        torch.testing.assert_close(linear_product(layer.weight, None)(x), x @ layer.weight.T, rtol=0, atol=3e-3)
