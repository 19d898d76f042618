"""Which examples each step trains on: a deterministic function of (seed, step).

Each epoch is a fresh permutation drawn from `(seed, epoch)`, cut into full batches (the
remainder of an epoch is dropped). Because the schedule depends only on the step number, a
resumed run sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import numpy as np


class BatchSchedule:
    """Index batches for steps of an epoch-based shuffled schedule."""

    def __init__(self, num_examples: int, batch_size: int | None, seed: int, shuffle: bool = True):
        self.num_examples = num_examples
        self.batch_size = num_examples if batch_size is None else batch_size
        if not 0 < self.batch_size <= num_examples:
            raise ValueError(
                f"batch size {self.batch_size} must be between 1 and the number of training "
                f"examples ({num_examples})"
            )
        self.full_batch = self.batch_size == num_examples and batch_size is None
        self.steps_per_epoch = num_examples // self.batch_size
        self.seed, self.shuffle = seed, shuffle
        self._epoch, self._perm = -1, None

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            if self.shuffle and not self.full_batch:
                rng = np.random.default_rng([self.seed, epoch])
                self._perm = rng.permutation(self.num_examples).astype(np.int32)
            else:
                self._perm = np.arange(self.num_examples, dtype=np.int32)
            self._epoch = epoch
        return self._perm

    def indices(self, step: int) -> np.ndarray:
        """The (batch_size,) example indices of step `step` (0-based)."""
        epoch, pos = divmod(step, self.steps_per_epoch)
        start = pos * self.batch_size
        return self._permutation(epoch)[start : start + self.batch_size]

    def indices_for(self, first_step: int, count: int) -> np.ndarray:
        """Indices of `count` consecutive steps, stacked to (count, batch_size)."""
        return np.stack([self.indices(first_step + i) for i in range(count)])
