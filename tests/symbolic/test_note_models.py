"""The VRASH note models (lm, vae, vrash): shapes, what each decoder sees, the loss against a hand computation,
tiny models that overfit through the Trainer, and samples the note converter decodes to valid monophonic MIDI."""
import dataclasses
import math

import pretty_midi
import pytest
import torch

from engine.errors import UserError
from engine.trainer import TrainConfig, Trainer
from symbolic.configs.note_model import MODES, NoteModelConfig
from symbolic.data.converters.notes import REST, NoteTokenConverter
from symbolic.models.note_models import HEAD_DEPTHS, HEADS, NoteModel

LATENT_MODES = ("vae", "vrash")


def tiny(mode: str, **overrides) -> NoteModelConfig:
    values = dict(mode=mode, pitch_class_embed=4, octave_embed=3, duration_embed=3, program_embed=2,
                  rnn_size=[12], z_size=4)
    return NoteModelConfig(**{**values, **overrides})


def windows(n: int, length: int, program: int = 5, seed: int = 0) -> torch.Tensor:
    """Random note windows [n, length, 4] (int16, as the converter writes them) of one program."""
    g = torch.Generator().manual_seed(seed)
    notes = [torch.randint(0, depth, (n, length), generator=g) for depth in HEAD_DEPTHS]
    return torch.stack(notes + [torch.full((n, length), program)], dim=-1).to(torch.int16)


@pytest.mark.parametrize("mode", MODES)
def test_shapes_of_loss_logits_and_generation_for_every_mode(mode):
    torch.manual_seed(0)
    model = NoteModel(tiny(mode, rnn_size=[12, 10]))
    x = windows(3, 9)
    out = model.training_loss(x, step=4)
    assert out.loss.shape == () and torch.isfinite(out.loss) and out.count == 3
    per_head = {"cross_entropy", "ce_pitch_class", "ce_octave", "ce_duration", "accuracy", "nll_bound"}
    assert set(out.metrics) == per_head | ({"kl_bits", "beta"} if mode in LATENT_MODES else set())
    z = model.encode(x)[0] if mode in LATENT_MODES else None
    assert [tuple(l.shape) for l in model.decoder_logits(x, z)] == [(3, 9, depth) for depth in HEAD_DEPTHS]
    model.eval()
    generated = [model.sample(2, 7, 1.0, meta=40)]
    if mode in LATENT_MODES:
        _, mu, sigma = model.encode(x)
        assert mu.shape == sigma.shape == (3, 4) and (sigma > 0).all()
        generated += [model.decode(mu, 7, 0.5, meta=torch.tensor([1, 2, 3])), model.interpolate(x[0], x[1], 5)]
    else:
        for call in (lambda: model.encode(x), lambda: model.decode(torch.zeros(2, 4), 7),
                     lambda: model.interpolate(x[0], x[1], 3)):
            with pytest.raises(UserError, match="the LM has no latent space"):
                call()
    for y, shape in zip(generated, [(2, 7, 4), (3, 7, 4), (5, 9, 4)]):
        assert y.dtype == torch.int64 and y.shape == shape
        assert all(((y[..., k] >= 0) & (y[..., k] < depth)).all() for k, depth in enumerate(HEAD_DEPTHS))
    assert (generated[0][..., 3] == 40).all()
    if mode in LATENT_MODES:
        assert generated[1][:, 0, 3].tolist() == [1, 2, 3] and (generated[2][..., 3] == 5).all()


def test_bad_windows_and_programs_are_refused():
    model = NoteModel(tiny("vrash")).eval()
    with pytest.raises(ValueError, match=r"integer note windows \[B, T, 4\]"):
        model.training_loss(torch.zeros(2, 8, 4), 0)
    with pytest.raises(ValueError, match=r"integer note windows \[B, T, 4\]"):
        model.encode(windows(2, 8)[..., :3])
    with pytest.raises(ValueError, match="GM programs are 0-127"):
        model.sample(2, 4, meta=128)
    with pytest.raises(ValueError, match="length must be >= 1"):
        model.sample(2, 0)


def test_the_vae_decoder_never_sees_the_notes_and_vrash_and_the_lm_see_only_the_past():
    torch.manual_seed(0)
    x = windows(2, 10, seed=1)
    other = windows(2, 10, seed=2)  # other notes everywhere, the same program
    z = torch.randn(2, 4)
    vae = NoteModel(tiny("vae"))
    assert vae.decoder.layers[0].input_size == 2 + 4  # program and z only
    assert all(torch.equal(a, b) for a, b in zip(vae.decoder_logits(x, z), vae.decoder_logits(other, z)))
    for mode in ("vrash", "lm"):
        model = NoteModel(tiny(mode))
        z_or_none = z if mode == "vrash" else None
        assert not torch.equal(model.decoder_logits(x, z_or_none)[0], model.decoder_logits(other, z_or_none)[0])
        # Changing note 6 changes the predictions of notes 7.. only: step k is predicted from notes before k.
        changed = x.clone()
        changed[:, 6, :3] = other[:, 6, :3]
        for a, b in zip(model.decoder_logits(x, z_or_none), model.decoder_logits(changed, z_or_none)):
            assert torch.equal(a[:, :7], b[:, :7]) and not torch.equal(a[:, 7:], b[:, 7:])


