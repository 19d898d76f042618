"""Optimizers by name, each built as an Optax gradient transformation from its config section.

`build(cfg)` turns an `optimizer:` section into an Optax transformation; `make(name, **options)`
does the same from keyword options, validated like YAML. Every optimizer takes a learning-rate
`schedule`, gradient clipping (`clip_norm`, `clip_value`) and `weight_decay`. The course family
(`sgd`, `momentum`, `nag`, `adagrad`, `rmsprop`, `adadelta`, `adam`) comes in two flavours:
`optax` (Optax's defaults) and `tf1` (TensorFlow 1's optimizers, reproduced exactly).
"""

from jaxcourse.optim import course, modern  # noqa: F401  (register the optimizers)
from jaxcourse.optim.base import (
    OPTIMIZERS,
    CourseConfig,
    OptimizerConfig,
    build,
    make,
    validate,
)
from jaxcourse.optim.schedules import SCHEDULES, ScheduleConfig

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "CourseConfig",
    "OptimizerConfig",
    "ScheduleConfig",
    "build",
    "make",
    "validate",
]
