"""Quadrature rules: exactness on polynomials of the promised degree, weights summing to 1,
nodes in [0, 1] (as Captum tests its approximation methods), and the adaptive Simpson rule's
known cell errors."""
from __future__ import annotations

import numpy as np
import pytest

from xai_widgets.explain import quadrature as Q


def _run(rule: Q.AdaptiveSimpson, f, g):
    probe, grad = rule.ask()
    while len(probe) or len(grad):
        rule.tell(f(probe), f(grad), g(grad))
        probe, grad = rule.ask()
    return rule.weights()


@pytest.mark.parametrize("method", Q.QUADRATURE_RULES)
@pytest.mark.parametrize("steps", [2, 3, 7, 50])
def test_fixed_rules_weights_nodes_and_degree(method, steps):
    a, w = Q.quadrature(method, steps)
    assert a.shape == w.shape == (steps,)
    assert abs(w.sum() - 1) < 1e-13
    assert (a >= 0).all() and (a <= 1).all()
    deg = Q.DEGREE(method, steps)
    for p in range(min(deg, 40) + 1):  # int_0^1 a^p = 1 / (p + 1)
        assert abs(w @ a**p - 1 / (p + 1)) < 1e-12, (method, steps, p)
    # and the degree is tight: the next power is not exact (left/right/midpoint/trapezoid, small GL)
    if deg < 20:
        assert abs(w @ a ** (deg + 1) - 1 / (deg + 2)) > 1e-10


def test_gauss_legendre_matches_captum():
    from captum.attr._utils.approximation_methods import approximation_parameters

    for n in (1, 5, 64):
        step_sizes, alphas = approximation_parameters("gausslegendre")
        a, w = Q.quadrature("gausslegendre", n)
        np.testing.assert_allclose(a, alphas(n), atol=1e-12)
        np.testing.assert_allclose(w, step_sizes(n), atol=1e-12)
    for m in ("riemann_left", "riemann_right", "riemann_middle"):
        step_sizes, alphas = approximation_parameters(m)
        a, w = Q.quadrature(m, 8)
        np.testing.assert_allclose(a, alphas(8), atol=1e-12)
        np.testing.assert_allclose(w, step_sizes(8), atol=1e-12)


def test_fixed_rule_errors():
    with pytest.raises(ValueError, match="gausslegendre"):
        Q.quadrature("adaptive", 5)  # per-path points: no fixed rule
    with pytest.raises(ValueError, match="steps >= 2"):
        Q.quadrature("riemann_trapezoid", 1)


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 9, 16, 33, 64])
def test_adaptive_weights_nodes_and_degree(steps):
    rng = np.random.default_rng(steps)
    c = rng.normal(size=4)  # a random cubic: f = sum c_p a^(p+1) / (p+1), g = f'
    g = lambda a: sum(c[p] * a**p for p in range(4))  # noqa: E731
    f = lambda a: sum(c[p] * a ** (p + 1) / (p + 1) for p in range(4))  # noqa: E731
    rule = Q.AdaptiveSimpson(steps, f(0.0), f(1.0))
    a, w = _run(rule, f, g)
    assert len(a) == steps and len(np.unique(a)) == steps
    assert abs(w.sum() - 1) < 1e-13 and (w > 0).all()
    assert (a >= 0).all() and (a <= 1).all()
    deg = Q.DEGREE("adaptive", steps)
    for p in range(deg + 1):
        assert abs(w @ a**p - 1 / (p + 1)) < 1e-12, (steps, p)
    if deg == 3:  # composite Simpson integrates the cubic's derivative exactly: zero cell errors
        assert np.abs(rule.cell_errors()).max() < 1e-12
        assert abs(w @ g(a) - (f(1.0) - f(0.0))) < 1e-12
    # forward-only probes from MIN_PROBED steps on: PROBE_FRACTION of the steps
    assert rule.forward_points == (round(steps * Q.AdaptiveSimpson.PROBE_FRACTION) if steps >= 16 else 0)


