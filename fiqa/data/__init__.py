"""Training data: detection, alignment and splits of identity-labelled faces."""
