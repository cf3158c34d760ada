"""Quality labels for training regressors: one module per labelling method."""
