"""The weights' moving average: its warmed-up decay, and swapping it in and out of the model."""
import torch
from torch import nn

from engine.averages import WeightAverage


def test_the_decay_warms_up_then_holds_at_its_value():
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    average = WeightAverage(model, decay=0.5)
    with torch.no_grad():
        model.weight.fill_(1.0)
    average.update(step=1)  # decay min(0.5, 2 / 11): the average moves 9/11 of the way
    assert torch.allclose(average.averages["weight"], torch.tensor([[9 / 11]]))
    average.update(step=1000)  # decay 0.5
    assert torch.allclose(average.averages["weight"], torch.tensor([[9 / 11 + (2 / 11) / 2]]))


def test_swapped_puts_the_average_in_the_model_for_the_block_only():
    model = nn.Linear(2, 1)
    average = WeightAverage(model, decay=0.9)
    average.load({name: torch.zeros_like(p) for name, p in model.named_parameters()})
    trained = {name: p.detach().clone() for name, p in model.named_parameters()}
    with average.swapped():
        assert all(not p.any() for p in model.parameters())
    assert all(torch.equal(p, trained[name]) for name, p in model.named_parameters())
    assert all(not a.any() for a in average.averages.values())
