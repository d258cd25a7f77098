"""``nn.MultiheadAttention`` (alone, or inside ``nn.TransformerEncoderLayer`` /
``nn.TransformerDecoderLayer`` / ``nn.TransformerEncoder``).

The transformer layers call ``self_attn(..., need_weights=False)`` and, in
eval mode, may take a fused "fast path" (``torch._transformer_encoder_layer_fwd``,
nested tensors) that never calls ``self_attn`` at all. During a capture:

* the fast path is switched off with ``torch.backends.mha.set_fastpath_enabled(False)``
  (the previous setting is restored on exit), so every layer runs its
  ordinary Python path and calls its attention module;
* a forward hook (with kwargs) on each ``nn.MultiheadAttention`` lets the
  call produce its output untouched, then calls ``module.forward`` once more
  on the same query/key/value and masks with ``need_weights=True,
  average_attn_weights=False`` to read the per-head weights ``(B, H, Q, K)``.

The slow path gives the same outputs as the fast path up to float rounding
(~1e-6).
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import torch
from torch import nn

from ._common import Recorder

_ARG_NAMES = ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask", "average_attn_weights", "is_causal")


def mha_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.MultiheadAttention)]


def _mha_call(args: tuple, kwargs: dict) -> dict:
    a = dict(zip(_ARG_NAMES, args))
    a.update(kwargs)
    return a


@contextlib.contextmanager
def intercept(model: nn.Module, rec: Recorder, custom: dict[str, Callable] | None = None) -> Iterator[None]:
    """Hook every ``nn.MultiheadAttention`` (and the user's ``custom`` modules); slow path forced."""
    handles = []
    modules = dict(model.named_modules())
    busy = set()

    def mha_hook(name):
        def hook(module, args, kwargs, output):
            if not rec.wants(name) or name in busy:
                return None
            a = _mha_call(args, kwargs)
            busy.add(name)
            try:
                with torch.no_grad():
                    _, w = module.forward(
                        a["query"], a["key"], a["value"],
                        key_padding_mask=a.get("key_padding_mask"),
                        need_weights=True,
                        attn_mask=a.get("attn_mask"),
                        average_attn_weights=False,
                        is_causal=a.get("is_causal", False),
                    )
            finally:
                busy.discard(name)
            kpm = a.get("key_padding_mask")
            rec.add(name, w, key_padding_mask=kpm)
            return None

        return hook

    def custom_hook(name, fn):
        def hook(module, args, kwargs, output):
            if not rec.wants(name):
                return None
            w = fn(module, args, kwargs, output)
            if not isinstance(w, torch.Tensor):
                raise TypeError(f"the function for module {name!r} must return a tensor (B, H, Q, K), got {type(w).__name__}")
            rec.add(name, w)
            return None

        return hook

    prev = torch.backends.mha.get_fastpath_enabled()
    try:
        torch.backends.mha.set_fastpath_enabled(False)
        for name, fn in (custom or {}).items():
            handles.append(modules[name].register_forward_hook(custom_hook(name, fn), with_kwargs=True))
        for name, m in mha_modules(model):
            if custom and name in custom:
                continue
            handles.append(m.register_forward_hook(mha_hook(name), with_kwargs=True))
        yield
    finally:
        for h in handles:
            h.remove()
        torch.backends.mha.set_fastpath_enabled(prev)
