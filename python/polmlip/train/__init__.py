"""Training: configuration, losses, the training loop, checkpoints and plots."""
