"""MIDI in: reading files (midi_io), converting scores to windows (converters/), the prepared, split datasets
(splits, prepare) and their torch view for training (datasets)."""
