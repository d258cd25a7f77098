"""The Shapley value function ``v(S)`` for a batch: validation, chunked model calls.

:class:`ShapleyProblem` wraps ``f`` (a ``torch.nn.Module``, run on its own
device under :func:`~xai_widgets.explain._core.model_as_found` and
``torch.no_grad``; or a plain callable, numpy in → numpy out), the rows to
explain, the (weighted) background, the feature groups and any extra model
inputs. Its :meth:`~ShapleyProblem.values` evaluates

    v_i(S) = sum_b w_b f(x_i on S, b elsewhere, **kwargs_i)[t_i]

for every row ``i`` and every coalition ``S`` of a boolean matrix ``Z``
``(C, M)``, in forward passes of at most ``batch_size`` composite rows.

``x`` may be one array/tensor/DataFrame ``(N, ...)`` or a tuple of them
(feature blocks of a multi-input model, called as ``f(*blocks)``); the
players are then the elements of all blocks, flattened and concatenated in
block order, and the result is one :class:`~xai_widgets.Attribution` per
block.
"""
from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ...attribution import Attribution
from .._core import (
    DEFAULT_CHUNK,
    Target,
    check_forward_kwargs,
    check_output_names,
    check_positive_int,
    chunk_ranges,
    model_as_found,
    model_call_error,
    model_device,
    normal_tensor,
    resolve_output_names,
    resolve_target,
    to_scores,
)
from ._background import (
    MAX_BACKGROUND,
    SUMMARY_SIZE,
    Background,
    _frame_like,
    frame_to_numpy,
    is_frame,
    summarize_background,
    warn_summarized,
)
from ._groups import Groups, parse_block_groups

#: Default composite rows per forward pass: about this many input elements
#: (2**19 floats = 2 MiB, cache-friendly for small tabular models), at least
#: ``DEFAULT_CHUNK`` rows (images: a few inputs per pass), at most 16384.
#: Integer inputs (token ids) use ``DEFAULT_CHUNK`` rows: the model expands them.
DEFAULT_ELEMENTS = 2**19
MAX_DEFAULT_ROWS = 16384
#: Show a progress bar from this many forward passes on (and only once a run
#: has taken half a second).
PROGRESS_MIN_PASSES = 20

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) + os.sep


def _user_stacklevel() -> int:
    """The ``stacklevel`` (seen from the caller) of the first frame outside this package.

    Warnings then point at the user's line, whichever kernel and helper
    raised them.
    """
    level, frame = 1, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        level += 1
        frame = frame.f_back
    return level


def _is_block(a: Any) -> bool:
    return isinstance(a, (np.ndarray, torch.Tensor)) or is_frame(a)


def _split(a: Any, name: str) -> tuple[list, bool]:
    """One block or a tuple/list of blocks → ``(blocks, was_tuple)``."""
    if isinstance(a, (tuple, list)):
        if len(a) == 0:
            raise ValueError(f"{name} is an empty tuple; give an array (N, ...) or a tuple of arrays")
        if all(_is_block(e) for e in a):
            return list(a), True
        if isinstance(a, tuple):
            bad = next(i for i, e in enumerate(a) if not _is_block(e))
            raise TypeError(
                f"{name} is a tuple, so each part must be a tensor, numpy array or DataFrame (N, ...); "
                f"{name}[{bad}] is a {type(a[bad]).__name__}"
            )
    return [a], False


def _from_numpy(a: np.ndarray) -> torch.Tensor:
    a = np.ascontiguousarray(a)
    # torch warns on read-only arrays (e.g. a pandas column's buffer); the copy is as cheap as the warning
    return torch.from_numpy(a if a.flags.writeable else a.copy())


def _to_tensor(a: Any, name: str) -> tuple[torch.Tensor, Any, list | None]:
    """A block → ``(tensor, data for the result, DataFrame columns or None)``."""
    if is_frame(a):
        arr, columns = frame_to_numpy(a, name)
        return _from_numpy(arr), arr, columns
    if isinstance(a, np.ndarray):
        if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise TypeError(f"{name} must hold numbers, got dtype {a.dtype}")
        return _from_numpy(a), a, None
    if isinstance(a, torch.Tensor):
        t = normal_tensor(a.detach())
        return t, t.cpu(), None
    raise TypeError(
        f"{name} must be a torch.Tensor, numpy array or DataFrame of shape (N, ...), or a tuple of them; "
        f"got {type(a).__name__}"
    )