@pytest.mark.parametrize("mode", ["lm", "vrash"])
def test_cross_entropy_accuracy_and_loss_against_a_hand_computation(mode):
    torch.manual_seed(0)
    model = NoteModel(tiny(mode, max_beta=0.5, beta_rate=0.9))
    x = windows(2, 3)
    torch.manual_seed(1)
    out = model.training_loss(x, step=10)
    torch.manual_seed(1)  # the same draw of z as inside the loss
    z, mu, sigma = model.encode(x) if mode == "vrash" else (None, None, None)
    logits = [l.tolist() for l in model.decoder_logits(x, z)]
    targets = x.tolist()
    ce = [[[0.0] * 3 for _ in range(3)] for _ in range(2)]  # [window][note][head]
    right = 0
    for b in range(2):
        for t in range(3):
            for k in range(3):
                row = logits[k][b][t]
                ce[b][t][k] = math.log(sum(math.exp(v) for v in row)) - row[targets[b][t][k]]
            right += all(max(range(HEAD_DEPTHS[k]), key=logits[k][b][t].__getitem__) == targets[b][t][k]
                         for k in range(3))
    notes = 2 * 3
    assert float(out.metrics["cross_entropy"]) == pytest.approx(sum(map(sum, sum(ce, []))) / notes, rel=1e-5)
    for k, name in enumerate(HEADS):
        assert float(out.metrics[f"ce_{name}"]) == pytest.approx(sum(ce[b][t][k] for b in range(2) for t in range(3))
                                                                  / notes, rel=1e-5)
    assert float(out.metrics["accuracy"]) == pytest.approx(right / notes)
    r_loss = sum(map(sum, sum(ce, []))) / 2  # nats per window, averaged over the batch
    if mode == "lm":
        assert out.loss.item() == pytest.approx(r_loss, rel=1e-5)
        return
    kl = [sum(0.5 * (m * m + s * s) - math.log(s) - 0.5 for m, s in zip(mus, sigmas))
          for mus, sigmas in zip(mu.tolist(), sigma.tolist())]
    beta = 0.5 * (1 - 0.9 ** 10)
    assert out.metrics["beta"] == pytest.approx(beta)
    assert float(out.metrics["kl_bits"]) == pytest.approx(sum(kl) / 2 / math.log(2), rel=1e-5)
    assert out.loss.item() == pytest.approx(r_loss + beta * sum(kl) / 2, rel=1e-5)
    model.config = dataclasses.replace(model.config, free_bits=min(kl) / math.log(2))  # one window's KL is free
    torch.manual_seed(1)
    free = model.training_loss(x, step=10)
    assert free.loss.item() == pytest.approx(r_loss + beta * (max(kl) - min(kl)) / 2, rel=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_a_tiny_model_of_each_mode_overfits_a_tiny_set_through_the_trainer(mode, tmp_path):
    x = windows(4, 8, seed=3)
    x[..., 3] = torch.tensor([0, 24, 40, 73])[:, None]  # the program tells the LM which window it continues
    torch.manual_seed(0)
    model = NoteModel(tiny(mode, rnn_size=[32], pitch_class_embed=8, octave_embed=8, duration_embed=8,
                           z_size=8, max_beta=0.0))
    config = TrainConfig(run_dir=str(tmp_path), max_steps=150, batch_size=4, learning_rate=1e-2, device="cpu",
                         log_every=150, progress=False, tensorboard=False)
    Trainer(model, list(x), None, config).fit()
    model.eval()
    with torch.no_grad():
        metrics = model.training_loss(x, step=150).metrics
    assert float(metrics["accuracy"]) == 1.0 and float(metrics["cross_entropy"]) < 0.6


@pytest.mark.parametrize("mode", MODES)
def test_samples_decode_to_valid_monophonic_midi(mode, tmp_path):
    torch.manual_seed(0)
    model = NoteModel(tiny(mode)).eval()
    converter = NoteTokenConverter(seq_len=16)
    samples = model.sample(6, 16, temperature=1.5, meta=torch.tensor([0, 0, 24, 24, 73, 73]))
    assert ((samples[..., 0] != REST) | (samples[..., 1] == 0)).all()  # rests get octave 0, as encoded
    for k, window in enumerate(samples.numpy()):
        path = tmp_path / f"{k}.mid"
        converter.decode(window).write(str(path))
        (instrument,) = pretty_midi.PrettyMIDI(str(path)).instruments
        assert instrument.program == window[0, 3]
        notes = sorted(instrument.notes, key=lambda note: note.start)
        assert len(notes) == int((window[:, 0] != REST).sum())
        assert all(0 <= note.pitch <= 127 and note.end > note.start for note in notes)
        assert all(a.end <= b.start + 1e-6 for a, b in zip(notes, notes[1:]))  # monophonic: nothing overlaps


def test_sampled_octaves_keep_pitches_writable_and_rests_at_octave_0():
    """Heads biased towards octave 10 and the highest pitch classes: a note's pitch still stays within 127."""
    torch.manual_seed(0)
    model = NoteModel(tiny("vrash")).eval()
    with torch.no_grad():
        model.heads[1].bias[10] = 50.0  # octave 10 by far the most likely
        model.heads[0].bias[8:] = 20.0  # pitch classes 8-11 (MIDI 128-131 in octave 10) and rests
    for temperature in (0.0, 1.0):
        y = model.sample(8, 12, temperature)
        pitch_class, octave = y[..., 0], y[..., 1]
        assert (pitch_class >= 8).all() and (octave[pitch_class == REST] == 0).all()
        notes = pitch_class != REST
        assert notes.any() and (12 * octave[notes] + pitch_class[notes] <= 127).all()


@pytest.mark.parametrize("mode", ["lm", "vrash"])
def test_greedy_generation_matches_the_teacher_forced_pass(mode):
    """Each note decoded step by step (fed its own previous sample) is the argmax of the one-call training pass
    fed the decoded window: generation and training see the same history."""
    torch.manual_seed(2)
    model = NoteModel(tiny(mode, rnn_size=[12, 12])).eval()
    z = 3 * torch.randn(5, 4) if mode == "vrash" else None
    y = model.decode(z, 12, temperature=0.0, meta=9) if z is not None else model.sample(5, 12, 0.0, meta=9)
    logits = model.decoder_logits(y, z)
    assert torch.equal(logits[0].argmax(-1), y[..., 0]) and torch.equal(logits[2].argmax(-1), y[..., 2])
    # A rest's octave is fixed at 0, and an octave past MIDI 127 is never drawn: elsewhere the argmax is taken.
    octave = logits[1].argmax(-1)
    free = (y[..., 0] != REST) & (12 * octave + y[..., 0] <= 127)
    assert free.any() and torch.equal(octave[free], y[..., 1][free])


def test_config_round_trip_and_bad_values_refused():
    config = NoteModelConfig(mode="vae", rnn_size=[64, 32], z_size=8, free_bits=2.0, max_beta=0.3, beta_rate=0.99)
    assert NoteModelConfig.from_dict(config.to_dict()) == config
    assert NoteModelConfig().z_size == 16 and NoteModelConfig(beta_rate=0.9, max_beta=0.5).beta(2) == pytest.approx(
        0.5 * (1 - 0.81))
    bad = {
        "mode": ("gan", "mode must be one of lm, vae, vrash"),
        "octave_embed": (0, "pitch_class_embed, octave_embed, duration_embed and program_embed must be positive"),
        "rnn_size": ([], "rnn_size must be a non-empty list"),
        "z_size": (1.5, "z_size must be a positive integer"),
        "dropout": (1.0, r"dropout must be in \[0, 1\)"),
        "free_bits": (-1.0, "free_bits and max_beta must be >= 0"),
        "beta_rate": ("fast", r"beta_rate must be in \[0, 1\]"),
        "learning_rate": (0.0, "learning_rate must be > 0"),
        "batch_size": (True, "batch_size must be a positive integer"),
        "grad_clip": (-1, "grad_clip must be > 0"),
    }
    for name, (value, message) in bad.items():
        with pytest.raises(UserError, match="invalid note model config: " + message):
            NoteModelConfig(**{name: value})
    with pytest.raises(UserError, match="unknown note model config field.*: history"):
        NoteModelConfig.from_dict({**config.to_dict(), "history": True})


@pytest.mark.parametrize("mode", LATENT_MODES)
def test_reconstruction_keeps_each_windows_program(mode):
    model = NoteModel(tiny(mode)).eval()
    x = torch.cat([windows(2, 7, program=40), windows(1, 7, program=73)])
    y = model.reconstruct(x, temperature=0.0)
    assert y.shape == (3, 7, 4) and y[:2, :, 3].eq(40).all() and y[2, :, 3].eq(73).all()
