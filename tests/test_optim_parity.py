"""Every optimizer, in both flavours, against float64 numpy implementations of its formulas.

Each reference below is written from the formula in the optimizer's docstring (and, for tf1,
from TensorFlow 1's documented update rules), independently of Optax. The optimizer runs for
STEPS updates on random gradients in float64; the parameter trajectory must agree with the
reference to a relative error below 1e-10 at every step (the issue asks for 1e-6; a looser
bound let a misplaced epsilon slip through).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxcourse import optim

STEPS = 120
TOL = 1e-10  # the issue asks for < 1e-6; float64 formulas agree to ~1e-14, so demand more


def _problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    params = {"w": rng.normal(size=(3, 4)), "b": rng.normal(size=(5,))}
    # gradients of mixed scales (some tiny, some large) so epsilons and accumulators matter
    scales = {"w": np.logspace(-3, 1, 12).reshape(3, 4), "b": np.logspace(-4, 0, 5)}
    grads = [
        {k: rng.normal(size=v.shape) * scales[k] for k, v in params.items()} for _ in range(STEPS)
    ]
    return params, grads


def _run_jax(tx: optax.GradientTransformation, params: dict, grads: list[dict]) -> list[dict]:
    """Apply `tx` to the gradient sequence in float64; the parameters after every step."""
    with jax.enable_x64(True):
        p0 = jax.tree.map(jnp.asarray, params)
        stacked = jax.tree.map(lambda *g: jnp.stack(g), *grads)
        assert p0["w"].dtype == jnp.float64

        def body(carry, g):
            p, s = carry
            u, s = tx.update(g, s, p)
            p = optax.apply_updates(p, u)
            return (p, s), p

        _, path = jax.jit(lambda p, gs: jax.lax.scan(body, (p, tx.init(p)), gs))(p0, stacked)
        path = jax.tree.map(np.asarray, path)
    return [{k: path[k][t] for k in path} for t in range(len(grads))]


def _assert_close(got: list[dict], want: list[dict], p0: dict) -> None:
    """Relative error of the displacement W_t − W_0, at every step and leaf, below TOL."""
    for t, (g, w) in enumerate(zip(got, want, strict=True)):
        for k in w:
            ref = w[k] - p0[k]
            err = np.linalg.norm((g[k] - p0[k]) - ref) / max(np.linalg.norm(ref), 1e-300)
            assert err < TOL, f"step {t + 1}, leaf {k}: relative error {err:.3g}"


def _elementwise(step_fn, init_fn):
    """A reference optimizer from a per-array update rule: state = init(W), step(W, g, s, t)."""

    def run(params, grads):
        p = {k: v.copy() for k, v in params.items()}
        state = {k: init_fn(v) for k, v in p.items()}
        out = []
        for t, g in enumerate(grads, start=1):
            for k in p:
                p[k], state[k] = step_fn(p[k], g[k], state[k], t)
            out.append({k: v.copy() for k, v in p.items()})
        return out

    return run


# --------------------------------------------------------------------------- references


def ref_sgd(lr):
    return _elementwise(lambda w, g, s, t: (w - lr * g, s), lambda w: None)


def ref_momentum(lr, gamma, nesterov=False):
    def step(w, g, a, t):
        a = gamma * a + g
        return (w - lr * (g + gamma * a) if nesterov else w - lr * a), a

    return _elementwise(step, np.zeros_like)


def ref_adagrad(lr, init, eps):
    def step(w, g, s, t):
        s = s + g * g
        return w - lr * g / np.sqrt(s + eps), s

    return _elementwise(step, lambda w: np.full_like(w, init))


def ref_rmsprop(lr, rho, gamma, eps, init, centered, lr_at=None):
    lr_at = lr_at or (lambda t: lr)

    def step(w, g, s, t):
        n, m, a = s
        n = rho * n + (1 - rho) * g * g
        m = rho * m + (1 - rho) * g
        d = n - m * m if centered else n
        a = gamma * a + lr_at(t) * g / np.sqrt(d + eps)
        return w - a, (n, m, a)

    return _elementwise(step, lambda w: (np.full_like(w, init), np.zeros_like(w), np.zeros_like(w)))


def ref_adadelta(lr, rho, eps):
    def step(w, g, s, t):
        n, u = s
        n = rho * n + (1 - rho) * g * g
        delta = np.sqrt(u + eps) / np.sqrt(n + eps) * g
        u = rho * u + (1 - rho) * delta * delta
        return w - lr * delta, (n, u)

    return _elementwise(step, lambda w: (np.zeros_like(w), np.zeros_like(w)))


def ref_adam_optax(lr, b1, b2, eps, decoupled_wd=0.0):
    def step(w, g, s, t):
        m, v = s
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        return w - lr * (m_hat / (np.sqrt(v_hat) + eps) + decoupled_wd * w), (m, v)

    return _elementwise(step, lambda w: (np.zeros_like(w), np.zeros_like(w)))


def ref_adam_tf1(lr, b1, b2, eps_hat, lr_at=None):
    """TF1 ApplyAdam: lr_t = lr·√(1−β2ᵗ)/(1−β1ᵗ); W −= lr_t·m/(√v + ε̂)."""
    lr_at = lr_at or (lambda t: lr)

    def step(w, g, s, t):
        m, v = s
        lr_t = lr_at(t) * np.sqrt(1 - b2**t) / (1 - b1**t)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        return w - lr_t * m / (np.sqrt(v) + eps_hat), (m, v)

    return _elementwise(step, lambda w: (np.zeros_like(w), np.zeros_like(w)))


def ref_nadam(lr, b1, b2, eps):
    def step(w, g, s, t):
        m, v = s
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
        return w - lr * m_hat / (np.sqrt(v / (1 - b2**t)) + eps), (m, v)

    return _elementwise(step, lambda w: (np.zeros_like(w), np.zeros_like(w)))


def ref_radam(lr, b1, b2, eps, threshold):
    rho_inf = 2 / (1 - b2) - 1

    def step(w, g, s, t):
        m, v = s
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho_t > threshold:
            r = np.sqrt(
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            )
            u = r * m_hat / (np.sqrt(v / (1 - b2**t)) + eps)
        else:
            u = m_hat
        return w - lr * u, (m, v)

    return _elementwise(step, lambda w: (np.zeros_like(w), np.zeros_like(w)))


def ref_adabelief(lr, b1, b2, eps, eps_root=1e-16):
    def step(w, g, s, t):
        m, b = s
        m = b1 * m + (1 - b1) * g
        b = b2 * b + (1 - b2) * (g - m) ** 2 + eps_root
        m_hat, b_hat = m / (1 - b1**t), b / (1 - b2**t)
        return w - lr * m_hat / (np.sqrt(b_hat) + eps), (m, b)

    return _elementwise(step, lambda w: (np.zeros_like(w), np.zeros_like(w)))


def ref_adamax(lr, b1, b2, eps):
    def step(w, g, s, t):
        m, u = s
        m = b1 * m + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g) + eps)
        return w - lr * (m / (1 - b1**t)) / u, (m, u)

    return _elementwise(step, lambda w: (np.zeros_like(w), np.zeros_like(w)))


def ref_lion(lr, b1, b2, wd):
    def step(w, g, m, t):
        u = np.sign(b1 * m + (1 - b1) * g)
        m = b2 * m + (1 - b2) * g
        return w - lr * (u + wd * w), m

    return _elementwise(step, np.zeros_like)


def ref_lamb(lr, b1, b2, eps, wd):
    def step(w, g, s, t):
        m, v = s
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        u = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps) + wd * w
        wn, un = np.linalg.norm(w), np.linalg.norm(u)
        ratio = wn / un if wn > 0 and un > 0 else 1.0
        return w - lr * ratio * u, (m, v)

    return _elementwise(step, lambda w: (np.zeros_like(w), np.zeros_like(w)))


# --------------------------------------------------------------------------- cases

# (optimizer name, options, reference). TF1 constants are written out here from TF1's docs,
# not read from the config classes, so a wrong flavour default fails the test.
CASES = [
    ("sgd", {"learning_rate": 0.1}, ref_sgd(0.1)),
    ("sgd", {"learning_rate": 0.1, "flavour": "tf1"}, ref_sgd(0.1)),
    ("momentum", {"learning_rate": 0.05}, ref_momentum(0.05, 0.9)),
    (
        "momentum",
        {"learning_rate": 0.05, "momentum": 0.5, "flavour": "tf1"},
        ref_momentum(0.05, 0.5),
    ),
    ("nag", {"learning_rate": 0.05}, ref_momentum(0.05, 0.9, nesterov=True)),
    ("nag", {"learning_rate": 0.05, "flavour": "tf1"}, ref_momentum(0.05, 0.9, nesterov=True)),
    ("adagrad", {"learning_rate": 0.1}, ref_adagrad(0.1, 0.1, 1e-7)),
    ("adagrad", {"learning_rate": 0.1, "flavour": "tf1"}, ref_adagrad(0.1, 0.1, 0.0)),
    (
        "adagrad",
        {"learning_rate": 0.1, "flavour": "tf1", "initial_accumulator": 0.5},
        ref_adagrad(0.1, 0.5, 0.0),
    ),
    # a tiny accumulator and tiny gradients make the optax ε (1e-7) count
    (
        "adagrad",
        {"learning_rate": 0.1, "flavour": "tf1", "initial_accumulator": 1e-6},
        ref_adagrad(0.1, 1e-6, 0.0),
    ),
    ("adagrad", {"learning_rate": 0.1, "initial_accumulator": 1e-6}, ref_adagrad(0.1, 1e-6, 1e-7)),
    ("rmsprop", {}, ref_rmsprop(0.001, 0.9, 0.0, 1e-8, 0.0, False)),
    ("rmsprop", {"flavour": "tf1"}, ref_rmsprop(0.001, 0.9, 0.0, 1e-10, 1.0, False)),
    (
        "rmsprop",
        {"learning_rate": 0.01, "momentum": 0.9, "centered": True, "decay": 0.8},
        ref_rmsprop(0.01, 0.8, 0.9, 1e-8, 0.0, True),
    ),
    (
        "rmsprop",
        {"learning_rate": 0.01, "momentum": 0.9, "centered": True, "flavour": "tf1"},
        ref_rmsprop(0.01, 0.9, 0.9, 1e-10, 1.0, True),
    ),
    ("adadelta", {}, ref_adadelta(1.0, 0.9, 1e-6)),
    ("adadelta", {"flavour": "tf1"}, ref_adadelta(0.001, 0.95, 1e-8)),
    (
        "adadelta",
        {"learning_rate": 0.5, "rho": 0.99, "flavour": "tf1"},
        ref_adadelta(0.5, 0.99, 1e-8),
    ),
    ("adam", {}, ref_adam_optax(0.001, 0.9, 0.999, 1e-8)),
    ("adam", {"flavour": "tf1"}, ref_adam_tf1(0.001, 0.9, 0.999, 1e-8)),
    # a large epsilon hat makes the difference between the flavours visible
    (
        "adam",
        {"learning_rate": 0.01, "eps": 0.1, "flavour": "tf1"},
        ref_adam_tf1(0.01, 0.9, 0.999, 0.1),
    ),
    ("adam", {"learning_rate": 0.01, "eps": 0.1, "b1": 0.5}, ref_adam_optax(0.01, 0.5, 0.999, 0.1)),
    ("adamw", {"weight_decay": 0.01}, ref_adam_optax(0.001, 0.9, 0.999, 1e-8, decoupled_wd=0.01)),
    ("nadam", {}, ref_nadam(0.001, 0.9, 0.999, 1e-8)),
    ("radam", {"learning_rate": 0.01}, ref_radam(0.01, 0.9, 0.999, 1e-8, 5.0)),
    ("adabelief", {}, ref_adabelief(0.001, 0.9, 0.999, 1e-16)),
    ("adabelief", {"eps": 1e-3}, ref_adabelief(0.001, 0.9, 0.999, 1e-3)),
    ("adamax", {}, ref_adamax(0.002, 0.9, 0.999, 1e-8)),
    ("lion", {}, ref_lion(1e-4, 0.9, 0.99, 1e-3)),
    ("lamb", {"weight_decay": 0.01}, ref_lamb(0.001, 0.9, 0.999, 1e-6, 0.01)),
]


def _case_id(case) -> str:
    name, options, _ = case
    return name + "-" + ",".join(f"{k}={v}" for k, v in options.items())


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_matches_numpy_reference(case):
    name, options, reference = case
    params, grads = _problem()
    got = _run_jax(optim.make(name, **options), params, grads)
    _assert_close(got, reference(params, grads), params)


def test_every_optimizer_has_a_parity_case_and_every_course_one_both_flavours():
    covered = {name for name, _, _ in CASES}
    assert covered == set(optim.OPTIMIZERS.names())
    for name in ["sgd", "momentum", "nag", "adagrad", "rmsprop", "adadelta", "adam"]:
        flavours = {opts.get("flavour", "optax") for n, opts, _ in CASES if n == name}
        assert flavours == {"optax", "tf1"}, name


def test_tf1_adam_differs_from_optax_adam_by_where_epsilon_sits():
    """With a large ε the two Adam rules give different trajectories (the test can fail)."""
    params, grads = _problem()
    tf1 = _run_jax(optim.make("adam", learning_rate=0.01, eps=0.1, flavour="tf1"), params, grads)
    ox = _run_jax(optim.make("adam", learning_rate=0.01, eps=0.1), params, grads)
    assert np.abs(tf1[-1]["w"] - ox[-1]["w"]).max() > 1e-4


def test_scheduled_learning_rate_enters_tf1_rules_like_tensorflow():
    """tf.train.exponential_decay feeding RMSprop-with-momentum and Adam (η inside the rule)."""
    params, grads = _problem(1)
    decay = {"name": "exponential_decay", "decay_steps": 10, "decay_rate": 0.5}
    lr_at = lambda t: 0.01 * 0.5 ** ((t - 1) / 10)  # global_step = t − 1 at update t
    got = _run_jax(
        optim.make("rmsprop", learning_rate=0.01, momentum=0.9, flavour="tf1", schedule=decay),
        params,
        grads,
    )
    _assert_close(got, ref_rmsprop(0.01, 0.9, 0.9, 1e-10, 1.0, False, lr_at)(params, grads), params)
    got = _run_jax(
        optim.make("adam", learning_rate=0.01, flavour="tf1", schedule=decay), params, grads
    )
    _assert_close(got, ref_adam_tf1(0.01, 0.9, 0.999, 1e-8, lr_at)(params, grads), params)


def test_weight_decay_then_clipping_then_optimizer():
    """g ← g + λW; g ← g·min(1, c/‖g‖) over all leaves; g ← clip(g, ±v); then momentum."""
    params, grads = _problem(2)
    lam, c, v, lr, gamma = 0.1, 2.0, 0.5, 0.05, 0.9
    tx = optim.make(
        "momentum", learning_rate=lr, momentum=gamma, weight_decay=lam, clip_norm=c, clip_value=v
    )
    got = _run_jax(tx, params, grads)
    p = {k: x.copy() for k, x in params.items()}
    a = {k: np.zeros_like(x) for k, x in p.items()}
    want = []
    for g in grads:
        g = {k: g[k] + lam * p[k] for k in p}
        norm = np.sqrt(sum(np.sum(x * x) for x in g.values()))
        g = {k: np.clip(x * min(1.0, c / norm), -v, v) for k, x in g.items()}
        for k in p:
            a[k] = gamma * a[k] + g[k]
            p[k] = p[k] - lr * a[k]
        want.append({k: x.copy() for k, x in p.items()})
    _assert_close(got, want, params)


def test_nag_equals_the_course_look_ahead_form_on_a_quadratic():
    """v = γv + η∇J(W − γv); W −= v  is our NAG on the shifted iterate W' = W − γv."""
    rng = np.random.default_rng(3)
    q = rng.normal(size=(4, 4))
    a = q @ q.T / 4 + np.eye(4)  # J(W) = ½ WᵀAW, ∇J = AW
    w0 = rng.normal(size=4)
    lr, gamma = 0.05, 0.9
    w, v = w0.copy(), np.zeros(4)
    course = []
    for _ in range(STEPS):
        v = gamma * v + lr * a @ (w - gamma * v)
        w = w - v
        course.append(w - gamma * v)
    tx = optim.make("nag", learning_rate=lr, momentum=gamma)
    with jax.enable_x64(True):
        p = jnp.asarray(w0)
        s = tx.init(p)
        ours = []
        for _ in range(STEPS):
            u, s = tx.update(jnp.asarray(a) @ p, s, p)
            p = p + u
            ours.append(np.asarray(p))
    np.testing.assert_allclose(np.array(ours), np.array(course), rtol=1e-9, atol=1e-12)
