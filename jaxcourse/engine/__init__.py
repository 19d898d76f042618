"""The training engine: one loop, its hooks, checkpoints, run directory, writers, progress."""
