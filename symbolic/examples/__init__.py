"""The bundled example melodies (see README.md here) and the small model `midi train --example` trains on them."""
from __future__ import annotations

from pathlib import Path

EXAMPLE_DATA = Path(__file__).parent / "melodies"
EXAMPLE_CONFIG = "cat-mel_2bar_small"
# Scheduled sampling off: Magenta's schedule feeds back < 1% of tokens in the first 2000 steps, so it would only cost
# time (its decoder steps one token at a time); a higher learning rate than Magenta's 1e-3 for a short run. The KL
# weight rises to max_beta within the run (Magenta's beta_rate=0.99999 takes 200k steps: after 1000 it is 0.002 and
# samples from the prior land where the decoder never trained), with 48 free bits as in Magenta's big configs.
EXAMPLE_HPARAMS = ("z_size=64,enc_rnn_size=[128],dec_rnn_size=[128,128],batch_size=64,learning_rate=3e-3,"
                   "sampling_schedule=constant,sampling_rate=0,free_bits=48,max_beta=0.5")
EXAMPLE_NUM_STEPS = 3000


def beta_rate_for(num_steps: int) -> float:
    """The beta_rate whose KL weight reaches 99% of max_beta halfway through a run of ``num_steps`` steps."""
    return 0.01 ** (2 / num_steps)


def example_hparams(num_steps: int) -> str:
    """The example model's overrides for a run of ``num_steps`` steps (the KL schedule scales with the run)."""
    return f"{EXAMPLE_HPARAMS},beta_rate={beta_rate_for(num_steps):.8g}"
