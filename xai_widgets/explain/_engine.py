"""The kernel engine every gradient-family kernel shares (and ``gradient_shap``, and the explorer).

:class:`Engine` holds the validated arguments of one run — model, inputs
(one part per input, or the layer's tensor with ``layer=``), forward
kwargs, ``output=``, ``batch_size`` — and the model calls built on them:

* :meth:`Engine.probe` — one forward on one row with gradients: learns the
  number of outputs K, checks there is a differentiable path, and turns a
  failure inside the model into a ``ValueError`` naming the input shapes;
* :meth:`Engine.evaluate` — scores for many rows, no gradients, in chunks;
* :meth:`Engine.path_grads` — weighted gradient sums along many paths of
  fixed points, chunked, only the current chunk's pairs in memory;
* :meth:`Engine.point_grads` — scores and gradients at given points (rules
  that pick their next points from the last ones);
* :meth:`Engine.point_scores` — scores alone at given points (their cheap probes);
* :func:`finish` — the :class:`~xai_widgets.Attribution` (or one per input).

Chunks hold at most ``batch_size`` rows; long runs show a progress bar
(:func:`~xai_widgets.explain._progress.progress`). The caller wraps the
work in :func:`~xai_widgets.explain._core.model_as_found`.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Sequence, Union

import numpy as np
import torch
from torch import nn

from ..attribution import Attribution
from ._cancel import check_cancelled
from ._core import (
    Target,
    as_batches,
    ceil_div,
    check_forward_kwargs,
    check_model,
    check_output_names,
    check_positive_int,
    chunk_ranges,
    default_chunk,
    gather,
    joint_delta,
    model_call_error,
    normal_tensor,
    repeat_kwargs,
    resolve_output_names,
    resolve_target,
    to_scores,
)
from ._layer import LayerTap
from ._progress import progress

__all__ = ["Engine", "Inputs", "Parts", "Result", "bar", "balanced", "check_bool", "check_choice", "finish", "pick", "widest"]

#: One tensor ``(N, ...)`` or a tuple of them (a model with several inputs).
Inputs = Union[torch.Tensor, Sequence[torch.Tensor]]
#: A single Attribution, or one per input for tuple inputs.
Result = Union[Attribution, tuple]
Parts = tuple  # tuple[torch.Tensor, ...]: one tensor per part of the attribution space
#: A progress bar is shown only when a run has more chunks than this.
PROGRESS_MIN_CHUNKS = 8


def bar(iterable: Iterable, total: int, desc: str) -> Iterable:
    # long runs only: more than PROGRESS_MIN_CHUNKS chunks, and still running after a second
    return progress(iterable, total=total, desc=desc, unit="batch", disable=total <= PROGRESS_MIN_CHUNKS)


def balanced(total: int, chunk: int) -> int:
    """Chunk size <= ``chunk`` that splits ``total`` rows into equal-ish chunks (no tiny last chunk)."""
    return ceil_div(total, ceil_div(total, chunk)) if total else chunk


def check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


class Engine:
    """Validated arguments plus the model calls every kernel shares.

    The attribution space has one *part* per input (no ``layer=``) or a
    single part, the layer's output (input with ``layer_input=True``); the
    methods below take and return tuples of parts.
    """

    def __init__(
        self,
        model: Any,
        inputs: Any,
        *,
        layer: Any,
        layer_input: Any = False,
        output: Any,
        forward_kwargs: Any,
        batch_size: Any,
        output_names: Any = None,
        inputs_name: str = "inputs",
    ) -> None:
        self.model = check_model(model)
        layer_input = check_bool(layer_input, "layer_input")
        if layer_input and layer is None:
            raise ValueError(
                "layer_input=True attributes to the input of a layer, but no layer= was given; pass "
                "layer=<the submodule> (without layer=, the attribution is to the model's inputs)"
            )
        self.tap = LayerTap(model, layer, layer_input=layer_input) if layer is not None else None
        self.xs, self.was_tuple = as_batches(inputs, model, name=inputs_name, allow_int=layer is not None)
        self.n = int(self.xs[0].shape[0])
        self.device = self.xs[0].device
        kwargs = check_forward_kwargs(forward_kwargs)
        self.fkw = {
            k: (normal_tensor(v).to(self.device) if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()
        }
        self.batched_kwargs = any(
            isinstance(v, torch.Tensor) and v.dim() >= 1 and v.shape[0] == self.n for v in self.fkw.values()
        )
        if output is not None and not callable(output):
            raise TypeError(f"output must be a function mapping the model's output to scores, got {type(output).__name__}")
        self.output = output
        self.batch_size = check_positive_int(batch_size, "batch_size", allow_none=True)
        self.names_explicit = output_names is not None
        self.output_names = resolve_output_names(model, output_names)
        self.k: int | None = None
        self.channels_last = wants_channels_last(model, self.xs)

    # ------------------------------------------------------------ chunks
    def split(self, call: Any, args: dict, *, per_row: int, client: Any, desc: str,
              row_args: Sequence[str] = ("inputs", "target", "forward_kwargs"),
              prepare: Callable[[dict], dict] | None = None) -> Result | None:
        """Run ``call`` (the public kernel, with ``args``) over row chunks, here or on ``client``.

        Returns None when the rows are one chunk and no client is given (the
        caller then runs as usual). ``per_row``: model rows (forward and
        backward) per explained row; ``row_args``: the arguments sliced per
        chunk; ``prepare(args)`` runs only when splitting (work done once for
        the whole batch, e.g. a baseline function). See
        :mod:`xai_widgets.explain.distributed`.
        """
        from .distributed import elements, plan_chunks, run_chunks

        chunks = plan_chunks(self.n, per_row=per_row, row_elements=elements(self.xs), batch_size=self.batch_size)
        if client is None and len(chunks) == 1:
            return None
        if prepare is not None:
            args = prepare(dict(args))
        return run_chunks(call, args, row_args=row_args, n=self.n, chunks=chunks, client=client, desc=desc)

    # ------------------------------------------------------------ calls
    @property
    def layer_name(self) -> str | None:
        return None if self.tap is None else self.tap.name

    @property
    def given(self) -> Any:
        """The validated inputs as the user passed them: one tensor or a tuple."""
        return self.xs if self.was_tuple else self.xs[0]

    def rows(self, a: int, b: int) -> torch.Tensor:
        return torch.arange(a, b, device=self.device)

    def inputs_at(self, rows: torch.Tensor) -> Parts:
        return tuple(x.index_select(0, rows) for x in self.xs)

    def call(self, inp: Parts, rows: torch.Tensor, *, probe: bool = False, **tap: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One forward pass on the inputs ``inp`` (rows ``rows`` of the batch) → scores ``(B, K)``.

        ``probe=True`` (the first call) turns an exception raised inside the
        model into a ``ValueError`` naming the input shapes.
        """
        kw = repeat_kwargs(self.fkw, rows, self.n) if self.batched_kwargs else self.fkw

        def forward() -> Any:
            if not probe:
                return self.model(*as_layout(inp, self.channels_last), **kw)
            if self.channels_last:
                try:
                    return self.model(*as_layout(inp, True), **kw)
                except Exception as e:  # noqa: BLE001 - e.g. .view() of a channels-last activation: plain layout
                    if self.tap is not None and e is self.tap.hook_error:
                        raise
                    self.channels_last = False
            try:
                return self.model(*inp, **kw)
            except Exception as e:  # noqa: BLE001 - any failure of the user's model on its first call
                if self.tap is not None and e is self.tap.hook_error:
                    raise
                raise model_call_error(e, inp if self.was_tuple else inp[0], full=self.given) from e

        if self.tap is None:
            out, z = forward(), None
        else:
            out, z = self.tap.run(forward, **tap)
        b = int(inp[0].shape[0])
        scores = to_scores(out, self.output, n=b)
        if scores.shape[0] != b:
            raise ValueError(
                f"the scores have {scores.shape[0]} rows for a batch of {b}; the model "
                "(or output=) must keep the batch axis first"
            )
        return scores, z

    def probe(self) -> tuple[torch.Tensor, Parts]:
        """Forward row 0 with gradient tracking: learn K, check there is a gradient path.

        Returns the scores ``(1, K)`` and the leaves (one per part) they depend on.
        """
        rows = self.rows(0, 1)
        first = tuple(x[:1] for x in self.xs)
        if self.tap is None:
            leaves = tuple(x.clone().requires_grad_() for x in first)
            scores, _ = self.call(leaves, rows, probe=True)
        else:
            scores, z = self.call(first, rows, probe=True, leaf=True)
            leaves = (z,)
        if not scores.is_floating_point() or not scores.requires_grad:
            if self.tap is not None:
                what = f"the {self.tap.what} of layer {self.tap.describe()}"
            else:
                what = "any of the inputs" if self.was_tuple else "the inputs"
            raise ValueError(
                f"the model's scores do not depend on {what} through a differentiable path, so there is "
                "no gradient to attribute; check that the model uses its input, that output= does not "
                "detach or round the scores, and that no step converts the input to integers"
            )
        if not torch.isfinite(scores.detach()).all():
            raise ValueError("the model returned NaN or inf scores for the first input row")
        self.k = int(scores.shape[1])
        self.output_names = check_output_names(self.output_names, self.k, self.names_explicit)
        return scores, leaves

    def check_target(self, target: Target) -> torch.Tensor | str | None:
        """Validate ``target`` against K (known after :meth:`probe`); ``None`` stays lazy."""
        if target is None:
            return None
        return resolve_target(target, torch.empty((self.n, self.k), device=self.device), self.output_names)

    def evaluate(
        self,
        inp: Parts,
        *,
        first: tuple[torch.Tensor, torch.Tensor | None] | None = None,
        capture: bool = False,
        replace: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Scores (and captured layer tensors) for every row of the inputs ``inp``, without gradients.

        ``first`` supplies row 0's results (from :meth:`probe`); ``replace``
        gives the layer's tensor per row.
        """
        m = int(inp[0].shape[0])
        chunk = balanced(m, default_chunk(m, self.batch_size))
        scores, zs = [], []
        start = 0
        if first is not None:
            scores.append(first[0].detach())
            if capture:
                zs.append(first[1].detach())
            start = 1
        with torch.no_grad():
            for a, b in chunk_ranges(m - start, chunk):
                a, b = a + start, b + start
                tap = {}
                if self.tap is not None:
                    tap = {"replace": replace[a:b]} if replace is not None else {"capture": capture}
                s, z = self.call(tuple(x[a:b].contiguous() for x in inp), self.rows(a, b), **tap)
                scores.append(s)
                if capture:
                    zs.append(z)
        s = torch.cat(scores) if len(scores) > 1 else scores[0]
        z = (torch.cat(zs) if len(zs) > 1 else zs[0]) if capture else None
        return s, z

    # ------------------------------------------------------- gradients
    @staticmethod
    def grads(scores: torch.Tensor, leaves: Parts, targets: list[torch.Tensor]) -> list[Parts]:
        """d scores[i, t[i]] / d leaf[i] per target vector and leaf (one forward, one backward each).

        A leaf the score does not depend on (an unused input) gets zeros.
        """
        out = []
        last = len(targets) - 1
        for i, t in enumerate(targets):
            gs = torch.autograd.grad(gather(scores, t).sum(), leaves, retain_graph=i < last, allow_unused=True)
            out.append(tuple(torch.zeros_like(l) if g is None else g for g, l in zip(gs, leaves)))
        return out

    def targets_for(self, spec: torch.Tensor | str, rows: torch.Tensor) -> list[torch.Tensor]:
        if isinstance(spec, str):  # "all"
            return [torch.full((rows.numel(),), k, dtype=torch.long, device=self.device) for k in range(self.k)]
        return [spec.index_select(0, rows)]

    def path_grads(
        self,
        *,
        n_pairs: int,
        steps: int,
        row_of: Callable[[torch.Tensor], torch.Tensor],
        point_of: Callable[[torch.Tensor, torch.Tensor], Parts],
        weights: torch.Tensor | None,
        spec: torch.Tensor | str,
        finalize: Callable[[int, int, Parts], None],
        desc: str,
        rows_per_input: int | None = None,
    ) -> None:
        """Weighted gradient sums along ``n_pairs`` paths of ``steps`` points each.

        Expanded row ``e = pair * steps + step`` is the point
        ``point_of(pair, step)`` in attribution space (a tuple, one tensor per
        part); its gradient (per target and part) times ``weights[step]`` (or
        ``weights[pair, step]`` for per-pair weights of shape ``(n_pairs,
        steps)``) is summed per pair. Rows run in chunks of ``batch_size``;
        whenever pairs are complete ``finalize(lo, hi, accs)`` receives their
        sums, one tensor ``(T, hi - lo, ...)`` per part. Only the pairs of the
        current chunk are held in memory. ``rows_per_input`` (default
        ``steps``) sets the default chunk size.
        """
        total = n_pairs * steps
        chunk = balanced(total, default_chunk(rows_per_input or steps, self.batch_size))
        carry: list[torch.Tensor] | None = None
        ranges = chunk_ranges(total, chunk)
        for e0, e1 in bar(ranges, ceil_div(total, chunk), desc):
            e = torch.arange(e0, e1, device=self.device)
            pair, step = e // steps, e % steps
            rows = row_of(pair)
            pts = tuple(p.detach().requires_grad_() for p in point_of(pair, step))
            if self.tap is None:
                scores, _ = self.call(pts, rows)
            else:
                scores, _ = self.call(self.inputs_at(rows), rows, replace=pts[0])
            tlist = self.targets_for(spec, rows)
            grads = self.grads(scores, pts, tlist)
            del scores, pts
            p_lo, p_hi = e0 // steps, (e1 - 1) // steps + 1
            local = pair - p_lo
            w = None
            if weights is not None:
                w = weights[pair, step] if weights.dim() == 2 else weights.index_select(0, step)
            accs = []
            for j in range(len(grads[0])):
                g0 = grads[0][j]
                acc = torch.zeros((len(tlist), p_hi - p_lo) + tuple(g0.shape[1:]), dtype=g0.dtype, device=self.device)
                if carry is not None:
                    acc[:, 0] += carry[j]
                wj = None if w is None else w.to(g0.dtype).view((-1,) + (1,) * (g0.dim() - 1))
                for t in range(len(tlist)):
                    g = grads[t][j]
                    acc[t].index_add_(0, local, g * wj if wj is not None else g)
                accs.append(acc)
            del grads
            done = e1 // steps
            if done > p_lo:
                finalize(p_lo, done, tuple(acc[:, : done - p_lo] for acc in accs))
            carry = [acc[:, done - p_lo].clone() for acc in accs] if done < p_hi else None

    def point_scores(self, pts: Parts, rows: torch.Tensor, spec: torch.Tensor | str) -> torch.Tensor:
        """Target scores ``(M, T)`` at the points ``pts`` (one tensor ``(M, ...)`` per part; row ``rows[i]``),
        forward passes only (no gradient), in chunks of at most ``batch_size`` points.

        The cheap probes of rules that place their gradient points from the
        scores along the path (a forward pass costs about a third of a
        forward+backward).
        """
        m = int(rows.numel())
        chunk = balanced(m, default_chunk(m, self.batch_size))
        out = []
        with torch.no_grad():
            for a, b in chunk_ranges(m, chunk):
                check_cancelled()  # probes tick no bar: a cancelled run stops between their chunks too
                r = rows[a:b]
                part = tuple(p[a:b] for p in pts)
                if self.tap is None:
                    s, _ = self.call(part, r)
                else:
                    s, _ = self.call(self.inputs_at(r), r, replace=part[0])
                out.append(torch.stack([gather(s, t) for t in self.targets_for(spec, r)], 1))
        return torch.cat(out)

    def point_grads(
        self, pts: Parts, rows: torch.Tensor, spec: torch.Tensor | str, *, tick: Any = None, desc: str = "gradients"
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Target scores and gradients at the points ``pts`` (one tensor ``(M, ...)`` per part; row ``rows[i]``).

        Returns ``scores`` ``(M, T)`` (the forward pass's target scores, T = 1
        or K for ``"all"``) and one gradient tensor ``(T, M, ...)`` per part,
        computed in chunks of at most ``batch_size`` points. ``tick``: a
        progress bar the caller owns (``update(points)`` after each chunk);
        without it the call shows its own.
        """
        m = int(rows.numel())
        chunk = balanced(m, default_chunk(m, self.batch_size))
        scores: list[torch.Tensor] = []
        grads: list[list[torch.Tensor]] = [[] for _ in pts]
        ranges = chunk_ranges(m, chunk)
        for a, b in (ranges if tick is not None else bar(ranges, ceil_div(m, chunk), desc)):
            r = rows[a:b]
            leaves = tuple(p[a:b].detach().clone().requires_grad_() for p in pts)
            if self.tap is None:
                s, _ = self.call(leaves, r)
            else:
                s, _ = self.call(self.inputs_at(r), r, replace=leaves[0])
            tlist = self.targets_for(spec, r)
            gs = self.grads(s, leaves, tlist)
            scores.append(torch.stack([gather(s, t) for t in tlist], 1).detach())
            for j in range(len(pts)):
                grads[j].append(torch.stack([g[j] for g in gs]))
            del s, leaves, gs
            if tick is not None:
                tick.update(b - a)
        return torch.cat(scores), [torch.cat(g, 1) for g in grads]



def wants_channels_last(model: nn.Module, xs: Parts) -> bool:
    """Whether to hand the model its 4-D float inputs in channels-last layout: on CPU, when it has 2-D
    convolutions (oneDNN's channels-last kernels: EfficientNet-Lite0's forward+backward is ~1.4x faster,
    depthwise convolutions most). The values are the same up to float rounding; the first call falls back
    to the plain layout if the model cannot take it (a ``.view`` of an activation)."""
    if os.environ.get("XAI_WIDGETS_CHANNELS_LAST", "1") == "0":
        return False
    if not any(x.dim() == 4 and x.is_floating_point() and x.device.type == "cpu" for x in xs):
        return False
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def as_layout(parts: Parts, channels_last: bool) -> Parts:
    """``parts`` with 4-D float tensors in channels-last layout when ``channels_last`` (differentiable)."""
    if not channels_last:
        return parts
    return tuple(p.contiguous(memory_format=torch.channels_last) if p.dim() == 4 and p.is_floating_point() else p
                 for p in parts)


def widest(parts: Parts) -> torch.dtype:
    """The most precise floating dtype among the parts: path points and weights are held in it
    (not always float64, which some devices lack), and cast to each part's own dtype."""
    return max((p.dtype for p in parts), key=lambda d: torch.finfo(d).bits)


def pick(scores: torch.Tensor, spec: torch.Tensor | str) -> torch.Tensor:
    """Scores for the target: ``(N,)``, or ``(N, K)`` for ``"all"``."""
    return scores if isinstance(spec, str) else gather(scores, spec)


def finish(
    values: Sequence[torch.Tensor],
    run: _Run,
    spec: torch.Tensor | str,
    sx: torch.Tensor | None,
    *,
    method: str,
    params: dict,
    base: torch.Tensor | None = None,
    delta: bool = False,
) -> Result:
    """``values`` holds one ``(T, N, ...)`` tensor per part; build the Attribution(s).

    One Attribution per input for tuple inputs without ``layer=``, else one.
    """
    is_all = isinstance(spec, str)
    vals = [v.movedim(0, 1) if is_all else v[0] for v in values]
    outputs = None if sx is None else pick(sx, spec)
    base_values = None if base is None else pick(base, spec)
    d = None
    if delta and base_values is not None:
        d = joint_delta(vals, outputs, base_values, per_output=is_all)
    params = dict(params)
    params["layer"] = run.layer_name
    if run.tap is not None:
        params["layer_input"] = run.tap.layer_input
    if is_all:
        params["target"] = "all"
    tgt = np.arange(run.k) if is_all else spec.detach().cpu().numpy()
    common = dict(
        target=tgt,
        outputs=None if outputs is None else outputs.detach().cpu(),
        base_values=None if base_values is None else base_values.detach().cpu(),
        method=method,
        delta=None if d is None else d.cpu(),
        output_names=run.output_names,
    )
    if run.tap is not None or not run.was_tuple:
        # with layer= and several inputs the values live in the layer's space: no single input is their data
        data = run.xs[0] if len(run.xs) == 1 else None
        return Attribution(
            values=vals[0].detach().cpu(), data=None if data is None else data.detach().cpu(), params=params, **common
        )
    # each Attribution owns its arrays (no shared buffers between the members of the tuple)
    return tuple(
        Attribution(
            values=v.detach().cpu(), data=x.detach().cpu().clone(), params=dict(params),
            **{k: (c.clone() if isinstance(c, torch.Tensor) else c.copy() if isinstance(c, np.ndarray) else c)
               for k, c in common.items()},
        )
        for v, x in zip(vals, run.xs)
    )
