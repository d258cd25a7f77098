"""Quadrature rules for path integrals over ``alpha`` in [0, 1] (integrated gradients).

Two kinds of rule:

* fixed rules (:func:`quadrature`): the same points and weights for every
  path — Gauss–Legendre and the Riemann rules, Captum's names;
* :class:`AdaptiveSimpson`: one path's points, placed where the rule's
  *known* error is largest. Integrated gradients integrates
  ``g(alpha) = d/dalpha f(b + alpha (x - b))``, whose integral over a cell
  ``[a, c]`` is ``f(c) - f(a)``: forward passes alone (about a third of the
  cost of a gradient pass) give it exactly and show where ``f`` bends, so
  the error of the rule on a cell, ``h/6 (g(a) + 4 g(m) + g(c)) - (f(c) -
  f(a))``, is computed (no estimate) from the passes made, and the cells'
  errors add up to the completeness residual.

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

__all__ = ["QUADRATURE_RULES", "IG_METHODS", "DEGREE", "quadrature", "simpson_weights", "AdaptiveSimpson"]

#: Fixed integration rules (Captum's names), see :func:`quadrature`.
QUADRATURE_RULES = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle")
#: Every ``method=`` integrated gradients accepts: the fixed rules and ``"adaptive"`` (:class:`AdaptiveSimpson`).
IG_METHODS = QUADRATURE_RULES + ("adaptive",)


def DEGREE(method: str, steps: int) -> int:  # noqa: N802 - a table, read like a constant
    """Highest polynomial degree ``method`` with ``steps`` points integrates exactly.

    Gauss–Legendre ``2 steps - 1``; midpoint and trapezoid 1; left/right 0;
    ``"adaptive"`` (composite Simpson on its own cells) 3 for odd ``steps >= 3``,
    else 1 (an even count leaves one trapezoid cell).
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
    """Composite Simpson rule on one path: cells placed from forward values, refined by exact cell errors.

    Integrated gradients integrates ``g(alpha) = d/dalpha f(b + alpha (x - b))``
    and, by the fundamental theorem, the integral of ``g`` over a cell
    ``[a, c]`` is ``f(c) - f(a)``: forward passes alone show where ``f`` bends,
    and every gradient pass returns ``f`` and ``g`` at its point. Phases:

    1. *probe* (forward passes only, about a third of the cost of a gradient
       pass): ``f`` on :attr:`START_CELLS` equal cells, then bisection of the
       cells where the secant slope changes most (``h`` times the slope
       changes at both ends), until ``probes`` points;
    2. *merge*: the probed grid is merged down to ``cells`` cells, dropping
       the edges where ``f`` strays least from the merged cell's secant; each
       cell gets gradient nodes at both ends and its middle (a Simpson cell,
       ``h/6, 4h/6, h/6``; neighbours share an end);
    3. *refine*: rounds that bisect the cells with the largest exact error
       ``h/6 (g(a) + 4 g(m) + g(c)) - (f(c) - f(a))`` (summed over outputs), two
       new nodes per cell, the old ones kept (no pass is wasted), until
       ``steps`` nodes; an odd leftover node splits the worst cell into a
       Simpson half and a trapezoid half.

    The cell errors add up to the completeness residual; every weight comes
    from the cells' widths (nothing is fitted to ``f``; they sum to 1).
    Simpson's rule has no error of order ``h^3`` where ``g`` is smooth (the
    midpoint rule does, of one sign where ``g`` curves one way), and the
    merged grid puts the cell edges where ``f`` bends (a ramp 1e-3 wide ends
    up with its edges in cells of width ~1e-6).

    Use: ``probe, grad = rule.ask()``; evaluate ``f`` at ``probe`` and ``f``,
    ``g`` at ``grad``; ``rule.tell(f_probe, f_grad, g_grad)``; repeat until
    both are empty; then ``rule.weights()``.

    Parameters
    ----------
    steps : int >= 1
        Gradient nodes in all. ``1``: the midpoint; ``2``: the trapezoid on
        ``{0, 1}``; below :attr:`MIN_PROBED` steps there are no probes (equal
        Simpson cells to start from).
    f0, f1 : array ``(T,)`` or float
        ``f`` at ``alpha = 0`` and ``1`` (the baseline and input scores).
    cells : int, optional
        Simpson cells after the merge (default :attr:`CELL_FRACTION` of ``steps``).
    probes : int, optional
        Forward-only points of phase 1 (default :attr:`PROBE_FRACTION` of ``steps``).
    round_fraction : float
        Share of the cells split per round (at least one): larger rounds
        batch more points per pass, smaller ones follow the errors closer.

    Example
    -------
    >>> f = lambda a: np.tanh(40 * (a - 0.3))
    >>> g = lambda a: 40 / np.cosh(40 * (a - 0.3)) ** 2
    >>> rule = AdaptiveSimpson(40, f(0.0), f(1.0))
    >>> probe, grad = rule.ask()
    >>> while len(probe) or len(grad):
    ...     rule.tell(f(probe), f(grad), g(grad))
    ...     probe, grad = rule.ask()
    >>> a, w = rule.weights()
    >>> bool(abs(w @ g(a) - (f(1.0) - f(0.0))) < 1e-4)
    True
    """

    START_CELLS = 8
    MIN_PROBED = 16
    CELL_FRACTION = 0.25
    PROBE_FRACTION = 0.5
    UNIFORM_CELLS = 4

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
        c0 = int(round(s * self.CELL_FRACTION)) if cells is None else int(cells)
        self.cells = max(2, min(c0, (s - 1) // 2))
        p = int(round(s * self.PROBE_FRACTION)) if probes is None else int(probes)
        self.probes = max(p, self.cells - 1, self.START_CELLS - 1) if s >= self.MIN_PROBED else 0
        self.grid = np.array([0.0, 1.0])  # phase 1: the probed grid and f there
        self.fgrid = np.stack([f0, f1])
        self.alphas = np.zeros(0)  # phases 2-3: sorted nodes, f and g there, cell edges
        self.f = np.zeros((0, f0.size))
        self.g = np.zeros((0, f0.size))
        self.is_edge = np.zeros(0, dtype=bool)
        self.asked = np.zeros(0)  # every node in the order asked for
        self.phase = "start"
        self.forward_points = 0
        self._probe = np.zeros(0)
        self._grad = np.zeros(0)
        self._grad_edge = np.zeros(0, dtype=bool)

    # ---------------------------------------------------------------- rounds
    def ask(self) -> tuple[np.ndarray, np.ndarray]:
        """The next round's forward-only points and gradient points (both empty: done)."""
        if len(self._probe) or len(self._grad):
            raise RuntimeError("ask() again before tell() for the last round")
        probe, grad, edge = np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool)
        s = self.steps
        if self.phase == "start" and s <= 2:
            grad, edge = (np.array([0.5]), np.array([False])) if s == 1 else (np.array([0.0, 1.0]), np.array([True, True]))
            self.phase = "done"
        elif self.phase == "start" and self.probes == 0:  # equal Simpson cells
            k = min(self.UNIFORM_CELLS, (s - 1) // 2)
            grad, edge = np.linspace(0.0, 1.0, 2 * k + 1), np.arange(2 * k + 1) % 2 == 0
            self.phase = "refine"
        elif self.phase == "start":
            probe, self.phase = np.arange(1, self.START_CELLS) / self.START_CELLS, "probe"
        elif self.phase == "probe" and len(self.grid) - 2 < self.probes:
            c = len(self.grid) - 1
            r = min(self.probes - (c - 1), max(1, math.ceil(self.round_fraction * c)))
            pick = np.sort(self._top(self._slope_changes(), r))
            probe = (self.grid[pick] + self.grid[pick + 1]) / 2
        elif self.phase == "probe":
            e = self.grid[self._merge(self.cells)]
            grad = np.sort(np.concatenate([e, (e[:-1] + e[1:]) / 2]))
            edge = np.isin(grad, e)
            self.phase = "refine"
        elif self.phase == "refine":
            grad, edge = self._refine()
        self._probe, self._grad, self._grad_edge = probe, grad, edge
        self.forward_points += len(probe)
        return probe.copy(), grad.copy()

    def tell(self, f_probe: Any, f_grad: Any, g_grad: Any) -> None:
        """Record ``f`` at the last probe points, and ``f`` and ``g = df/dalpha`` at the last gradient
        points; each ``(M,)`` or ``(M, T)``."""
        t = self.fgrid.shape[1]
        if len(self._probe):
            fp = np.asarray(f_probe, dtype=np.float64).reshape(len(self._probe), t)
            a = np.concatenate([self.grid, self._probe])
            order = np.argsort(a, kind="stable")
            self.grid, self.fgrid = a[order], np.concatenate([self.fgrid, fp])[order]
        if len(self._grad):
            fg = np.asarray(f_grad, dtype=np.float64).reshape(len(self._grad), t)
            gg = np.asarray(g_grad, dtype=np.float64).reshape(len(self._grad), t)
            self.asked = np.concatenate([self.asked, self._grad])
            a = np.concatenate([self.alphas, self._grad])
            order = np.argsort(a, kind="stable")
            self.alphas = a[order]
            self.f = np.concatenate([self.f, fg])[order]
            self.g = np.concatenate([self.g, gg])[order]
            self.is_edge = np.concatenate([self.is_edge, self._grad_edge])[order]
        self._probe, self._grad = np.zeros(0), np.zeros(0)
        self._grad_edge = np.zeros(0, dtype=bool)

    def _refine(self) -> tuple[np.ndarray, np.ndarray]:
        left = self.steps - len(self.alphas)
        none = (np.zeros(0), np.zeros(0, dtype=bool))
        if left <= 0:
            return none
        edges = np.flatnonzero(self.is_edge)
        cells = list(zip(edges[:-1], edges[1:]))
        err = np.abs(self.cell_errors()).sum(1)
        ranked = [cells[k] for k in self._top(err, len(cells)) if cells[k][1] - cells[k][0] == 2]
        if not ranked:
            return none
        a = self.alphas
        if left == 1:  # odd leftover: [a, m, c] -> Simpson [a, q, m] + trapezoid [m, c]
            i, _ = ranked[0]
            self.is_edge[i + 1] = True
            return np.array([(a[i] + a[i + 1]) / 2]), np.array([False])
        r = min(left // 2, len(ranked), max(1, math.ceil(self.round_fraction * len(cells))))
        new = []
        for i, j in sorted(ranked[:r]):
            new += [(a[i] + a[i + 1]) / 2, (a[i + 1] + a[j]) / 2]
            self.is_edge[i + 1] = True  # the old middle becomes the edge between the halves
        return np.array(new), np.zeros(len(new), dtype=bool)

    # --------------------------------------------------------------- errors
    @staticmethod
    def _top(score: np.ndarray, r: int) -> np.ndarray:
        """Indices of the ``r`` largest scores (ties: the earlier cell), deterministic."""
        return np.argsort(-score, kind="stable")[:r]

    def _slope_changes(self) -> np.ndarray:
        """Per probed cell: ``h`` times the change of the secant slope at its two ends (summed over outputs)."""
        h = np.diff(self.grid)
        slope = np.diff(self.fgrid, axis=0) / h[:, None]
        jump = np.abs(np.diff(slope, axis=0)).sum(1)  # at the inner grid points
        pad = np.concatenate([[0.0], jump, [0.0]])
        return h * (pad[:-1] + pad[1:])

    def _merge(self, cells: int) -> np.ndarray:
        """Indices of the grid points that bound ``cells`` cells: neighbouring cells merged, greedily,
        where ``f`` at the points between them strays least from the merged cell's secant."""
        a, f = self.grid, self.fgrid
        keep = list(range(len(a)))

        def cost(i: int, j: int) -> float:  # the cell a[i]..a[j]: largest distance of inner f from its secant
            if j - i < 2:
                return 0.0
            t = (a[i + 1 : j] - a[i]) / (a[j] - a[i])
            line = f[i] + t[:, None] * (f[j] - f[i])
            return float(np.abs(f[i + 1 : j] - line).sum(1).max())

        costs = [cost(keep[k - 1], keep[k + 1]) for k in range(1, len(keep) - 1)]
        while len(keep) - 1 > cells:
            k = int(np.argmin(costs)) + 1  # drop the grid point keep[k]; ties go to the earliest
            del keep[k]
            del costs[k - 1]
            for q in (k - 1, k):  # the costs of dropping the neighbours changed
                if 1 <= q < len(keep) - 1:
                    costs[q - 1] = cost(keep[q - 1], keep[q + 1])
        return np.array(keep)

    def cell_errors(self) -> np.ndarray:
        """``(cells, T)``: each cell's rule minus its exact integral ``f(c) - f(a)``."""
        edges = np.flatnonzero(self.is_edge)
        out = []
        for i, j in zip(edges[:-1], edges[1:]):
            h = self.alphas[j] - self.alphas[i]
            ww = np.array([h / 6, 4 * h / 6, h / 6]) if j - i == 2 else np.array([h / 2, h / 2])
            out.append(ww @ self.g[i : j + 1] - (self.f[j] - self.f[i]))
        return np.array(out).reshape(len(out), -1)

    def weights(self) -> tuple[np.ndarray, np.ndarray]:
        """The gradient nodes in the order asked for, and their weights (summing to 1)."""
        if self.steps == 1:
            return self.asked.copy(), np.ones(1)
        w = simpson_weights(self.alphas, self.is_edge)
        return self.asked.copy(), w[np.searchsorted(self.alphas, self.asked)]
