"""The Shapley value function ``v(S)`` for a batch: validation, chunked model calls.

:class:`ShapleyProblem` wraps ``f`` (a ``torch.nn.Module``, run on its own
device under :func:`~xai_widgets.explain._core.model_as_found` and
``torch.no_grad``; or a plain callable, numpy in → numpy out), the rows to
explain, the (weighted) background and the feature groups. Its
:meth:`~ShapleyProblem.values` evaluates

    v_i(S) = sum_b w_b f(x_i on S, b elsewhere)[t_i]

for every row ``i`` and every coalition ``S`` of a boolean matrix ``Z``
``(C, M)``, in forward passes of at most ``batch_size`` composite rows.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ...attribution import Attribution
from .._core import (
    DEFAULT_CHUNK,
    Target,
    check_positive_int,
    chunk_ranges,
    model_as_found,
    model_device,
    resolve_target,
    to_scores,
)
from ._background import MAX_BACKGROUND, SUMMARY_SIZE, Background, summarize_background
from ._groups import Groups, parse_groups

#: Default composite rows per forward pass: about this many input elements
#: (2**19 floats = 2 MiB, cache-friendly for small tabular models), at least
#: ``DEFAULT_CHUNK`` rows (images: a few inputs per pass), at most 16384.
#: Integer inputs (token ids) use ``DEFAULT_CHUNK`` rows: the model expands them.
DEFAULT_ELEMENTS = 2**19
MAX_DEFAULT_ROWS = 16384
#: Show a progress bar from this many forward passes on (and only once a run
#: has taken half a second).
PROGRESS_MIN_PASSES = 20


def _as_tensor(a: Any, name: str) -> torch.Tensor:
    if isinstance(a, np.ndarray):
        if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise TypeError(f"{name} must hold numbers, got dtype {a.dtype}")
        return torch.from_numpy(np.ascontiguousarray(a))
    if isinstance(a, torch.Tensor):
        return a.detach()
    raise TypeError(f"{name} must be a torch.Tensor or numpy array of shape (N, ...), got {type(a).__name__}")


def _check_finite(t: torch.Tensor, name: str) -> None:
    if (t.is_floating_point() or t.is_complex()) and not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf values")


class ShapleyProblem:
    """Validated inputs of a Shapley kernel and the model calls they need.

    Construction only checks (no model call). :meth:`start` then runs ``f``
    on one row (to read the number of outputs and check ``target``), on the
    whole batch (``outputs``) and on the background (``base_values``).
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

        # ---------------------------------------------------------------- x
        self.x_in = x
        xt = _as_tensor(x, "x")
        if xt.dim() < 2:
            raise ValueError(
                f"x must be batched with at least 2 dimensions (N, ...); got shape {tuple(xt.shape)}. "
                "Add a batch axis with x[None]."
            )
        if xt.shape[0] == 0:
            raise ValueError(f"x is an empty batch (shape {tuple(xt.shape)})")
        if xt.dtype == torch.bool or xt.is_complex():
            raise TypeError(f"x must be a real (float or integer) array, got dtype {xt.dtype}")
        _check_finite(xt, "x")
        if self.is_module and isinstance(x, np.ndarray) and xt.is_floating_point():
            for p in f.parameters():  # numpy input: follow the model's float dtype
                if p.is_floating_point():
                    xt = xt.to(p.dtype)
                    break
        self.row_shape = tuple(xt.shape[1:])

        # ------------------------------------------------------------ groups
        self.groups: Groups = parse_groups(groups, self.row_shape)
        self.m = self.groups.n
        self.elements = int(np.prod(self.row_shape, dtype=np.int64))
        if feature_names is not None:
            feature_names = [str(s) for s in feature_names]
            if len(feature_names) != self.elements:
                raise ValueError(
                    f"feature_names has {len(feature_names)} names but one row has {self.elements} elements"
                )
        self.feature_names = feature_names
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
        bt = _as_tensor(bg_data, "background")
        if bt.dim() == xt.dim() - 1 and tuple(bt.shape) == self.row_shape and bt.numel() > 0:
            bt = bt[None]  # one row without the batch axis
        if bt.dim() == 0 or bt.shape[0] == 0 or bt.numel() == 0:
            raise ValueError(f"background is empty (shape {tuple(bt.shape)}); give at least one row (B, ...)")
        if tuple(bt.shape[1:]) != self.row_shape:
            raise ValueError(
                f"background rows have shape {tuple(bt.shape[1:])} but x's rows have shape {self.row_shape}; "
                f"background must be (B, {', '.join(map(str, self.row_shape))})"
            )
        if bt.dtype == torch.bool or bt.is_complex():
            raise TypeError(f"background must be a real array, got dtype {bt.dtype}")
        _check_finite(bt, "background")
        if xt.is_floating_point() != bt.is_floating_point():
            raise TypeError(
                f"x ({xt.dtype}) and background ({bt.dtype}) must both be floating point or both integer "
                "(token ids)"
            )
        if weights is None:
            if bt.shape[0] > MAX_BACKGROUND:
                summary = summarize_background(bt, SUMMARY_SIZE, seed=0 if self.seed is None else self.seed)
                bt, weights, summarized, bg_rows = summary.data, summary.weights, True, summary.rows
            else:
                weights = np.full(bt.shape[0], 1.0 / bt.shape[0])
                bg_rows = int(bt.shape[0])
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if w.shape[0] != bt.shape[0] or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError("background weights must be finite, >= 0, one per row, with a positive sum")
        self.bg_summarized, self.bg_rows = bool(summarized), int(bg_rows or bt.shape[0])


        # ------------------------------------------------- device-side data
        self.x = xt.to(self.device)
        self.bg = bt.to(device=self.device, dtype=xt.dtype)
        self.w = torch.as_tensor(w / w.sum(), dtype=torch.float64, device=self.device)
        self.n, self.nb = int(xt.shape[0]), int(bt.shape[0])
        self.x_flat = self.x.reshape(self.n, -1)
        self.bg_flat = self.bg.reshape(self.nb, -1)
        self.labels = torch.as_tensor(self.groups.labels, device=self.device)
        if self.batch_size is not None:
            self.rows_per_pass = self.batch_size
        elif not xt.is_floating_point():  # token ids: each grows into embeddings, keep passes small
            self.rows_per_pass = DEFAULT_CHUNK
        else:
            self.rows_per_pass = max(DEFAULT_CHUNK, min(MAX_DEFAULT_ROWS, DEFAULT_ELEMENTS // max(1, self.elements)))

    # ---------------------------------------------------------------- calls
    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    def scores(self, inp: torch.Tensor) -> torch.Tensor:
        """``f`` on a batch → float64 scores ``(rows, K)`` on the device."""
        rows = inp.shape[0]
        if self.is_module:
            out = to_scores(self.f(inp))
        else:
            out = self.f(inp.cpu().numpy())
            if not isinstance(out, torch.Tensor):
                arr = np.asarray(out)
                if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
                    raise TypeError(f"f must return numbers (N,) or (N, K), got {type(out).__name__} of dtype {arr.dtype}")
                out = torch.from_numpy(np.ascontiguousarray(arr))
            out = to_scores(out)
        if out.shape[0] != rows:
            raise ValueError(f"f returned {out.shape[0]} rows of scores for a batch of {rows}; expected (N,) or (N, K)")
        return out.detach().to(device=self.device, dtype=torch.float64)

    def _context(self):
        import contextlib

        stack = contextlib.ExitStack()
        if self.is_module:
            stack.enter_context(model_as_found(self.f))
        stack.enter_context(torch.no_grad())
        return stack

    def start(self, target: Target) -> None:
        """Run ``f`` on one row, the batch and the background; resolve ``target``."""
        with self._context():
            first = self.scores(self.x[:1])
            k = first.shape[1]
            if not (target is None or isinstance(target, str)):
                resolve_target(target, torch.zeros(self.n, k))  # check before the full pass
            elif isinstance(target, str) and target != "all":
                resolve_target(target, first)
            fx = torch.cat([self.scores(self.x[a:b]) for a, b in chunk_ranges(self.n, self.rows_per_pass)])
            fb = torch.cat([self.scores(self.bg[a:b]) for a, b in chunk_ranges(self.nb, self.rows_per_pass)])
        if not torch.isfinite(fx).all() or not torch.isfinite(fb).all():
            raise ValueError("f returned NaN or inf scores on x or the background")
        self.k = int(fx.shape[1])
        self.fx_all = fx
        self.f0_all = (fb * self.w[:, None]).sum(0)  # (K,)
        spec = resolve_target(target, fx.cpu())
        self.is_all = isinstance(spec, str)
        self.spec = spec if self.is_all else spec.to(self.device)
        self.t = self.k if self.is_all else 1
        if self.is_all:
            self.fx = fx
            self.f0 = self.f0_all[None].expand(self.n, self.k)
        else:
            self.fx = fx.gather(1, self.spec[:, None])
            self.f0 = self.f0_all[self.spec][:, None]

    # ------------------------------------------------------- value function
    def _pass_scores(self, inp: torch.Tensor) -> torch.Tensor:
        """``f`` on one composite batch → scores ``(rows, K)``, in the model's dtype for a module."""
        if not self.is_module:
            return self.scores(inp)
        out = to_scores(self.f(inp))
        if out.shape[0] != inp.shape[0]:
            raise ValueError(
                f"f returned {out.shape[0]} rows of scores for a batch of {inp.shape[0]}; expected (N,) or (N, K)"
            )
        return out.detach().to(self.device)

    def values(self, z: np.ndarray, desc: str = "shap") -> torch.Tensor:
        """``v_i(S)`` for every row ``i`` and coalition ``S = z[c]`` → float64 ``(N, C, T)``.

        ``z`` is a boolean ``(C, M)`` matrix over groups. Composite rows
        (row × coalition × background row) go through ``f`` in passes of at
        most ``rows_per_pass`` rows. The coalition masks are expanded to
        elements once; each pass writes its composite rows into one buffer
        reused by every pass (``x*k + b*(1-k)``, exact for ``k`` in {0, 1})
        and reduces the model's scores at once to the weighted background
        mean (float64, so only the small ``(N, C, T)`` result is kept).
        """
        from tqdm.auto import tqdm

        c = int(z.shape[0])
        out = torch.zeros(self.n * c, self.t, dtype=torch.float64, device=self.device)
        if c == 0:
            return out.view(self.n, 0, self.t)
        zt = torch.as_tensor(np.ascontiguousarray(z, dtype=bool), device=self.device)
        keep_all = zt[:, self.labels]  # (C, E) True where x is kept, expanded once
        e = self.elements
        bg_step = min(self.nb, self.rows_per_pass)
        pairs_step = max(1, self.rows_per_pass // bg_step)
        bg_chunks = list(chunk_ranges(self.nb, bg_step))
        total = -(-self.n * c // pairs_step) * len(bg_chunks)
        floating = self.x.is_floating_point()
        if floating:
            kf_all = keep_all.to(self.x.dtype)
            nk_all = 1 - kf_all
            buf = torch.empty(pairs_step * bg_step * e, dtype=self.x.dtype, device=self.device)
        bar = tqdm(total=total, desc=desc, unit="pass", leave=False, delay=0.5,
                   disable=total < PROGRESS_MIN_PASSES)
        try:
            with self._context(), torch.inference_mode():
                for p0, p1 in chunk_ranges(self.n * c, pairs_step):
                    p = p1 - p0
                    idx = torch.arange(p0, p1, device=self.device)
                    row, coal = idx // c, idx % c
                    xr = self.x_flat[row]
                    tr = None if self.is_all else self.spec[row]
                    if floating:  # x*k + b*(1-k) with k in {0, 1} is exact and ~3x faster than where()
                        xk = (xr * kf_all[coal])[:, None, :]
                        nk = nk_all[coal][:, None, :]
                    else:
                        keep = keep_all[coal][:, None, :]
                    for b0, b1 in bg_chunks:
                        nbc = b1 - b0
                        if floating:
                            comp = buf[: p * nbc * e].view(p, nbc, e)
                            torch.addcmul(xk, self.bg_flat[None, b0:b1, :], nk, out=comp)
                        else:
                            comp = torch.where(keep, xr[:, None, :], self.bg_flat[None, b0:b1, :])
                        s = self._pass_scores(comp.view((-1,) + self.row_shape)).view(p, nbc, self.k)
                        if tr is not None:
                            s = s.gather(2, tr.view(-1, 1, 1).expand(-1, nbc, 1))
                        # weighted background mean, accumulated in float64: (P, T)
                        out[p0:p1] += torch.matmul(s.to(torch.float64).transpose(1, 2), self.w[b0:b1])
                        bar.update(1)
        finally:
            bar.close()
        return out.view(self.n, c, self.t)

    # --------------------------------------------------------------- result
    def finish(self, phi: torch.Tensor, *, method: str, params: dict) -> Attribution:
        """Group values ``phi`` ``(N, T, M)`` → an :class:`Attribution` with ``values`` like ``x``."""
        phi = phi.detach().to("cpu", torch.float64)
        labels = torch.as_tensor(self.groups.labels)
        sizes = torch.as_tensor(self.groups.sizes, dtype=torch.float64)
        spread = phi[..., labels] / sizes[labels]  # (N, T, E)
        n = self.n
        if self.is_all:
            values = spread.reshape((n, self.k) + self.row_shape)
            group_values = phi
            outputs, base = self.fx.cpu(), self.f0.cpu()
            target = np.arange(self.k)
        else:
            values = spread[:, 0].reshape((n,) + self.row_shape)
            group_values = phi[:, 0]
            outputs, base = self.fx[:, 0].cpu(), self.f0[:, 0].cpu()
            target = self.spec.cpu().numpy()
        delta = phi.sum(-1) - (self.fx - self.f0).cpu()
        if not self.is_all:
            delta = delta[:, 0]
        params = dict(params)
        params.update(
            background=self.nb,
            background_rows=self.bg_rows,
            background_summarized=self.bg_summarized,
            features=self.m,
            batch_size=self.rows_per_pass,
            seed=self.seed,
        )
        if self.groups.given:
            params["groups"] = self.m
            if self.groups.names is not None:
                params["group_names"] = list(self.groups.names)
        if self.is_all:
            params["target"] = "all"
        data = self.x_in if isinstance(self.x_in, np.ndarray) else self.x_in.detach().cpu()
        return Attribution(
            values=values,
            data=data,
            target=target,
            outputs=outputs,
            base_values=base,
            method=method,
            params=params,
            feature_names=self.feature_names,
            delta=delta,
            group_values=group_values if self.groups.given else None,
        )
