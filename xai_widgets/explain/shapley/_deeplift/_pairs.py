"""DeepLIFT multipliers on paired batches.

Inside :func:`~xai_widgets.explain.shapley.deep_shap` every tensor that
carries the input signal holds two halves along its first axis: the rows
for the explained inputs, then (in the same order) the rows for their
references. ``Δt`` is first half minus second half.

Each primitive returns a tensor whose *value* is the op's exact output and
whose *gradient* (through ordinary autograd) is a linear map ``M`` with
``Δout = M Δin`` exactly (up to rounding): the rescale rule for one-input
elementwise ops, a Shapley split for bilinear ops, and a routing rule for
max. Chaining them with the exact gradients of linear ops gives DeepLIFT
multipliers whose sum reproduces ``f(x) - f(ref)`` by construction
("summation to delta").

The trick used throughout: ``y.detach() + M * (u - u.detach())`` has the
value ``y`` and the gradient ``M`` with respect to ``u``.
"""
from __future__ import annotations

from typing import Callable

import torch

__all__ = ["pair_mean", "rescale", "bilinear", "scaled_product", "route_max", "RESCALE_TOL"]

#: ``|Δu| <= RESCALE_TOL * (|u_x| + |u_r|)`` counts as "no change": the
#: multiplier is then the derivative at the midpoint (exact to ``O(Δu²)``).
RESCALE_TOL = 1e-10


def _halves(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    h = t.shape[0] // 2
    return t[:h], t[h:]


def pair_mean(t: torch.Tensor) -> torch.Tensor:
    """``(t_x + t_r) / 2``, the same value on both halves (detached)."""
    a, b = _halves(t.detach())
    m = (a + b) / 2
    return torch.cat([m, m])


def _straight(y: torch.Tensor, m: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Value ``y``, gradient ``m`` (elementwise) with respect to ``u``."""
    finite = torch.isfinite(u)
    if bool(finite.all()):
        return y.detach() + m * (u - u.detach())
    uf = torch.where(finite, u, torch.zeros((), dtype=u.dtype, device=u.device))
    m = torch.where(finite, m, torch.zeros((), dtype=m.dtype, device=m.device))
    return y.detach() + m * (uf - uf.detach())


def rescale(u: torch.Tensor, y: torch.Tensor, g: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Rescale rule for an elementwise ``y = g(u)``: multiplier ``Δy / Δu``.

    Where ``|Δu|`` is negligible (see :data:`RESCALE_TOL`) the multiplier is
    ``g'`` at the midpoint of the pair. Non-finite entries (``-inf`` from
    attention masks) get multiplier 0.
    """
    if y.shape != u.shape:
        u = u.expand_as(y)
    ux, ur = _halves(u.detach())
    yx, yr = _halves(y.detach())
    du, dy = ux - ur, yx - yr
    small = du.abs() <= RESCALE_TOL * (ux.abs() + ur.abs())
    small |= ~torch.isfinite(du)
    one = torch.ones((), dtype=du.dtype, device=du.device)
    m = dy / torch.where(small, one, du)
    if bool(small.any()):
        mid = ((ux + ur) / 2).requires_grad_()
        with torch.enable_grad():
            (d,) = torch.autograd.grad(g(mid).sum(), mid, allow_unused=True)
        d = torch.zeros_like(mid) if d is None else d.detach()
        m = torch.where(small, d, m)
    m = torch.nan_to_num(m, nan=0.0, posinf=0.0, neginf=0.0)
    return _straight(y, torch.cat([m, m]), u)


def bilinear(op: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], a: torch.Tensor, b: torch.Tensor,
             y: torch.Tensor | None = None) -> torch.Tensor:
    """Shapley split for a bilinear ``op(a, b)`` (product, matmul, ...) of two signals.

    ``Δop = op(Δa, b̄) + op(ā, Δb)`` with ``ā = (a_x + a_r) / 2`` holds
    exactly for every bilinear op, and is the two-player Shapley value.
    """
    if y is None:
        y = op(a, b)
    abar, bbar = pair_mean(a), pair_mean(b)
    return y.detach() + op(a - a.detach(), bbar) + op(abar, b - b.detach())


def scaled_product(c: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """``c * r`` for a signal ``c`` and a positive scale ``r`` (``1/σ`` of a normalisation), both paired.

    Every ``λ`` in [0, 1] gives an exact split
    ``Δ(c r) = (λ r_x + (1-λ) r_r) Δc + (λ c_r + (1-λ) c_x) Δr``; ``λ = 1/2``
    is the Shapley split. With ``λ = r_r² / (r_x² + r_r²)`` (``= σ_x² /
    (σ_x² + σ_r²)``) the split is the Shapley one when both sides have the
    same spread and stays bounded when one side is nearly constant (a zero
    reference through LayerNorm: ``σ_r → 0``, ``r_r → 1/sqrt(eps)``), where
    the symmetric split would add and cancel terms of size ``r_r``.
    """
    y = c * r
    cx, cr = _halves(c.detach())
    rx, rr = _halves(r.detach())
    lam = rr * rr / (rx * rx + rr * rr)
    a = lam * rx + (1 - lam) * rr  # coefficient of Δc
    b = lam * cr + (1 - lam) * cx  # coefficient of Δr
    return y.detach() + torch.cat([a, a]) * (c - c.detach()) + torch.cat([b, b]) * (r - r.detach())


def route_max(out: torch.Tensor, idx: torch.Tensor, take: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Max-type op: ``out`` (both halves) attained at ``idx`` (both halves).

    Each output's change goes to one input position: the input's argmax when
    ``out_x >= out_r``, else the reference's argmax. With ``Δu`` read at that
    position, ``Δout = m Δu`` for ``m = Δout / Δu`` in ``[0, 1]`` (when
    ``out_x >= out_r`` at the input's argmax ``j``: ``Δu_j = out_x - u_r[j] >=
    Δout >= 0``; symmetrically otherwise), so the rule is exact and never
    divides by a vanishing ``Δu`` unless ``Δout`` vanishes too.
    ``take(index)`` gathers the op's input at ``index`` (differentiably).
    """
    ox, orr = _halves(out.detach())
    ix, ir = _halves(idx)
    sel = torch.where(ox >= orr, ix, ir)
    g = take(torch.cat([sel, sel]))
    gx, gr = _halves(g.detach())
    dsel, dout = gx - gr, ox - orr
    zero = dsel == 0
    m = torch.where(zero, torch.zeros_like(dout), dout / torch.where(zero, torch.ones_like(dsel), dsel))
    return _straight(out, torch.cat([m, m]), g)
