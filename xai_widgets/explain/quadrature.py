"""Quadrature rules for path integrals over ``alpha`` in [0, 1] (integrated gradients).

Two kinds of rule:

* fixed rules (:func:`quadrature`): the same points and weights for every
  path — Gauss–Legendre and the Riemann rules, Captum's names;
* :class:`AdaptiveMidpoint`: one path's points, placed where the rule's
  *known* error is largest. Integrated gradients integrates
  ``g(alpha) = d/dalpha f(b + alpha (x - b))``, whose integral over a cell
  ``[a, c]`` is ``f(c) - f(a)``: forward passes alone (about a third of the
  cost of a gradient pass) give it exactly, so the error of the rule on a
  cell, ``h g(m) - (f(c) - f(a))``, is computed (no estimate) from the
  passes made, and the cells' errors add up to the completeness residual.

This module is numbers only (numpy): the kernels evaluate the model.

Example
-------
>>> a, w = quadrature("gausslegendre", 3)
>>> float(w.sum()), bool(((a > 0) & (a < 1)).all())
(1.0, True)
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["QUADRATURE_RULES", "DEGREE", "quadrature", "AdaptiveMidpoint"]

#: Fixed integration rules (Captum's names), see :func:`quadrature`.
QUADRATURE_RULES = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle")


def DEGREE(method: str, steps: int) -> int:  # noqa: N802 - a table, read like a constant
    """Highest polynomial degree ``method`` with ``steps`` points integrates exactly.

    Gauss–Legendre ``2 steps - 1``; midpoint and trapezoid 1; left/right 0;
    ``"adaptive"`` (composite midpoint on its own cells) 1.
    """
    if method == "gausslegendre":
        return 2 * steps - 1
    if method in ("riemann_middle", "riemann_trapezoid"):
        return 1
    if method in ("riemann_left", "riemann_right"):
        return 0
    if method == "adaptive":
        return 1
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
    ``"adaptive"`` places its points per path, see :class:`AdaptiveMidpoint`.

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


class AdaptiveMidpoint:
    """Composite midpoint rule on one path, its cells placed from forward values and exact cell errors.

    Integrated gradients integrates ``g(alpha) = d/dalpha f(b + alpha (x - b))``
    and, by the fundamental theorem, the integral of ``g`` over a cell
    ``[a, c]`` is ``f(c) - f(a)``: forward passes alone (no gradient) give
    every cell's exact share of ``f(x) - f(b)``. The rule has one gradient
    node at the middle ``m`` of each cell, weighted by its width ``h``; the
    cell's error ``h g(m) - (f(c) - f(a))`` is then known exactly, and the
    errors add up to the completeness residual. It runs in three phases:

    1. *probe* (forward passes only): ``f`` on :attr:`START_CELLS` equal
       cells, then bisection of the cells where the slope ``(f(c) - f(a)) / h``
       changes most from the neighbouring cells (``h`` times the slope
       changes at both ends), until there are ``cells`` cells;
    2. one gradient node at the middle of every cell (one batch);
    3. *refine*: rounds that split the cells with the largest ``|error|``
       (summed over outputs) into thirds, the old node staying the middle
       third's node (no pass is wasted): two new edges (forward passes) and
       two new nodes (gradient passes) per split, until ``steps`` nodes.

    A forward pass costs about a third of a forward+backward, so the probes
    are cheap; every weight is a cell's width (nothing is fitted to ``f``,
    the weights sum to 1 and the rule is exact for linear ``g``).

    Use: ``probe, grad = rule.ask()``; evaluate ``f`` at ``probe`` and ``f``,
    ``g`` at ``grad``; ``rule.tell(f_probe, g_grad)``; repeat until both are
    empty; then ``rule.weights()``.

    Parameters
    ----------
    steps : int >= 1
        Gradient nodes in all. With ``steps <= START_CELLS`` the rule is the
        uniform midpoint rule (no probes, one round).
    f0, f1 : array ``(T,)`` or float
        ``f`` at ``alpha = 0`` and ``1`` (the baseline and input scores).
    cells : int, optional
        Cells after the probe phase (default :attr:`CELL_FRACTION` of ``steps``);
        the remaining ``steps - cells`` nodes go to refinement (an odd one
        more goes to the probe phase).
    round_fraction : float
        Share of the cells split per round (at least one): larger rounds
        batch more points per pass, smaller ones follow the errors closer.

    Example
    -------
    >>> f = lambda a: np.tanh(40 * (a - 0.3))
    >>> g = lambda a: 40 / np.cosh(40 * (a - 0.3)) ** 2
    >>> rule = AdaptiveMidpoint(40, f(0.0), f(1.0))
    >>> probe, grad = rule.ask()
    >>> while len(probe) or len(grad):
    ...     rule.tell(f(probe), g(grad))
    ...     probe, grad = rule.ask()
    >>> a, w = rule.weights()
    >>> bool(abs(w @ g(a) - (f(1.0) - f(0.0))) < 1e-3 * 2)
    True
    """

    START_CELLS = 8
    CELL_FRACTION = 0.5
    PROBE_FRACTION = 1.0

    def __init__(
        self, steps: int, f0: Any, f1: Any, *, cells: int | None = None, probes: int | None = None,
        round_fraction: float = 0.1,
    ) -> None:
        self.steps = int(steps)
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        f0 = np.asarray(f0, dtype=np.float64).reshape(-1)
        f1 = np.asarray(f1, dtype=np.float64).reshape(-1)
        if f0.shape != f1.shape:
            raise ValueError(f"f0 and f1 need the same number of outputs, got {f0.shape} and {f1.shape}")
        self.round_fraction = float(round_fraction)
        s = self.steps
        if s <= self.START_CELLS:
            c0 = s
        else:
            c0 = int(round(s * self.CELL_FRACTION)) if cells is None else int(cells)
            c0 = min(s, max(self.START_CELLS, c0))
            c0 += (s - c0) % 2  # every split adds two nodes
        self.cells = c0
        p = int(round(s * self.PROBE_FRACTION)) if probes is None else int(probes)
        self.probes = max(p, c0 - 1, self.START_CELLS - 1)  # the forward-only points of phase 1
        self.edges = np.array([0.0, 1.0])
        self.fe = np.stack([f0, f1])  # (E, T): f at the edges
        self.nodes = np.zeros(0)  # every gradient node asked for, in order
        self.g = np.zeros((0, f0.size))
        self.node_of = np.zeros(0, dtype=int)  # per cell: index into nodes, -1 before phase 2
        self.phase = "start"
        self.probed = 0  # forward-only points of phase 1
        self.forward_points = 0  # all forward-only points asked for
        self._probe = np.zeros(0)
        self._grad = np.zeros(0)

    # ---------------------------------------------------------------- rounds
    def ask(self) -> tuple[np.ndarray, np.ndarray]:
        """The next round's forward-only points and gradient points (both empty: done)."""
        if len(self._probe) or len(self._grad):
            raise RuntimeError("ask() again before tell() for the last round")
        probe, grad = np.zeros(0), np.zeros(0)
        if self.phase == "start":
            k = min(self.START_CELLS, self.cells)
            if self.cells == self.steps and k == self.cells:  # nothing to place: the uniform midpoint rule
                self.edges = np.linspace(0.0, 1.0, k + 1)
                self.fe = np.full((k + 1, self.fe.shape[1]), np.nan)
                grad, self.phase = (np.arange(k) + 0.5) / k, "done"
            else:
                probe, self.phase = np.arange(1, k) / k, "probe"
        elif self.phase == "probe" and len(self.edges) - 2 < self.probes:
            c = len(self.edges) - 1
            r = min(self.probes - (c - 1), max(1, math.ceil(self.round_fraction * c)))
            pick = np.sort(self._top(self._slope_changes(), r))
            probe = (self.edges[pick] + self.edges[pick + 1]) / 2
        elif self.phase == "probe":
            self.probed = len(self.edges) - 2
            keep = self._merge(self.cells)
            self.edges, self.fe = self.edges[keep], self.fe[keep]
            grad, self.phase = (self.edges[:-1] + self.edges[1:]) / 2, "nodes"
        elif self.phase == "refine" and len(self.nodes) + 2 <= self.steps:
            c = len(self.edges) - 1
            r = min((self.steps - len(self.nodes)) // 2, max(1, math.ceil(self.round_fraction * c)))
            pick = np.sort(self._top(np.abs(self.cell_errors()).sum(1), r))
            a, h = self.edges[pick], np.diff(self.edges)[pick]
            probe = np.concatenate([a + h / 3, a + 2 * h / 3])
            grad = np.concatenate([a + h / 6, a + 5 * h / 6])
        self._probe, self._grad = probe, grad
        self.forward_points += len(probe)
        return probe.copy(), grad.copy()

    def tell(self, f_probe: Any, g_grad: Any) -> None:
        """Record ``f`` at the last probe points and ``g = df/dalpha`` at the last gradient points,
        each ``(M,)`` or ``(M, T)``."""
        t = self.fe.shape[1]
        fp = np.asarray(f_probe, dtype=np.float64).reshape(len(self._probe), t) if len(self._probe) else None
        gg = np.asarray(g_grad, dtype=np.float64).reshape(len(self._grad), t) if len(self._grad) else None
        if len(self._grad):
            first = len(self.nodes)
            self.nodes = np.concatenate([self.nodes, self._grad])
            self.g = np.concatenate([self.g, gg])
            if self.phase in ("nodes", "done"):  # one node per cell, in cell order
                self.node_of = first + np.arange(len(self._grad))
                self.phase = "refine" if self.phase == "nodes" else "done"
            else:  # refine: the split cells' outer thirds get the new nodes
                r = len(self._grad) // 2
                old_edges, old_nodes = self.edges, self.node_of
                left = first + np.arange(r)
                right = first + r + np.arange(r)
                cell_of_split = np.searchsorted(old_edges, self._probe[:r], side="right") - 1
                node_of = [[n] for n in old_nodes]
                for i, c in enumerate(cell_of_split):
                    node_of[c] = [left[i], old_nodes[c], right[i]]
                self.node_of = np.array([n for ns in node_of for n in ns])
        if len(self._probe):
            e = np.concatenate([self.edges, self._probe])
            order = np.argsort(e, kind="stable")
            self.edges = e[order]
            self.fe = np.concatenate([self.fe, fp])[order]
        self._probe, self._grad = np.zeros(0), np.zeros(0)

    # --------------------------------------------------------------- errors
    def _top(self, score: np.ndarray, r: int) -> np.ndarray:
        """Indices of the ``r`` largest scores (ties: the earlier cell), deterministic."""
        return np.argsort(-score, kind="stable")[:r]

    def _slope_changes(self) -> np.ndarray:
        """Per cell: ``h`` times the change of the secant slope at its two ends (summed over outputs)."""
        h = np.diff(self.edges)
        slope = np.diff(self.fe, axis=0) / h[:, None]
        jump = np.abs(np.diff(slope, axis=0)).sum(1)  # at the inner edges
        pad = np.concatenate([[0.0], jump, [0.0]])
        return h * (pad[:-1] + pad[1:])

    def _merge(self, cells: int) -> np.ndarray:
        """Indices of the probed edges that bound ``cells`` cells: adjacent cells merged, greedily, where
        ``f`` at the edges between them strays least from the merged cell's secant (summed over outputs)."""
        a, f = self.edges, self.fe
        keep = list(range(len(a)))

        def cost(i: int, j: int) -> float:  # the cell a[i]..a[j]: largest distance of inner f from its secant
            if j - i < 2:
                return 0.0
            t = (a[i + 1 : j] - a[i]) / (a[j] - a[i])
            line = f[i] + t[:, None] * (f[j] - f[i])
            return float(np.abs(f[i + 1 : j] - line).sum(1).max())

        costs = [cost(keep[k - 1], keep[k + 1]) for k in range(1, len(keep) - 1)]
        while len(keep) - 1 > cells:
            k = int(np.argmin(costs)) + 1  # drop edge keep[k]: ties go to the earliest
            del keep[k]
            del costs[k - 1]
            for q in (k - 1, k):  # the costs of dropping the neighbours changed
                if 1 <= q < len(keep) - 1:
                    costs[q - 1] = cost(keep[q - 1], keep[q + 1])
        return np.array(keep)

    def cell_errors(self) -> np.ndarray:
        """``(cells, T)``: each cell's ``h g(m)`` minus its exact integral ``f(c) - f(a)``."""
        if self.phase not in ("refine", "done") or np.isnan(self.fe).any():
            raise RuntimeError("cell errors need every cell's node and the f at every edge")
        h = np.diff(self.edges)
        return h[:, None] * self.g[self.node_of] - np.diff(self.fe, axis=0)

    def weights(self) -> tuple[np.ndarray, np.ndarray]:
        """The gradient nodes in the order asked for, and their weights (the cells' widths, summing to 1)."""
        w = np.zeros(len(self.nodes))
        w[self.node_of] = np.diff(self.edges)
        return self.nodes.copy(), w
