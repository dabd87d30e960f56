"""Defaults and choices that both the MIDI library and `music-composer midi`'s flags use.

Torch-free and free of the MIDI libraries, so the command line builds its help and checks its flags without
loading a model; the modules these values belong to import them from here.
"""
from __future__ import annotations

DEFAULT_NUM_STEPS = 200_000  # Magenta's music_vae_train default
DEFAULT_TEMPERATURE = 0.5  # Magenta's music_vae_generate default
EVAL_BATCH_SIZE = 256
CONVERTER_KINDS = ("melody", "drums", "trio", "pianoroll", "notes", "lead_sheet")  # the keys of data.converters.CONVERTERS
ATTRIBUTE_NAMES = ("note_density", "average_interval", "c_diatonic", "syncopation_8th", "syncopation_16th")
LATENT_MAP_METHODS = ("auto", "pca", "tsne")
# Per-file limits of `midi prepare` (--file-time-limit, --max-file-mb). Lakh's MIDI files are mostly well under 1 MB
# and convert in milliseconds; a file 10x past the largest common ones, or one a converter takes half a minute on
# (Magenta's hangs on one LMD file), is skipped by name instead of stalling the folder.
FILE_TIME_LIMIT_S = 30.0
FILE_SIZE_LIMIT_MB = 10.0
