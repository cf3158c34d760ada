"""Training commands: the distilled LRFR backbone, quality regressors and ViT-FIQA."""