def _check_values(t: torch.Tensor, name: str) -> None:
    if t.is_complex():
        raise TypeError(f"{name} must be real (float, integer or bool), got dtype {t.dtype}")
    if t.is_floating_point() and not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf values")


def _first_layer_embeds(model: nn.Module) -> bool:
    """Whether the first module holding parameters is an embedding (integer inputs are token ids)."""
    for m in model.modules():
        if any(True for _ in m.parameters(recurse=False)):
            return isinstance(m, (nn.Embedding, nn.EmbeddingBag))
    return False


def _model_float(model: nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.get_default_dtype()


def _check_summarize(summarize: Any) -> bool | int:
    if isinstance(summarize, (bool, np.bool_)):
        return bool(summarize)
    if isinstance(summarize, (int, np.integer)):
        return check_positive_int(summarize, "summarize")
    raise TypeError(
        f"summarize must be True (summarise more than {MAX_BACKGROUND} rows to {SUMMARY_SIZE}), False "
        f"(keep every row) or an int k (summarise to k rows); got {summarize!r}"
    )


@dataclass
class _Block:
    """One input block on the device, and what the result needs of it."""

    x: torch.Tensor  # (N, *shape)
    bg: torch.Tensor  # (B, *shape)
    shape: tuple[int, ...]
    start: int  # offset of its first element among all players' elements
    elements: int
    data: Any  # Attribution.data
    columns: list | None  # DataFrame columns, else None
    frame: Any  # the DataFrame x came as (a callable gets DataFrames back), else None
    names: list[str] | None
    ids: bool  # integer token ids for an embedding model

    @property
    def floating(self) -> bool:
        return self.x.is_floating_point()


class ShapleyProblem:
    """Validated inputs of a Shapley kernel and the model calls they need.

    Construction only checks and converts (no model call; a large
    background is summarised last, after every check). :meth:`start` then
    runs ``f`` on one row (to read the number of outputs and check
    ``target``), on the whole batch (``outputs``) and on the background
    (``base_values``).
    """

    def __init__(
        self,
        f: Any,
        x: Any,
        background: Any,
        *,
        groups: Any = None,
        batch_size: int | None = None,
        seed: int | None = 0,
        feature_names: Any = None,
        max_players: int | None = None,
        forward_kwargs: dict | None = None,
        output_names: Any = None,
        summarize: bool | int = True,
    ) -> None:
        if not callable(f):
            raise TypeError(f"f must be a torch.nn.Module or a callable on a batch, got {type(f).__name__}")
        self.f = f
        self.is_module = isinstance(f, nn.Module)
        self.device = model_device(f) if self.is_module else torch.device("cpu")
        if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"seed must be an int or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self.batch_size = check_positive_int(batch_size, "batch_size", allow_none=True)
        summarize = _check_summarize(summarize)
        kwargs = check_forward_kwargs(forward_kwargs)
        self.output_names = resolve_output_names(f, output_names)
        self.names_explicit = output_names is not None

        # ---------------------------------------------------------------- x
        raw_x, self.was_tuple = _split(x, "x")
        nblocks = len(raw_x)
        label = (lambda what, i: f"{what}[{i}]") if self.was_tuple else (lambda what, i: what)
        xs = []
        for i, xi in enumerate(raw_x):
            name = label("x", i)
            t, data, columns = _to_tensor(xi, name)
            if t.dim() < 2:
                raise ValueError(
                    f"{name} must be batched with at least 2 dimensions (N, ...); got shape {tuple(t.shape)}. "
                    f"Add a batch axis with {name}[None]."
                )
            if t.shape[0] == 0:
                raise ValueError(f"{name} is an empty batch (shape {tuple(t.shape)})")
            _check_values(t, name)
            xs.append((t, data, columns, xi if columns is not None else None))
        sizes = [int(t.shape[0]) for t, *_ in xs]
        if len(set(sizes)) > 1:
            shapes = ", ".join(str(tuple(t.shape)) for t, *_ in xs)
            raise ValueError(f"the parts of x must share the batch size (first axis); got shapes {shapes}")
        self.n = sizes[0]
        shapes = [tuple(t.shape[1:]) for t, *_ in xs]
        names = self._feature_names(feature_names, xs, shapes)

        # ------------------------------------------------------------ groups
        self.groups: Groups = parse_block_groups(groups, shapes)
        self.m = self.groups.n
        if max_players is not None and self.m > max_players:
            raise ValueError(
                f"exact_shap enumerates 2**M coalitions and x has M={self.m} players (features or groups), "
                f"more than max_features={max_players}; use kernel_shap or permutation_shap, group the "
                "features (groups=...), or raise max_features if 2**M × background × rows model "
                "evaluations are affordable"
            )

        # ------------------------------------------------------- background
        if isinstance(background, Background):
            bg_data, weights, summarized, bg_rows = background.data, background.weights, background.summarized, background.rows
        else:
            bg_data, weights, summarized, bg_rows = background, None, False, None
        raw_bg, bg_tuple = _split(bg_data, "background")
        if bg_tuple != self.was_tuple or len(raw_bg) != nblocks:
            got = f"a tuple of {len(raw_bg)}" if bg_tuple else "a single array"
            want = f"a tuple of {nblocks} blocks (one per part of x, in the same order)" if self.was_tuple else "a single array (B, ...) like x"
            raise ValueError(f"background must be {want}; got {got}")
        bgs = []
        for i, (bi, (xt, _, columns, _)) in enumerate(zip(raw_bg, xs)):
            bgs.append(self._background_block(bi, label("background", i), xt, columns))
        brows = [int(b.shape[0]) for b in bgs]
        if len(set(brows)) > 1:
            raise ValueError(f"the blocks of background must share the number of rows; got {brows}")

        # ------------------------------------------------------------ dtypes
        embeds = self.is_module and _first_layer_embeds(f)
        self.blocks: list[_Block] = []
        start = 0
        for i, ((xt, data, columns, frame), bt, shape) in enumerate(zip(xs, bgs, shapes)):
            xt, bt, ids = self._settle_dtypes(xt, bt, embeds, from_numpy=not isinstance(raw_x[i], torch.Tensor),
                                              names=(label("x", i), label("background", i)))
            elements = int(np.prod(shape, dtype=np.int64))
            self.blocks.append(_Block(xt, bt, shape, start, elements, data, columns, frame, names[i], ids))
            start += elements
        self.elements = start

        # -------------------------------------------------- forward kwargs
        self.fixed_kwargs: dict = {}
        self.batched_kwargs: dict = {}
        for key, v in kwargs.items():
            if isinstance(v, torch.Tensor):
                v = normal_tensor(v.detach())
            if isinstance(v, (torch.Tensor, np.ndarray)) and v.ndim >= 1 and v.shape[0] == self.n:
                if self.is_module and isinstance(v, torch.Tensor):
                    v = v.to(self.device)
                self.batched_kwargs[key] = v
            else:
                self.fixed_kwargs[key] = v

        # ------------------------------------------------ background weights
        self.bg_rows = brows[0] if bg_rows is None else int(bg_rows)
        if weights is None:
            k = SUMMARY_SIZE if summarize is True else (None if summarize is False else int(summarize))
            limit = MAX_BACKGROUND if summarize is True else k
            if k is not None and brows[0] > limit:
                blocks_bg = tuple(b.bg for b in self.blocks)
                s = summarize_background(blocks_bg if self.was_tuple else blocks_bg[0], k,
                                         seed=0 if self.seed is None else self.seed)
                parts = s.data if self.was_tuple else (s.data,)
                for b, p in zip(self.blocks, parts):
                    b.bg = p
                weights, summarized = s.weights, True
                if summarize is True:  # chosen by the kernel, not the user: say so
                    warn_summarized(brows[0], len(s), all(b.floating for b in self.blocks),
                                    stacklevel=_user_stacklevel())
            else:
                weights = np.full(brows[0], 1.0 / brows[0])
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        self.nb = int(self.blocks[0].bg.shape[0])
        if w.shape[0] != self.nb or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError("background weights must be finite, >= 0, one per row, with a positive sum")
        self.bg_summarized = bool(summarized)
        self.w = torch.as_tensor(w / w.sum(), dtype=torch.float64, device=self.device)
        self.labels = torch.as_tensor(self.groups.labels, device=self.device)
        if self.batch_size is not None:
            self.rows_per_pass = self.batch_size
        elif any(b.ids for b in self.blocks):  # token ids: each grows into embeddings, keep passes small
            self.rows_per_pass = DEFAULT_CHUNK
        else:
            self.rows_per_pass = max(DEFAULT_CHUNK, min(MAX_DEFAULT_ROWS, DEFAULT_ELEMENTS // max(1, self.elements)))

    # ------------------------------------------------------------ chunks
    def split(self, call: Any, args: dict, *, per_row: int, client: Any, desc: str) -> Any:
        """Run ``call`` (the public kernel) over row chunks, here or on ``client``; None: one chunk, no client.

        ``per_row`` is the coalitions evaluated per row (times the background
        rows here). The chunks get the background as validated and summarised
        once (a :class:`Background`: no second summary, no second warning);
        ``x``, ``target`` and the batched ``forward_kwargs`` are sliced per
        chunk. See :mod:`xai_widgets.explain.distributed`.
        """
        from ..distributed import plan_chunks, run_chunks

        chunks = plan_chunks(self.n, per_row=per_row * self.nb, row_elements=self.elements, batch_size=self.batch_size)
        if client is None and len(chunks) == 1:
            return None
        bgs = tuple(b.bg for b in self.blocks)
        args = dict(args)
        args["background"] = Background(
            data=bgs if self.was_tuple else bgs[0], weights=self.w.cpu().numpy(), summarized=self.bg_summarized,
            rows=self.bg_rows,
        )
        return run_chunks(call, args, row_args=("x", "target", "forward_kwargs"), n=self.n, chunks=chunks,
                          client=client, desc=desc)

    # ------------------------------------------------------------ checking
    def _feature_names(self, feature_names: Any, xs: list, shapes: list) -> list:
        """One list of names (or None) per block; DataFrame columns by default."""
        nblocks = len(xs)
        if not self.was_tuple:
            given = [feature_names]
        elif feature_names is None:
            given = [None] * nblocks
        elif (
            isinstance(feature_names, str)
            or not isinstance(feature_names, (list, tuple))
            or len(feature_names) != nblocks
            or any(isinstance(e, str) for e in feature_names)
        ):
            raise ValueError(
                f"x is a tuple of {nblocks} blocks, so feature_names must be a list of {nblocks} entries, "
                "one list of names (or None) per block; got "
                + (f"{type(feature_names).__name__}" if not isinstance(feature_names, (list, tuple))
                   else f"a list of {len(feature_names)} entries")
            )
        else:
            given = list(feature_names)
        out = []
        for i, (g, (_, _, columns, _), shape) in enumerate(zip(given, xs, shapes)):
            what = f"feature_names[{i}]" if self.was_tuple else "feature_names"
            elements = int(np.prod(shape, dtype=np.int64))
            if g is None:
                out.append([str(c) for c in columns] if columns is not None else None)
                continue
            if isinstance(g, str) or not hasattr(g, "__len__"):
                raise TypeError(f"{what} must be a list of names, one per feature, got {type(g).__name__}")
            g = [str(s) for s in g]
            if len(g) != elements:
                raise ValueError(f"{what} has {len(g)} names but one row has {elements} elements")
            out.append(g)
        return out

    def _background_block(self, b: Any, name: str, xt: torch.Tensor, columns: list | None) -> torch.Tensor:
        """One background block, checked against its x block → tensor ``(B, *shape)``."""
        if is_frame(b) and columns is not None:
            bcols = list(b.columns)
            if bcols != columns:
                missing = [c for c in columns if c not in bcols]
                extra = [c for c in bcols if c not in columns]
                if missing or extra or len(bcols) != len(columns):
                    raise ValueError(
                        f"{name}'s columns do not match x's: missing {missing}, unexpected {extra}; give the "
                        "background the same columns as x"
                    )
                b = b[columns]  # same columns in another order: follow x's
        bt, _, _ = _to_tensor(b, name)
        row_shape = tuple(xt.shape[1:])
        if bt.dim() == xt.dim() - 1 and tuple(bt.shape) == row_shape and bt.numel() > 0:
            bt = bt[None]  # one row without the batch axis
        if bt.dim() == 0 or bt.shape[0] == 0 or bt.numel() == 0:
            raise ValueError(f"{name} is empty (shape {tuple(bt.shape)}); give at least one row (B, ...)")
        if tuple(bt.shape[1:]) != row_shape:
            raise ValueError(
                f"{name} rows have shape {tuple(bt.shape[1:])} but x's rows have shape {row_shape}; "
                f"{name} must be (B, {', '.join(map(str, row_shape))})"
            )
        _check_values(bt, name)
        return bt

    def _settle_dtypes(
        self, xt: torch.Tensor, bt: torch.Tensor, embeds: bool, *, from_numpy: bool, names: tuple[str, str]
    ) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """Common dtype of an x block and its background; whether they are token ids.

        Integer and bool blocks are token ids only for a module whose first
        layer is an embedding. Otherwise they are feature values: a module
        gets its own float dtype; a callable keeps integers when x and the
        background both hold them (it sees what it was given), else float64.
        """
        xn, bn = names
        x_float, b_float = xt.is_floating_point(), bt.is_floating_point()
        if self.is_module and embeds and not x_float:
            if xt.dtype == torch.bool or b_float or bt.dtype == torch.bool:
                raise TypeError(
                    f"{xn} ({xt.dtype}) and {bn} ({bt.dtype}) must both be integer token ids: the model's "
                    "first layer is an embedding"
                )
            return xt.to(self.device), bt.to(device=self.device, dtype=xt.dtype), True
        if self.is_module:
            dtype = xt.dtype if (x_float and not from_numpy) else _model_float(self.f)
        elif x_float:
            dtype = xt.dtype
        elif b_float:
            dtype = torch.float64
        else:
            dtype = torch.promote_types(xt.dtype, bt.dtype)
        return xt.to(device=self.device, dtype=dtype), bt.to(device=self.device, dtype=dtype), False

    # ---------------------------------------------------------------- calls
    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    def _kwargs_for(self, rows: torch.Tensor | None) -> dict:
        """``forward_kwargs`` for composite rows that belong to explained rows ``rows``."""
        if not self.batched_kwargs:
            return self.fixed_kwargs
        out = dict(self.fixed_kwargs)
        for key, v in self.batched_kwargs.items():
            if isinstance(v, torch.Tensor):
                out[key] = v.index_select(0, rows.to(v.device))
            else:
                out[key] = v[rows.cpu().numpy()]
        return out

    def _call(self, parts: list[torch.Tensor], kwargs: dict) -> Any:
        if self.is_module:
            return self.f(*parts, **kwargs)
        args = []
        for block, t in zip(self.blocks, parts):
            a = t.cpu().numpy()
            args.append(_frame_like(block.frame, a, block.columns) if block.frame is not None else a)
        return self.f(*args, **kwargs)

    def _read(self, out: Any, rows: int) -> torch.Tensor:
        """The model's return value → scores ``(rows, K)`` (a module's dtype; float for numpy)."""
        if not isinstance(out, torch.Tensor) and not self.is_module:
            if is_frame(out) or (hasattr(out, "to_numpy") and hasattr(out, "index")):  # a DataFrame/Series
                out = out.to_numpy()
            arr = np.asarray(out)
            if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
                raise TypeError(f"f must return numbers (N,) or (N, K), got {type(out).__name__} of dtype {arr.dtype}")
            # ascontiguousarray would turn a 0-d result (one number for the batch) into 1-d
            out = _from_numpy(arr) if arr.ndim else torch.as_tensor(arr)
        out = to_scores(out, n=rows)
        if out.shape[0] != rows:
            raise ValueError(f"f returned {out.shape[0]} rows of scores for a batch of {rows}; expected (N,) or (N, K)")
        return out.detach().to(self.device)

    def _context(self) -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        if self.is_module:
            stack.enter_context(model_as_found(self.f))
        stack.enter_context(torch.no_grad())
        return stack

    def start(self, target: Target) -> None:
        """Run ``f`` on one row, the batch and the background; resolve ``target``."""
        with self._context():
            # One row first (number of outputs, target checked before the
            # rest); its scores are kept, so no model row is spent twice and
            # the evaluations counted equal shap's for the same budget.
            probe = [b.x[:1] for b in self.blocks]
            try:
                first = self._read(self._call(probe, self._kwargs_for(torch.zeros(1, dtype=torch.long))), 1)
            except Exception as e:  # noqa: BLE001 - any failure of the user's model on its first call
                full = tuple(b.x for b in self.blocks) if self.was_tuple else self.blocks[0].x
                raise model_call_error(e, tuple(probe) if self.was_tuple else probe[0], full=full) from e
            k = int(first.shape[1])
            self.output_names = check_output_names(self.output_names, k, self.names_explicit)
            if target is not None:  # check before the full pass
                resolve_target(target, torch.zeros(self.n, k), self.output_names)
            fx = torch.cat([first] + [
                self._read(self._call([b.x[1 + a:1 + e] for b in self.blocks],
                                      self._kwargs_for(torch.arange(1 + a, 1 + e))), e - a)
                for a, e in chunk_ranges(self.n - 1, self.rows_per_pass)
            ]).double()
            if not self.batched_kwargs:
                fb = torch.cat([
                    self._read(self._call([b.bg[a:e] for b in self.blocks], self.fixed_kwargs), e - a)
                    for a, e in chunk_ranges(self.nb, self.rows_per_pass)
                ]).double()
        self.k = k
        if not torch.isfinite(fx).all():
            raise ValueError("f returned NaN or inf scores on x")
        if self.batched_kwargs:
            # a batched kwarg follows the explained row, so E_b f(b, kwargs_i) differs per row
            f0 = self._evaluate(np.zeros((1, self.m), dtype=bool), None, "base values")[:, 0]
        else:
            if not torch.isfinite(fb).all():
                raise ValueError("f returned NaN or inf scores on the background")
            f0 = (fb * self.w[:, None]).sum(0)[None].expand(self.n, k)
        if not torch.isfinite(f0).all():
            raise ValueError("f returned NaN or inf scores on the background")
        spec = resolve_target(target, fx.cpu(), self.output_names)
        self.is_all = isinstance(spec, str)
        self.spec = spec if self.is_all else spec.to(self.device)
        self.t = k if self.is_all else 1
        if self.is_all:
            self.fx, self.f0 = fx, f0
        else:
            self.fx = fx.gather(1, self.spec[:, None])
            self.f0 = f0.gather(1, self.spec[:, None])

    # ------------------------------------------------------- value function
    def values(self, z: np.ndarray, desc: str = "shap") -> torch.Tensor:
        """``v_i(S)`` for every row ``i`` and coalition ``S = z[c]`` → float64 ``(N, C, T)``."""
        return self._evaluate(z, None if self.is_all else self.spec, desc)

    def _evaluate(self, z: np.ndarray, targets: torch.Tensor | None, desc: str) -> torch.Tensor:
        """``v_i(S)`` for the outputs ``targets`` (one per row; None: all K) → float64 ``(N, C, T)``.

        ``z`` is a boolean ``(C, M)`` matrix over groups. Composite rows
        (row × coalition × background row) go through ``f`` in passes of at
        most ``rows_per_pass`` rows. The coalition masks are expanded to
        elements once; each pass writes its composite rows into one buffer
        per block reused by every pass (``x*k + b*(1-k)``, exact for ``k``
        in {0, 1}) and reduces the model's scores at once to the weighted
        background mean (float64, so only the small ``(N, C, T)`` result is
        kept). Batched ``forward_kwargs`` follow the explained row.
        """
        from .._progress import progress

        n, c = self.n, int(z.shape[0])
        t = self.k if targets is None else 1
        out = torch.zeros(n * c, t, dtype=torch.float64, device=self.device)
        if c == 0:
            return out.view(n, 0, t)
        zt = torch.as_tensor(np.ascontiguousarray(z, dtype=bool), device=self.device)
        keep_all = zt[:, self.labels]  # (C, E) True where x is kept, expanded once
        bg_step = min(self.nb, self.rows_per_pass)
        pairs_step = max(1, self.rows_per_pass // bg_step)
        bg_chunks = list(chunk_ranges(self.nb, bg_step))
        total = -(-n * c // pairs_step) * len(bg_chunks)
        prep = []  # per block: (x flat, background flat, keep or (k, 1-k), buffer)
        for b in self.blocks:
            keep = keep_all[:, b.start:b.start + b.elements]
            xf, bf = b.x.reshape(n, -1), b.bg.reshape(self.nb, -1)
            if b.floating:  # x*k + b*(1-k) with k in {0, 1} is exact and ~3x faster than where()
                kf = keep.to(b.x.dtype)
                buf = torch.empty(pairs_step * bg_step * b.elements, dtype=b.x.dtype, device=self.device)
                prep.append((xf, bf, (kf, 1 - kf), buf))
            else:
                prep.append((xf, bf, keep, None))
        bar = progress(total=total, desc=desc, unit="pass", disable=total < PROGRESS_MIN_PASSES)
        try:
            with self._context(), torch.inference_mode():
                for p0, p1 in chunk_ranges(n * c, pairs_step):
                    p = p1 - p0
                    idx = torch.arange(p0, p1, device=self.device)
                    row, coal = idx // c, idx % c
                    tr = None if targets is None else targets[row]
                    kept = []
                    for (xf, _, mask, _), b in zip(prep, self.blocks):
                        xr = xf[row]
                        if b.floating:
                            kf, nk = mask
                            kept.append(((xr * kf[coal])[:, None, :], nk[coal][:, None, :]))
                        else:
                            kept.append((xr[:, None, :], mask[coal][:, None, :]))
                    for b0, b1 in bg_chunks:
                        nbc = b1 - b0
                        parts = []
                        for (_, bf, _, buf), (a1, a2), b in zip(prep, kept, self.blocks):
                            if b.floating:
                                comp = buf[: p * nbc * b.elements].view(p, nbc, b.elements)
                                torch.addcmul(a1, bf[None, b0:b1, :], a2, out=comp)
                            else:
                                comp = torch.where(a2, a1, bf[None, b0:b1, :])
                            parts.append(comp.view((-1,) + b.shape))
                        kw = self._kwargs_for(row.repeat_interleave(nbc)) if self.batched_kwargs else self.fixed_kwargs
                        s = self._read(self._call(parts, kw), p * nbc).view(p, nbc, self.k)
                        if tr is not None:
                            s = s.gather(2, tr.view(-1, 1, 1).expand(-1, nbc, 1))
                        # weighted background mean, accumulated in float64: (P, T)
                        out[p0:p1] += torch.matmul(s.to(torch.float64).transpose(1, 2), self.w[b0:b1])
                        bar.update(1)
        finally:
            bar.close()
        return out.view(n, c, t)

    # --------------------------------------------------------------- result
    def finish(self, phi: torch.Tensor, *, method: str, params: dict) -> Attribution | tuple[Attribution, ...]:
        """Group values ``phi`` ``(N, T, M)`` → an :class:`Attribution` per block, ``values`` like its ``x``.

        A tuple ``x`` gives a tuple of attributions sharing ``target``,
        ``outputs``, ``base_values`` and the joint ``delta`` (the sum of
        every block's values is ``outputs - base_values``).
        """
        phi = phi.detach().to("cpu", torch.float64)
        labels = torch.as_tensor(self.groups.labels)
        sizes = torch.as_tensor(self.groups.sizes, dtype=torch.float64)
        spread = phi[..., labels] / sizes[labels]  # (N, T, E)
        n = self.n
        fx, f0 = self.fx.cpu(), self.f0.cpu()
        delta = phi.sum(-1) - (fx - f0)
        if self.is_all:
            group_values = phi
            outputs, base = fx, f0
            target = np.arange(self.k)
        else:
            group_values = phi[:, 0]
            outputs, base, delta = fx[:, 0], f0[:, 0], delta[:, 0]
            target = self.spec.cpu().numpy()
        params = dict(params)
        params.update(
            background=self.nb,
            background_rows=self.bg_rows,
            background_summarized=self.bg_summarized,
            features=self.m,
            batch_size=self.rows_per_pass,
            seed=self.seed,
        )
        if self.was_tuple:
            params["inputs"] = len(self.blocks)
        if self.fixed_kwargs or self.batched_kwargs:
            params["forward_kwargs"] = sorted([*self.fixed_kwargs, *self.batched_kwargs])
        if self.groups.given:
            params["groups"] = self.m
            if self.groups.names is not None:
                params["group_names"] = list(self.groups.names)
        if self.is_all:
            params["target"] = "all"
        results = []
        for b in self.blocks:
            part = spread[..., b.start:b.start + b.elements]
            values = part.reshape((n, self.k) + b.shape) if self.is_all else part[:, 0].reshape((n,) + b.shape)
            results.append(Attribution(
                values=values,
                data=b.data,
                target=target,
                outputs=outputs,
                base_values=base,
                method=method,
                params=dict(params),
                feature_names=b.names,
                delta=delta,
                group_values=group_values if self.groups.given else None,
                output_names=self.output_names,
            ))
        return tuple(results) if self.was_tuple else results[0]