def test_adaptive_cell_errors_sum_to_the_residual_and_refine_the_jump():
    """f a steep sigmoid at alpha = 0.04: the cell errors add up to the rule's residual exactly,
    and the points go to the jump, where 64 Gauss-Legendre points miss it."""
    s = 0.004
    f = lambda a: 6 / (1 + np.exp(-(a - 0.04) / s)) + np.sin(3 * a)  # noqa: E731
    g = lambda a: 6 * np.exp(-(a - 0.04) / s) / (1 + np.exp(-(a - 0.04) / s)) ** 2 / s + 3 * np.cos(3 * a)  # noqa: E731
    gap = f(1.0) - f(0.0)
    rule = Q.AdaptiveSimpson(48, f(0.0), f(1.0))
    a, w = _run(rule, f, g)
    residual = w @ g(a) - gap
    assert abs(rule.cell_errors().sum() - residual) < 1e-12
    assert abs(residual) <= 2e-3 * abs(gap)
    assert (np.abs(a - 0.04) < 0.02).sum() >= len(a) // 3  # a third of the points near the jump
    ga, gw = Q.quadrature("gausslegendre", 64)
    assert abs(gw @ g(ga) - gap) > 5e-3 * abs(gap)


@pytest.mark.parametrize("lo, x", [(0.1, 1.0), (0.7, 1.0), (0.1, 1 / 0.7), (0.3, 1.0)])
def test_adaptive_finds_a_narrow_ramp(lo, x):
    """f a ramp 1e-3 wide (g a box 1e4 high): the forward probes find both of its edges, so 64
    nodes leave < 0.1% of the gap (a fixed rule of 64 points misses it by > 1%)."""
    f = lambda a: 10 * np.clip((a * x - lo) / 1e-3, 0, 1)  # noqa: E731
    g = lambda a: np.where((a * x > lo) & (a * x < lo + 1e-3), 1e4 * x, 0.0)  # noqa: E731
    rule = Q.AdaptiveSimpson(64, f(0.0), f(1.0))
    a, w = _run(rule, f, g)
    assert abs(w @ g(a) - 10) <= 1e-2
    assert rule.forward_points == 32  # the forward-only points, PROBE_FRACTION * steps
    ga, gw = Q.quadrature("gausslegendre", 64)
    assert abs(gw @ g(ga) - 10) > 0.1


def test_adaptive_several_outputs_and_protocol():
    """T outputs at once: the cells follow the sum of the outputs' errors; every output integrates
    with the same nodes and weights; ask/tell out of order is refused."""
    f = lambda a: np.stack([np.tanh(30 * (a - 0.2)), np.sin(4 * a)], -1)  # noqa: E731
    g = lambda a: np.stack([30 / np.cosh(30 * (a - 0.2)) ** 2, 4 * np.cos(4 * a)], -1)  # noqa: E731
    rule = Q.AdaptiveSimpson(41, f(0.0), f(1.0))
    a, w = _run(rule, f, g)
    np.testing.assert_allclose(w @ g(a), f(1.0) - f(0.0), atol=1e-3)
    assert rule.ask()[0].size == 0 and rule.ask()[1].size == 0  # done stays done
    rule = Q.AdaptiveSimpson(20, 0.0, 1.0)
    rule.ask()
    with pytest.raises(RuntimeError, match="tell"):
        rule.ask()
    with pytest.raises(ValueError, match="steps"):
        Q.AdaptiveSimpson(0, 0.0, 1.0)
    with pytest.raises(ValueError, match="outputs"):
        Q.AdaptiveSimpson(9, [0.0, 1.0], 1.0)


def test_simpson_weights_mixed_cells():
    a = np.array([0.0, 0.25, 0.5, 1.0])
    w = Q.simpson_weights(a, np.array([True, False, True, True]))
    np.testing.assert_allclose(w, [0.5 / 6, 2 / 6, 0.5 / 6 + 0.25, 0.25])
    for p in range(2):  # the trapezoid half makes the mixed rule degree 1
        assert abs(w @ a**p - 1 / (p + 1)) < 1e-14
