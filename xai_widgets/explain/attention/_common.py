"""Shared pieces of the attention kernels: the recorder and the softmax weights."""
from __future__ import annotations

from typing import Any, Sequence

import torch


def softmax_weights(
    query: torch.Tensor,
    key: torch.Tensor,
    *,
    attn_mask: torch.Tensor | None = None,
    scale: float | None = None,
    is_causal: bool = False,
    heads: Sequence[int] | None = None,
    position_bias: torch.Tensor | None = None,
    softcap: float | None = None,
    sinks: torch.Tensor | None = None,
    key_padding: torch.Tensor | None = None,
    sliding_window: int | None = None,
    out: torch.Tensor | None = None,
    scratch: dict | None = None,
) -> torch.Tensor:
    """``softmax(q kᵀ · scale + bias + mask)`` for ``q (B, Hq, Q, D)``, ``k (B, Hk, K, D)`` → ``(B, H, Q, K)``.

    One batched matmul and one softmax for all heads. Grouped-query keys
    (``Hk < Hq``) are expanded as ``repeat_kv`` does; ``heads`` selects query
    heads before the matmul. ``attn_mask`` follows
    ``F.scaled_dot_product_attention``: bool (True = attend) or additive float.
    Masked positions get the dtype's minimum (as the eager code does), so a
    fully masked (padding) row is uniform instead of NaN. Half-precision
    inputs are computed in float32. ``out`` (contiguous ``(B, H, Q, K)``)
    receives the result; ``scratch`` (a dict kept across layers) reuses one
    buffer for the scores, so no fresh memory is touched per layer.
    """
    B, Hq, Q, D = query.shape
    Hk = key.shape[-3]
    K = key.shape[-2]
    if Hk != Hq:
        if Hq % Hk:
            raise ValueError(f"query has {Hq} heads but key has {Hk}: not a grouped-query layout")
        key = key.repeat_interleave(Hq // Hk, dim=-3) if heads is None else key
    if heads is not None:
        idx = torch.as_tensor(list(heads), device=query.device)
        query = query.index_select(-3, idx)
        if Hk != Hq:
            key = key.index_select(-3, torch.div(idx, Hq // Hk, rounding_mode="floor"))
        else:
            key = key.index_select(-3, idx) if key.shape[-3] > 1 else key
        if position_bias is not None and position_bias.dim() == 4 and position_bias.shape[1] == Hq:
            position_bias = position_bias.index_select(1, idx)
        if attn_mask is not None and attn_mask.dim() == 4 and attn_mask.shape[1] == Hq and Hq > 1:
            attn_mask = attn_mask.index_select(1, idx)
        if sinks is not None and sinks.numel() == Hq:
            sinks = sinks.reshape(-1).index_select(0, idx)
    if query.dtype in (torch.float16, torch.bfloat16):
        query, key = query.float(), key.float()
    if scale is None:
        scale = D ** -0.5
    Bq, Hs, Kh = query.shape[0], query.shape[-3], key.shape[-3]
    if key.shape[0] == Bq and Kh == Hs and query.dim() == 4:  # one fused (scale · q kᵀ)
        q3 = query.reshape(Bq * Hs, Q, D)
        k3 = key.reshape(Bq * Hs, K, D)
        buf = None
        if scratch is not None:
            buf = scratch.get("scores")
            if buf is None or buf.shape != (Bq * Hs, Q, K) or buf.dtype != q3.dtype or buf.device != q3.device:
                buf = scratch["scores"] = torch.empty(Bq * Hs, Q, K, dtype=q3.dtype, device=q3.device)
        if buf is not None:
            scores = torch.baddbmm(buf, q3, k3.transpose(1, 2), beta=0, alpha=scale, out=buf)
        else:
            scores = torch.baddbmm(q3.new_empty(()).expand(Bq * Hs, Q, K), q3, k3.transpose(1, 2), beta=0, alpha=scale)
        scores = scores.view(Bq, Hs, Q, K)
    else:
        scores = torch.matmul(query, key.transpose(-1, -2)).mul_(scale)
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    if position_bias is not None:
        scores = scores + position_bias[..., :K].to(scores.dtype)
    low = torch.finfo(scores.dtype).min
    if attn_mask is not None:
        m = attn_mask[..., :K]
        if m.dtype == torch.bool:
            scores.masked_fill_(~m, low)
        else:
            scores.add_(m.to(scores.dtype))
    if key_padding is not None:  # (B, K) True = real token
        scores.masked_fill_(~key_padding.bool()[:, None, None, :], low)
    if is_causal and Q > 1:
        keep = torch.ones(Q, K, dtype=torch.bool, device=scores.device).tril()
        if sliding_window is not None:
            keep &= ~torch.ones(Q, K, dtype=torch.bool, device=scores.device).tril(-int(sliding_window))
        scores.masked_fill_(~keep, low)
    if sinks is not None:
        s = sinks.reshape(1, -1, 1, 1).to(scores.dtype).expand(scores.shape[0], -1, Q, 1)
        both = torch.cat([scores, s], dim=-1)
        both = both - both.max(dim=-1, keepdim=True).values
        w = torch.softmax(both, dim=-1)[..., :-1]
    elif out is not None and out.dtype == scores.dtype and out.shape == scores.shape and out.is_contiguous():
        return torch.ops.aten._softmax.out(scores, -1, False, out=out)
    else:
        w = torch.softmax(scores, dim=-1)
    if out is not None:
        return out.copy_(w)
    return w


class Recorder:
    """Collects one ``(B, H, Q, K)`` map per attention call, in execution order.

    ``names`` (optional set) restricts recording to those modules; ``heads``
    selects heads; ``dtype`` casts each map as it is recorded, so only the
    smaller copy is kept.
    """

    def __init__(self, module_names: dict, *, names: set | None, heads, dtype, keep_graph: bool = False):
        self.module_names = module_names  # id(module) -> name
        self.names = names
        self.heads = heads
        self.dtype = dtype
        self.keep_graph = keep_graph
        self.records: list[tuple[str, torch.Tensor]] = []
        self.extra: list[dict] = []
        self.expected = 0  # number of layers to preallocate for (0: none)
        self.buffer: torch.Tensor | None = None  # (L, B, H, Q, K) when preallocated
        self.scratch: dict = {}

    def slot(self, shape: tuple, dtype: torch.dtype, device) -> torch.Tensor | None:
        """Where the next record should be written: a slice of one preallocated
        ``(L, B, H, Q, K)`` buffer, so no copy is needed when assembling."""
        if self.keep_graph or not self.expected:
            return None
        dtype = self.dtype or (torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype)
        i = len(self.records)
        if self.buffer is None and i == 0:
            self.buffer = torch.empty((self.expected, *shape), dtype=dtype, device=device)
        b = self.buffer
        if b is None or i >= b.shape[0] or tuple(b.shape[1:]) != tuple(shape) or b.dtype != dtype:
            return None
        return b[i]

    def buffered(self, idx: list[int]) -> torch.Tensor | None:
        """The preallocated buffer ``(B, L, H, Q, K)`` when ``idx`` selects exactly its layers."""
        b = self.buffer
        if b is None or idx != list(range(b.shape[0])) or len(self.records) != b.shape[0]:
            return None
        if any(t.data_ptr() != b[i].data_ptr() for i, (_, t) in enumerate(self.records)):
            return None
        return b.transpose(0, 1)

    def name_of(self, module: Any) -> str | None:
        return self.module_names.get(id(module))

    def wants(self, name: str | None) -> bool:
        return name is not None and (self.names is None or name in self.names)

    def check_heads(self, n_heads: int, name: str) -> None:
        if self.heads is None:
            return
        bad = [h for h in self.heads if not 0 <= h < n_heads]
        if bad:
            raise ValueError(f"heads={list(self.heads)}: head {bad[0]} is out of range, {name} has {n_heads} heads (0..{n_heads - 1})")

    def add(self, name: str, w: torch.Tensor, *, heads_selected: bool = False, **extra: Any) -> None:
        if w.dim() == 3:  # unbatched (H, Q, K)
            w = w[None]
        if w.dim() != 4:
            raise ValueError(f"attention of {name} must be (B, H, Q, K), got shape {tuple(w.shape)}")
        if self.heads is not None and not heads_selected:
            self.check_heads(w.shape[1], name)
            w = w[:, list(self.heads)]
        if not self.keep_graph and w.dim() == 4:
            dest = self.slot(tuple(w.shape), w.dtype, w.device)
            if dest is not None and dest.data_ptr() != w.data_ptr():
                dest.copy_(w.detach())
            if dest is not None:
                w = dest
        if not self.keep_graph:
            w = w.detach()
            if self.dtype is not None:
                w = w.to(self.dtype)
            elif w.dtype in (torch.float16, torch.bfloat16):
                w = w.float()
        self.records.append((name, w))
        self.extra.append(extra)
