"""Studies of trained models: held-out metrics (evaluate, sample_quality), comparing configs (compare), the latent
space (latent_map, attributes) and variations of a whole song (variations)."""
