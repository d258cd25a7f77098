"""Deletion and insertion curves: does removing what an attribution ranks first change the score?

The input's *units* (pixels, tokens, tabular features or groups of them) are
ranked by their **signed** attribution, largest first. *Deletion* sets the
top-ranked units to a baseline in ``steps`` equal fractions and records the
target score after each step (a faithful map makes it fall fast: a low area
under the curve). *Insertion* starts from the baseline and reveals the units
in the same order (a faithful map makes the score rise fast: a high area).
The same curves for random orders (seeded) are the reference a map has to
beat (Petsiuk et al. 2018, "RISE"; Samek et al. 2017).

Units
-----
* inputs ``(N, C, H, W)`` (float): by default a unit is a **pixel**, all
  ``C`` channels at ``(h, w)``, scored by the sum of its channels' values;
  ``groups="elements"`` ranks every element on its own.
* other float inputs ``(N, ...)``: every element is a unit.
* integer token ids ``(N, T)``: a unit is a token; it is removed by
  replacing its id with ``baseline`` (an id: ``tokenizer.mask_token_id``
  or ``pad_token_id``; the default 0 is BERT's ``[PAD]``). Extra model
  inputs in ``forward_kwargs`` (``attention_mask``) pass through unchanged.
* ``groups=`` (a label map broadcastable to one row, index lists, a dict,
  as the Shapley kernels take them; e.g. ``superpixel_groups(image)`` or
  ``word_groups(enc.word_ids())``): each group is one unit, scored by the
  sum of its members' values (for a grouped SHAP attribution that is the
  group's Shapley value).

Attribution shapes accepted: the input's shape; for ``(N, C, H, W)`` inputs
also a map ``(N, H, W)`` or ``(N, 1, H, W)`` shared by the channels
(Grad-CAM); for token ids ``(N, T)`` also ``(N, T, D)`` (an attribution to
the embeddings, ``layer=``), summed over ``D`` per token; a ``target="all"``
attribution ``(N, K, ...)`` with ``target=`` choosing the output per row.
Anything else (another layer's activations, tuple inputs) is rejected: the
curve perturbs the inputs, so the ranking must be over input units.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Sequence, Union

import numpy as np
import torch
from torch import nn

from ..attribution import Attribution
from ._core import (
    OutputFn,
    Target,
    as_batch,
    check_forward_kwargs,
    check_model,
    check_output_names,
    check_positive_int,
    chunk_ranges,
    default_chunk,
    gather,
    model_as_found,
    model_call_error,
    normal_tensor,
    repeat_kwargs,
    resolve_output_names,
    resolve_target,
    to_scores,
)
from ._progress import progress
from .gradients import _baseline
from .shapley._groups import Groups, parse_groups

__all__ = ["faithfulness", "Faithfulness", "step_counts"]

KINDS = ("deletion", "insertion")
#: A progress bar is shown only when a run has at least this many chunks.
PROGRESS_MIN_CHUNKS = 8

AttributionLike = Union[Attribution, torch.Tensor, np.ndarray]


@dataclass(frozen=True, eq=False)
class Faithfulness:
    """Deletion or insertion curves for a batch.

    Attributes
    ----------
    kind : str
        ``"deletion"`` or ``"insertion"``.
    curve : ndarray ``(N, steps + 1)``
        Target score after each step, in the attribution's order; step 0 is
        the input untouched (deletion) or the baseline (insertion).
    auc : ndarray ``(N,)``
        Mean of ``curve`` over its ``steps + 1`` points (the area under the
        curve on a [0, 1] fraction axis, by the rectangle rule). Deletion:
        lower is better; insertion: higher is better.
    random_curve : ndarray ``(N, steps + 1)`` or None
        The same curve for random orders, averaged over ``seeds``.
    random_auc : ndarray ``(N,)`` or None
        Mean of ``random_curve`` (None with ``seeds=0``).
    fractions : ndarray ``(steps + 1,)``
        Fraction of units removed (deletion) or revealed (insertion) at each
        step: ``counts / units``.
    counts : ndarray ``(steps + 1,)``
        Units removed/revealed at each step (see :func:`step_counts`).
    steps : int
    units : int
        Units per row (pixels, elements, tokens or groups).
    unit : str
        What a unit is: ``"pixel"``, ``"element"``, ``"token"`` or ``"group"``.
    target : ndarray ``(N,)``
        Output index scored per row.
    seeds : tuple of int
        Seeds of the random orders.
    output_names : list of str or None
    """

    kind: str
    curve: np.ndarray
    auc: np.ndarray
    random_curve: np.ndarray | None
    random_auc: np.ndarray | None
    fractions: np.ndarray
    counts: np.ndarray
    steps: int
    units: int
    unit: str
    target: np.ndarray
    seeds: tuple
    output_names: list | None = None

    @property
    def better_than_random(self) -> np.ndarray | None:
        """Per row: the map's order beats the random orders (deletion: lower AUC; insertion: higher)."""
        if self.random_auc is None:
            return None
        return self.auc < self.random_auc if self.kind == "deletion" else self.auc > self.random_auc

    def __len__(self) -> int:
        return int(self.curve.shape[0])

    def __repr__(self) -> str:
        def arr(a: np.ndarray) -> str:
            vals = ", ".join(f"{float(v):.4g}" for v in a[:6])
            return f"[{vals}{', ...' if a.size > 6 else ''}]"

        parts = [
            f"kind={self.kind!r}", f"rows={len(self)}", f"steps={self.steps}",
            f"units={self.units} {self.unit}{'s' if self.units != 1 else ''}",
            f"auc={arr(self.auc)}",
        ]
        if self.random_auc is not None:
            parts.append(f"random_auc={arr(self.random_auc)}")
            better = self.better_than_random
            parts.append(f"better_than_random={int(better.sum())}/{better.size}")
        return f"Faithfulness({', '.join(parts)})"


