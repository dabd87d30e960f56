"""Defaults and choices that both the MIDI library and `music-composer midi`'s flags use.

Torch-free and free of the MIDI libraries, so the command line builds its help and checks its flags without
loading a model; the modules these values belong to import them from here.
"""
from __future__ import annotations

DEFAULT_NUM_STEPS = 200_000  # Magenta's music_vae_train default
DEFAULT_TEMPERATURE = 0.5  # Magenta's music_vae_generate default
EVAL_BATCH_SIZE = 256
CONVERTER_KINDS = ("melody", "drums", "trio", "pianoroll", "notes")  # the keys of data.converters.CONVERTERS
ATTRIBUTE_NAMES = ("note_density", "average_interval", "c_diatonic", "syncopation_8th", "syncopation_16th")
LATENT_MAP_METHODS = ("auto", "pca", "tsne")
