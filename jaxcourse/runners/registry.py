"""The experiments by name: each runner module registers its config class and run function."""

from jaxcourse.registry import Registry

EXPERIMENTS = Registry("experiment")
