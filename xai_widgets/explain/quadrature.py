"""Quadrature rules for path integrals over ``alpha`` in [0, 1] (integrated gradients).

Two kinds of rule:

* fixed rules (:func:`quadrature`): the same points and weights for every
  path — Gauss–Legendre and the Riemann rules, Captum's names;
* :class:`AdaptiveSimpson`: one path's points, placed by bisection where the
  rule's *known* error is largest. Integrated gradients integrates
  ``g(alpha) = d/dalpha f(b + alpha (x - b))``, and every gradient pass at a
  point returns both ``f`` and ``g`` there; so the error of the rule on a
  cell ``[a, c]`` is ``sum_nodes w g - (f(c) - f(a))``, computed exactly
  (no estimate) from passes already made. That error is the cell's share of
  the completeness residual.

This module is numbers only (numpy): the kernels evaluate the model.

Example
-------
>>> a, w = quadrature("gausslegendre", 3)
>>> float(w.sum()), bool(((a > 0) & (a < 1)).all())
(1.0, True)
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["QUADRATURE_RULES", "DEGREE", "quadrature", "simpson_weights", "AdaptiveSimpson"]

#: Fixed integration rules (Captum's names), see :func:`quadrature`.
QUADRATURE_RULES = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle")


def DEGREE(method: str, steps: int) -> int:  # noqa: N802 - a table, read like a constant
    """Highest polynomial degree ``method`` with ``steps`` points integrates exactly.

    Gauss–Legendre ``2 steps - 1``; midpoint and trapezoid 1; left/right 0;
    ``"adaptive"`` (composite Simpson) 3 for odd ``steps >= 3``, else 1 (an
    even count leaves one trapezoid cell).
    """
    if method == "gausslegendre":
        return 2 * steps - 1
    if method in ("riemann_middle", "riemann_trapezoid"):
        return 1
    if method in ("riemann_left", "riemann_right"):
        return 0
    if method == "adaptive":
        return 3 if steps >= 3 and steps % 2 == 1 else 1
    raise ValueError(f"unknown rule {method!r}")


def quadrature(method: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Points ``alphas`` in [0, 1] and weights for integrating over a straight path.

    Parameters
    ----------
    method : str
        One of :data:`QUADRATURE_RULES`.
    steps : int
        Number of points (>= 2 for the trapezoid rule).

    Returns
    -------
    alphas, weights : ndarray ``(steps,)``
        Weights sum to 1.

    Notes
    -----
    ``gausslegendre`` and ``riemann_left/right/middle`` match Captum.
    ``riemann_trapezoid`` uses the textbook trapezoid rule (weights
    ``1/(steps-1)``, halved at both ends, summing to 1); Captum's weights are
    ``1/steps`` (summing to ``1 - 1/steps``), i.e. the same shape scaled by
    ``(steps-1)/steps``, which breaks completeness even on a linear model.
    ``"adaptive"`` places its points per path, see :class:`AdaptiveSimpson`.

    Example
    -------
    >>> a, w = quadrature("riemann_middle", 4)
    >>> a.tolist(), float(w.sum())
    ([0.125, 0.375, 0.625, 0.875], 1.0)
    """
    if method not in QUADRATURE_RULES:
        raise ValueError(f"method must be one of {', '.join(map(repr, QUADRATURE_RULES))}; got {method!r}")
    n = int(steps)
    if n < 1 or (method == "riemann_trapezoid" and n < 2):
        raise ValueError(f"method={method!r} needs steps >= {2 if method == 'riemann_trapezoid' else 1}, got {steps}")
    if method == "gausslegendre":
        x, w = np.polynomial.legendre.leggauss(n)
        return 0.5 * (x + 1.0), 0.5 * w
    if method == "riemann_trapezoid":
        w = np.full(n, 1.0 / (n - 1))
        w[0] /= 2
        w[-1] /= 2
        return np.linspace(0.0, 1.0, n), w
    w = np.full(n, 1.0 / n)
    offset = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}[method]
    return (np.arange(n) + offset) / n, w


def simpson_weights(alphas: np.ndarray, is_edge: np.ndarray) -> np.ndarray:
    """Weights of the composite rule on sorted ``alphas`` with cell edges marked by ``is_edge``.

    A cell runs between consecutive edges; with one node inside (its middle)
    it is a Simpson cell (weights ``h/6, 4h/6, h/6``), with none a trapezoid
    cell (``h/2, h/2``). The first and last nodes must be edges.

    Example
    -------
    >>> simpson_weights(np.array([0.0, 0.25, 0.5, 1.0]), np.array([True, False, True, True])).tolist()
    [0.08333333333333333, 0.3333333333333333, 0.3333333333333333, 0.25]
    """
    w = np.zeros(len(alphas))
    edges = np.flatnonzero(is_edge)
    for i, j in zip(edges[:-1], edges[1:]):
        h = alphas[j] - alphas[i]
        if j - i == 2:
            w[i] += h / 6
            w[i + 1] += 4 * h / 6
            w[j] += h / 6
        elif j - i == 1:
            w[i] += h / 2
            w[j] += h / 2
        else:  # pragma: no cover - the refinement never builds such cells
            raise ValueError("a cell holds more than one inner node")
    return w