def step_counts(units: int, steps: int) -> np.ndarray:
    """Units removed (or revealed) after each of ``steps`` equal fractions → ``(steps + 1,)`` ints.

    ``counts[s] = floor(s * units / steps + 1/2)`` (round half up, in exact
    integer arithmetic): 0 at step 0, ``units`` at the last step. When
    ``steps`` does not divide ``units`` the steps differ by one unit; with
    ``steps > units`` some steps repeat a count (their points are equal).

    >>> step_counts(6, 4).tolist()
    [0, 2, 3, 5, 6]
    """
    s = np.arange(steps + 1, dtype=np.int64)
    return (2 * s * units + steps) // (2 * steps)


# ------------------------------------------------------------------ checks
def _check_kind(kind: Any) -> str:
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}; got {kind!r}")
    return kind


def _check_seeds(seeds: Any) -> tuple[int, ...]:
    if isinstance(seeds, (bool, np.bool_)):
        raise TypeError(f"seeds must be an int (how many random orders) or a list of int seeds, got {seeds!r}")
    if isinstance(seeds, numbers.Integral):
        if seeds < 0:
            raise ValueError(f"seeds must be >= 0 (0: no random reference), got {seeds}")
        return tuple(range(int(seeds)))
    if isinstance(seeds, (list, tuple)) and all(
        isinstance(s, numbers.Integral) and not isinstance(s, (bool, np.bool_)) for s in seeds
    ):
        return tuple(int(s) for s in seeds)
    raise TypeError(f"seeds must be an int (how many random orders) or a list of int seeds, got {seeds!r}")


def _values_of(attribution: Any) -> tuple[np.ndarray, Attribution | None]:
    if isinstance(attribution, tuple):
        raise TypeError(
            f"attribution is a tuple of {len(attribution)} (a multi-input attribution); faithfulness perturbs "
            "one input tensor: pass one Attribution and its input"
        )
    if isinstance(attribution, Attribution):
        return np.asarray(attribution.values), attribution
    if isinstance(attribution, torch.Tensor):
        return attribution.detach().cpu().double().numpy(), None
    if isinstance(attribution, np.ndarray):
        if not np.issubdtype(attribution.dtype, np.number) or attribution.dtype == bool:
            raise TypeError(f"attribution values must be numeric, got dtype {attribution.dtype}")
        return attribution, None
    raise TypeError(
        "attribution must be an Attribution (from any kernel) or a tensor/array of values shaped like the "
        f"inputs; got {type(attribution).__name__}"
    )


def _is_all(attr: Attribution | None) -> bool:
    return attr is not None and attr.params.get("target") == "all"


