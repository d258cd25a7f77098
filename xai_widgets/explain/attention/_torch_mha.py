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

Threads: the hooks act only in the thread that runs the capture (a forward
of the same model in another thread is neither recorded nor changed). The
fast-path switch is process-wide, so it is reference-counted: the first of
several concurrent captures switches it off, the last one restores the
setting it found; meanwhile every ``nn.MultiheadAttention`` in the process
(also in other threads) takes the slow path, with the same outputs up to
float rounding.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Iterator

import torch
from torch import nn

from .._core import this_thread_only
from ._common import Recorder

_FASTPATH_LOCK = threading.Lock()
#: [captures running, fast-path setting found by the first of them]
_FASTPATH_STATE: list = [0, None]


@contextlib.contextmanager
def slow_path() -> Iterator[None]:
    """Switch the fused MHA fast path off for the block; reference-counted across threads."""
    with _FASTPATH_LOCK:
        if _FASTPATH_STATE[0] == 0:
            _FASTPATH_STATE[1] = torch.backends.mha.get_fastpath_enabled()
            torch.backends.mha.set_fastpath_enabled(False)
        _FASTPATH_STATE[0] += 1
    try:
        yield
    finally:
        with _FASTPATH_LOCK:
            _FASTPATH_STATE[0] -= 1
            if _FASTPATH_STATE[0] == 0:
                torch.backends.mha.set_fastpath_enabled(_FASTPATH_STATE[1])

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

    with slow_path():
        try:
            for name, fn in (custom or {}).items():
                hook = this_thread_only(custom_hook(name, fn))
                handles.append(modules[name].register_forward_hook(hook, with_kwargs=True))
            for name, m in mha_modules(model):
                if custom and name in custom:
                    continue
                handles.append(m.register_forward_hook(this_thread_only(mha_hook(name)), with_kwargs=True))
            yield
        finally:
            for h in handles:
                h.remove()