class AdaptiveSimpson:
    """Composite Simpson rule on one path, refined where its known cell errors are largest.

    Start: :attr:`START_CELLS` equal Simpson cells (both path ends are
    nodes). Each round bisects the cells with the largest ``|error|``
    (summed over outputs), two new nodes per cell, the old nodes kept (no
    pass is wasted), until ``steps`` nodes; an odd leftover node splits the
    worst cell into a Simpson half and a trapezoid half. A cell's error is
    ``h/6 (g(a) + 4 g(m) + g(c)) - (f(c) - f(a))``: exact, from ``f`` and
    ``g = df/dalpha`` at the nodes (both come out of each gradient pass).

    Use: ``nodes = rule.first()``; evaluate; ``rule.tell(nodes, f, g)``;
    ``nodes = rule.next()`` until it is empty; then ``rule.weights()``.

    Parameters
    ----------
    steps : int >= 1
        Nodes in all. ``1``: the midpoint; ``2``: the trapezoid on ``{0, 1}``.
    round_fraction : float
        Share of the cells bisected per round (at least one): larger rounds
        batch more points per pass, smaller ones follow the errors closer.

    Example
    -------
    >>> f = lambda a: a ** 4
    >>> rule = AdaptiveSimpson(9)
    >>> nodes = rule.first()
    >>> while len(nodes):
    ...     rule.tell(nodes, f(nodes), 4 * nodes ** 3)
    ...     nodes = rule.next()
    >>> a, w = rule.weights()
    >>> round(float(w @ (4 * a ** 3)), 3)
    1.0
    """

    START_CELLS = 4

    def __init__(self, steps: int, round_fraction: float = 0.25) -> None:
        self.steps = int(steps)
        self.round_fraction = float(round_fraction)
        self.alphas = np.zeros(0)
        self.f = np.zeros((0, 1))
        self.g = np.zeros((0, 1))
        self.is_edge = np.zeros(0, dtype=bool)
        self._pending = np.zeros(0)
        self._pending_edge = np.zeros(0, dtype=bool)

    # ------------------------------------------------------------ rounds
    def first(self) -> np.ndarray:
        """The first round's nodes."""
        s = self.steps
        if s == 1:
            a, e = np.array([0.5]), np.array([False])
        elif s == 2:
            a, e = np.array([0.0, 1.0]), np.array([True, True])
        else:
            k = min(self.START_CELLS, (s - 1) // 2)
            a = np.linspace(0.0, 1.0, 2 * k + 1)
            e = np.arange(2 * k + 1) % 2 == 0
        self._pending, self._pending_edge = a, e
        return a

    def tell(self, alphas: np.ndarray, f: np.ndarray, g: np.ndarray) -> None:
        """Record ``f`` and ``g`` ``(M,)`` or ``(M, T)`` at the nodes last asked for."""
        alphas = np.asarray(alphas, dtype=np.float64)
        if alphas.shape != self._pending.shape or not np.array_equal(alphas, self._pending):
            raise ValueError("tell() expects the nodes that first()/next() returned, in that order")
        f = np.asarray(f, dtype=np.float64).reshape(len(alphas), -1)
        g = np.asarray(g, dtype=np.float64).reshape(len(alphas), -1)
        a = np.concatenate([self.alphas, alphas])
        order = np.argsort(a, kind="stable")
        self.alphas = a[order]
        self.f = np.concatenate([self.f.reshape(-1, f.shape[1]), f])[order]
        self.g = np.concatenate([self.g.reshape(-1, g.shape[1]), g])[order]
        self.is_edge = np.concatenate([self.is_edge, self._pending_edge])[order]
        self._pending = np.zeros(0)
        self._pending_edge = np.zeros(0, dtype=bool)

    def cell_errors(self) -> np.ndarray:
        """``(cells, T)``: each cell's rule minus its exact integral ``f(c) - f(a)``."""
        edges = np.flatnonzero(self.is_edge)
        out = []
        for i, j in zip(edges[:-1], edges[1:]):
            h = self.alphas[j] - self.alphas[i]
            if j - i == 2:
                ww = np.array([h / 6, 4 * h / 6, h / 6])
            else:
                ww = np.array([h / 2, h / 2])
            out.append(ww @ self.g[i : j + 1] - (self.f[j] - self.f[i]))
        return np.array(out).reshape(len(out), -1)

    def next(self) -> np.ndarray:
        """The next round's nodes (empty when the rule has ``steps`` nodes or cannot refine)."""
        left = self.steps - len(self.alphas)
        if left <= 0 or self.steps < 3:
            return np.zeros(0)
        edges = np.flatnonzero(self.is_edge)
        simpson = [(i, j) for i, j in zip(edges[:-1], edges[1:]) if j - i == 2]
        err = np.abs(self.cell_errors()).sum(1)
        cells = [(i, j) for i, j in zip(edges[:-1], edges[1:])]
        ranked = [c for _, c in sorted(zip(-err, range(len(cells))))]
        ranked = [cells[c] for c in ranked if cells[c] in simpson]
        if not ranked:
            return np.zeros(0)
        a = self.alphas
        if left == 1:  # odd leftover: [a, m, c] -> Simpson [a, q, m] + trapezoid [m, c]
            i, j = ranked[0]
            new, edge = np.array([(a[i] + a[i + 1]) / 2]), np.array([False])
            self.is_edge[i + 1] = True
        else:
            r = max(1, math.ceil(self.round_fraction * len(cells)))
            r = min(r, left // 2, len(ranked))
            new, edge = [], []
            for i, j in ranked[:r]:
                new += [(a[i] + a[i + 1]) / 2, (a[i + 1] + a[j]) / 2]
                edge += [False, False]
                self.is_edge[i + 1] = True  # the old middle becomes the edge between the halves
            new, edge = np.array(new), np.array(edge)
        self._pending, self._pending_edge = new, edge
        return new

    def weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Final sorted nodes and weights ``(steps,)``; the weights sum to 1."""
        if self.steps == 1:
            return self.alphas.copy(), np.ones(1)
        return self.alphas.copy(), simpson_weights(self.alphas, self.is_edge)