def _unit_values(v: np.ndarray, x: torch.Tensor, all_k: int | None) -> tuple[np.ndarray, str]:
    """Bring the values ``(N, [K,] ...)`` to the input's shape ``(N, *R)``; say how they were read.

    Returns float64 values broadcast to ``x.shape`` (``(N, K, *R)`` when
    ``all_k``) and ``"input"``, ``"map"`` (a channel-shared spatial map) or
    ``"embedding"`` (token ids with a trailing embedding axis, summed).
    """
    n, r = int(x.shape[0]), tuple(x.shape[1:])
    lead = (n,) if all_k is None else (n, all_k)
    got = tuple(v.shape)
    if got[: len(lead)] != lead:
        want = f"({n}, {all_k}, ...) (a target='all' attribution)" if all_k else f"({n}, ...)"
        raise ValueError(f"attribution values have shape {got} but the inputs have {n} rows; expected {want}")
    tail = got[len(lead):]
    v = v.astype(np.float64, copy=False)
    if not np.isfinite(v).all():
        raise ValueError("attribution values contain NaN or inf")
    if tail == r:
        return v, "input"
    image = x.is_floating_point() and len(r) == 3
    if image and tail in (r[1:], (1,) + r[1:]):
        v = v.reshape(lead + (1,) + r[1:])
        return np.broadcast_to(v, lead + r), "map"
    if not x.is_floating_point() and tail[:-1] == r and len(tail) == len(r) + 1:
        return v.sum(-1), "embedding"
    accepted = [f"{(n, *r)} (the inputs' shape)"]
    if image:
        accepted.append(f"{(n, *r[1:])} or {(n, 1, *r[1:])} (a map shared by the channels)")
    if not x.is_floating_point():
        accepted.append(f"{(n, *r, 'D')} (an attribution to the token embeddings, summed over D)")
    raise ValueError(
        f"attribution values of shape {got} do not fit the inputs of shape {tuple(x.shape)}; faithfulness "
        f"ranks input units, so expected {' or '.join(accepted)}"
        + ("" if all_k is None else f" after the output axis of {all_k}")
        + ". An attribution to another layer's activations cannot be removed from the input"
    )


def _units(groups: Any, x: torch.Tensor) -> tuple[Groups, str]:
    r = tuple(x.shape[1:])
    image = x.is_floating_point() and len(r) == 3
    if isinstance(groups, str):
        if groups == "elements":
            return parse_groups(None, r), ("token" if not x.is_floating_point() else "element")
        if groups == "pixels":
            if not image:
                raise ValueError(f"groups='pixels' needs image inputs (N, C, H, W); got shape {tuple(x.shape)}")
            groups = None
        else:
            raise ValueError(
                f"groups must be None, 'pixels', 'elements', a label map, index lists or a dict; got {groups!r}"
            )
    if groups is None:
        if image:
            labels = np.arange(r[1] * r[2], dtype=np.int64).reshape(r[1:])
            g = parse_groups(labels, r)
            return Groups(g.labels, g.n, g.sizes, None, False), "pixel"
        return parse_groups(None, r), ("token" if not x.is_floating_point() else "element")
    return parse_groups(groups, r), "group"


