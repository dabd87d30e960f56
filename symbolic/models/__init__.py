"""The model families, one module each, the registry that builds and judges them (families) and the trivial
predictors they are judged against (baselines)."""
