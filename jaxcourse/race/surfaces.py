"""Toy loss surfaces f(x, y) for watching optimizers move: saddle, long valley, Beale, ...

Each `Surface` knows its formula, its minima (none for a saddle), a plot range and suggested
start points. `f` is written with plain arithmetic, so it evaluates numpy arrays (plots,
rankings) and JAX arrays (the race) alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from jaxcourse.registry import Registry

SURFACES = Registry("surface")

Point = tuple[float, float]


@dataclass(frozen=True)
class Surface:
    """A function of two variables with what is needed to race optimizers on it."""

    name: str
    formula: str
    f: Callable  # f(x, y), elementwise
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    starts: tuple[Point, ...]  # suggested start points; the first one is featured in plots
    minima: tuple[Point, ...] = ()  # empty: a saddle, where the race is about escaping
    saddle_point: Point | None = None
    escape_direction: Point | None = None  # unit vector along which f falls off the saddle
    tolerance: float = 0.05  # distance to a minimum that counts as arrived / escape distance
    log_levels: bool = True  # contour levels spaced logarithmically
    about: str = ""

    @property
    def is_saddle(self) -> bool:
        return not self.minima

    @property
    def min_value(self) -> float:
        """f at its minima (0 for every surface here); −inf for a saddle."""
        if self.is_saddle:
            return float("-inf")
        return float(min(self.f(np.float64(x), np.float64(y)) for x, y in self.minima))

    def __call__(self, p):
        """f at points `p` of shape (..., 2)."""
        return self.f(p[..., 0], p[..., 1])

    def distance(self, p: np.ndarray) -> np.ndarray:
        """Distance of points (..., 2) to the nearest minimum; on a saddle, the escape
        distance: how far along `escape_direction` the point has left the saddle point."""
        p = np.asarray(p, np.float64)
        if self.is_saddle:
            return np.abs((p - np.asarray(self.saddle_point)) @ np.asarray(self.escape_direction))
        diff = p[..., None, :] - np.asarray(self.minima, np.float64)
        return np.sqrt((diff**2).sum(-1)).min(-1)

    def box(self, margin: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
        """Low and high corners of the plot range grown `margin` times around its centre."""
        lo = np.array([self.x_range[0], self.y_range[0]])
        hi = np.array([self.x_range[1], self.y_range[1]])
        centre, half = (lo + hi) / 2, (hi - lo) / 2
        return centre - margin * half, centre + margin * half


def _register(surface: Surface) -> Surface:
    SURFACES.register(surface.name)(surface)
    return surface


SADDLE = _register(
    Surface(
        name="saddle",
        formula="x² − y²",
        f=lambda x, y: x**2 - y**2,
        x_range=(-1.5, 1.5),
        y_range=(-1.5, 1.5),
        starts=((1.0, 1e-3), (-1.0, -1e-2), (1.2, 0.1)),
        saddle_point=(0.0, 0.0),
        escape_direction=(0.0, 1.0),
        tolerance=1.0,
        log_levels=False,
        about="A saddle point at the origin. From a start near the ridge y = 0 the gradient "
        "pulls towards the origin and only a tiny component pushes off the ridge; the race "
        "counts the steps until the escape distance |y| (the distance from the ridge, along "
        "which f falls) exceeds the tolerance.",
    )
)

LONG_VALLEY = _register(
    Surface(
        name="long_valley",
        formula="0.01·x² + y²",
        f=lambda x, y: 0.01 * x**2 + y**2,
        x_range=(-10.0, 10.0),
        y_range=(-3.0, 3.0),
        starts=((-9.0, 2.5), (-8.0, -2.0), (9.0, 1.0)),
        minima=((0.0, 0.0),),
        tolerance=0.1,
        about="An ill-conditioned quadratic: curvature 0.02 along x and 2 across, a condition "
        "number of 100. A step size stable across the valley crawls along it.",
    )
)

BEALE = _register(
    Surface(
        name="beale",
        formula="(1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²",
        f=lambda x, y: (
            (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2
        ),
        x_range=(-4.5, 4.5),
        y_range=(-4.5, 4.5),
        starts=((1.0, 1.4), (-2.0, 2.0), (2.0, -1.5)),
        minima=((3.0, 0.5),),
        tolerance=0.05,
        about="Beale's function: flat plateaus and steep walls; the minimum 0 lies at (3, 0.5).",
    )
)

ROSENBROCK = _register(
    Surface(
        name="rosenbrock",
        formula="(1 − x)² + 100·(y − x²)²",
        f=lambda x, y: (1 - x) ** 2 + 100.0 * (y - x**2) ** 2,
        x_range=(-2.0, 2.0),
        y_range=(-1.0, 3.0),
        starts=((-1.2, 1.0), (-1.5, 2.5), (0.5, -0.5)),
        minima=((1.0, 1.0),),
        tolerance=0.05,
        about="A curved, narrow valley; easy to fall into, slow to follow to the minimum (1, 1).",
    )
)

HIMMELBLAU = _register(
    Surface(
        name="himmelblau",
        formula="(x² + y − 11)² + (x + y² − 7)²",
        f=lambda x, y: (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2,
        x_range=(-5.0, 5.0),
        y_range=(-5.0, 5.0),
        starts=((0.0, 0.0), (-1.0, -1.0), (0.5, -4.0)),
        minima=(
            (3.0, 2.0),
            (-2.805118, 3.131312),
            (-3.779310, -3.283186),
            (3.584428, -1.848126),
        ),
        tolerance=0.05,
        about="Four minima of value 0; which one an optimizer reaches depends on its path.",
    )
)

BOOTH = _register(
    Surface(
        name="booth",
        formula="(x + 2y − 7)² + (2x + y − 5)²",
        f=lambda x, y: (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2,
        x_range=(-10.0, 10.0),
        y_range=(-10.0, 10.0),
        starts=((-8.0, -8.0), (8.0, -6.0), (-5.0, 9.0)),
        minima=((1.0, 3.0),),
        tolerance=0.05,
        about="A tilted quadratic bowl with its minimum 0 at (1, 3): the easy case.",
    )
)