# ------------------------------------------------------------------ kernel
def faithfulness(
    model: nn.Module,
    inputs: torch.Tensor | np.ndarray,
    attribution: AttributionLike,
    *,
    kind: str = "deletion",
    steps: int = 20,
    baseline: float | torch.Tensor | np.ndarray = 0.0,
    target: Target = None,
    groups: Any = None,
    seeds: int | Sequence[int] = 3,
    batch_size: int | None = None,
    output: OutputFn | None = None,
    forward_kwargs: dict | None = None,
    output_names: Sequence[str] | None = None,
) -> Faithfulness:
    """Deletion or insertion curve of the target score, units ranked by signed attribution.

    Parameters
    ----------
    model : nn.Module
        Returns scores ``(N, K)`` (or anything ``output`` maps to them).
    inputs : tensor ``(N, ...)``
        The explained inputs: floats, or integer token ids ``(N, T)``.
    attribution : Attribution, tensor or array
        Values shaped like ``inputs`` (see the module docstring for the
        other shapes accepted). A plain tensor/array needs ``target=``.
    kind : ``"deletion"`` or ``"insertion"``
        Deletion sets the top-ranked units to ``baseline``; insertion starts
        from ``baseline`` and puts them back.
    steps : int >= 1
        Equal fractions; ``step_counts(units, steps)`` units after each.
    baseline : number or tensor
        The "removed" value: a number, or a tensor broadcastable to one row
        (or with a batch axis of 1 or N). For token ids an integer id.
    target : None, int, class name or one per row
        Output scored; ``None``: ``attribution.target``. A ``target="all"``
        attribution needs it (it picks each row's map).
    groups : None, ``"pixels"``, ``"elements"``, label map, index lists or dict
        The units (default: pixels for ``(N, C, H, W)``, else elements).
    seeds : int or list of int
        Random orders for the reference curve: ``3`` means seeds 0, 1, 2;
        ``0`` skips it. Orders come from a ``torch.Generator`` per seed
        (global RNG untouched), one permutation per row in row order.
    batch_size : int, optional
        Perturbed rows per forward pass (default 16).
    output, forward_kwargs, output_names
        As for every kernel; batched ``forward_kwargs`` follow their rows.

    Returns
    -------
    Faithfulness
        ``curve`` ``(N, steps + 1)``, ``auc`` ``(N,)``, ``random_curve``,
        ``random_auc``, ``fractions``, ``counts``, ``target``, ...

    Notes
    -----
    Ties in the ranking keep the units' order (pixel ``h * W + w``, token
    index, group label order). Step 0 and the last step do not depend on
    the order, so they are evaluated once per row: a run costs
    ``N * (2 + (1 + len(seeds)) * (steps - 1))`` rows (fewer when a count
    repeats), in chunks of ``batch_size``, without gradients, the model in
    eval mode and left as found. Bad arguments raise before any forward
    pass, except a target out of range, found by one forward pass on one row.

    Example
    -------
    >>> a = xw.integrated_gradients(model, images)                       # doctest: +SKIP
    >>> d = xw.faithfulness(model, images, a, kind="deletion", steps=20)  # doctest: +SKIP
    >>> d.auc, d.random_auc                                              # doctest: +SKIP
    """
    # ------------------------------------------------------- cheap checks
    model = check_model(model)
    kind = _check_kind(kind)
    steps = check_positive_int(steps, "steps")
    seed_list = _check_seeds(seeds)
    if isinstance(inputs, (tuple, list)):
        raise TypeError(
            "faithfulness perturbs one input tensor (N, ...); for a model with several inputs pass the one "
            "the attribution is for as inputs= and the others through forward_kwargs"
        )
    x = as_batch(inputs, model, allow_int=True)
    n = int(x.shape[0])
    values, attr = _values_of(attribution)
    every = _is_all(attr)
    if every and target is None:
        raise ValueError(
            "the attribution covers every output (target='all'); pass target= (one class, or one per row) "
            "to choose which output's map to test"
        )
    if attr is None and target is None:
        raise ValueError(
            "attribution is a plain array, so the output it explains is not known; pass target= "
            "(an int, a class name or one per row)"
        )
    if attr is not None and not every and target is None and attr.target is None:
        raise ValueError("the attribution records no target; pass target= (an int, a class name or one per row)")
    k_all = int(values.shape[1]) if every and values.ndim >= 2 else None
    vals, _ = _unit_values(values, x, k_all)
    grp, unit = _units(groups, x)
    base = _baseline(baseline, x)
    kwargs = {k: normal_tensor(v) for k, v in check_forward_kwargs(forward_kwargs).items()}
    if output is not None and not callable(output):
        raise TypeError(f"output must be a callable mapping the model's output to (N, K) scores, got {output!r}")
    names_given = output_names if output_names is not None else (attr.output_names if attr is not None else None)
    names = resolve_output_names(model, names_given)
    device = x.device
    kwargs = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()}

    m = grp.n
    counts = step_counts(m, steps)
    labels = torch.as_tensor(grp.labels, device=device)
    n_orders = 1 + len(seed_list)
    # the evaluations: (row, order, count); the ends (count 0 or m) are the same for every order
    jobs: dict[tuple[int, int, int], int] = {}
    for i in range(n):
        for o in range(n_orders):
            for c in counts.tolist():
                key = (i, -1 if c in (0, m) else o, c)
                if key not in jobs:
                    jobs[key] = len(jobs)
    chunk = default_chunk(len(jobs) // n, batch_size)

    with model_as_found(model), torch.no_grad():
        # ------------------------ one forward pass on one row: output shape, target
        row0 = torch.zeros(1, dtype=torch.long, device=device)
        probe_x = x[:1] if kind == "deletion" else base[:1].expand_as(x[:1])
        try:
            raw = model(probe_x, **repeat_kwargs(kwargs, row0, n))
        except Exception as e:  # noqa: BLE001 - any failure of the user's model on well-formed input
            raise model_call_error(e, probe_x, full=x) from e
        probe = to_scores(raw, output, n=1)
        if probe.shape[0] != 1:
            raise ValueError(f"the model returned {probe.shape[0]} score rows for 1 input row")
        k = int(probe.shape[1])
        names = check_output_names(names, k, explicit=output_names is not None)
        if target is None:
            given = attr.target
        else:
            given = target
        tgt = resolve_target(given, probe.new_zeros(n, k), output_names=names)
        if isinstance(tgt, str):
            raise ValueError("target='all' is not supported: the curve follows one output per row")
        if every and k_all != k:
            raise ValueError(f"the target='all' attribution has {k_all} outputs but the model has {k}")
        tgt_cpu = tgt.cpu()

        # -------------------------------------------- rank units per order
        v = vals[np.arange(n), tgt_cpu.numpy()] if every else vals
        flat = torch.as_tensor(np.ascontiguousarray(v).reshape(n, -1), dtype=torch.float64)
        unit_scores = torch.zeros((n, m), dtype=torch.float64).index_add_(1, torch.as_tensor(grp.labels), flat)
        orders = [torch.as_tensor(np.argsort(-unit_scores.numpy(), axis=1, kind="stable"))]
        for s in seed_list:
            gen = torch.Generator(device="cpu")
            gen.manual_seed(int(s))
            orders.append(torch.stack([torch.randperm(m, generator=gen) for _ in range(n)]))
        # rank[i, o, u]: position of unit u in order o of row i; unit u is "moved" when rank < count
        ranks = torch.empty((n, n_orders, m), dtype=torch.long)
        pos = torch.arange(m).expand(n, m)
        for o, order in enumerate(orders):
            ranks[:, o].scatter_(1, order, pos)
        ranks = ranks.to(device)

        # ------------------------------------------- perturbed rows, chunked
        # the probe was row 0 with nothing removed (deletion) / nothing revealed (insertion)
        scores = torch.empty(len(jobs), dtype=torch.float64)
        first = jobs[(0, -1, 0)]
        scores[first] = gather(probe, tgt[:1]).double().cpu()
        keys = [key for key in jobs if key != (0, -1, 0)]
        r_shape = tuple(x.shape[1:])
        n_chunks = -(-len(keys) // chunk)
        with progress(total=n_chunks, desc=f"faithfulness ({kind})", unit="batch",
                      disable=n_chunks < PROGRESS_MIN_CHUNKS) as bar:
            for a, b in chunk_ranges(len(keys), chunk):
                sel = keys[a:b]
                rows = torch.tensor([key[0] for key in sel], device=device)
                ords = torch.tensor([max(key[1], 0) for key in sel], device=device)
                cnt = torch.tensor([key[2] for key in sel], device=device)
                moved = ranks[rows, ords] < cnt[:, None]  # (B, m) units removed / revealed
                mask = moved[:, labels].view((b - a,) + r_shape)
                xb = x.index_select(0, rows)
                bb = base if base.shape[0] == 1 else base.index_select(0, rows)
                pert = torch.where(mask, bb, xb) if kind == "deletion" else torch.where(mask, xb, bb)
                out = to_scores(model(pert, **repeat_kwargs(kwargs, rows, n)), output, n=b - a)
                if out.shape != (b - a, k):
                    raise ValueError(
                        f"the model's scores have shape {tuple(out.shape)} for {b - a} rows, expected ({b - a}, {k})"
                    )
                at = torch.tensor([jobs[key] for key in sel])
                scores[at] = gather(out, tgt.index_select(0, rows)).detach().double().cpu()
                bar.update()

    curves = np.empty((n_orders, n, steps + 1))
    sc = scores.numpy()
    for i in range(n):
        for o in range(n_orders):
            for s, c in enumerate(counts.tolist()):
                curves[o, i, s] = sc[jobs[(i, -1 if c in (0, m) else o, c)]]
    random_curve = curves[1:].mean(0) if seed_list else None
    return Faithfulness(
        kind=kind,
        curve=curves[0],
        auc=curves[0].mean(1),
        random_curve=random_curve,
        random_auc=None if random_curve is None else random_curve.mean(1),
        fractions=counts / m,
        counts=counts,
        steps=steps,
        units=m,
        unit=unit,
        target=tgt_cpu.numpy(),
        seeds=seed_list,
        output_names=names,
    )
