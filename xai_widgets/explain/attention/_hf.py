"""Hugging Face interception: wrap the attention function every HF attention module calls.

Transformers' attention modules compute ``query``/``key``/``value`` (after
rotary embeddings, with the key/value cache applied) and hand them to
``ALL_ATTENTION_FUNCTIONS.get_interface(config._attn_implementation, eager_attention_forward)``
(``eager``, ``sdpa``, ``flash_attention_*``, ``flex_attention`` ...). For the
duration of a capture, ``AttentionInterface.get_interface`` (and
``__getitem__``) return a wrapper around the function they would have
returned. The wrapper calls that function with the same arguments (so the
outputs are exactly the model's) and then records the weights:

* when the function returned weights of shape ``(B, H, Q, K)`` (eager), those;
* otherwise it computes ``softmax(q kᵀ·scaling + position_bias + mask)`` from
  the very ``query``/``key``/``attention_mask`` the function received, with
  grouped-query heads expanded and the implementation's causal rule
  (``is_causal`` / ``module.is_causal`` when no mask is passed).

In ``replace`` mode (used by ``grad_attention``) the wrapper does not call the
original function: it returns ``(weights @ value, weights)`` with weights that
stay in the autograd graph, exactly what ``eager`` does.

Threads: the patch is on a class, so it is process-wide. It is installed by
the first of several concurrent captures and removed by the last (a lock and
a count), and the patched lookups consult a thread-local stack of recorders:
in a thread with no capture running they return the original function
untouched, so another thread's forward of the same (or any) model is neither
recorded nor changed.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import threading
from typing import Any, Callable, Iterator

import torch
from torch import nn

from ._common import Recorder, softmax_weights

try:  # transformers is optional for the library as a whole
    from transformers.modeling_utils import AttentionInterface
except Exception:  # pragma: no cover - depends on environment
    AttentionInterface = None

_WRAPPED = "_xai_widgets_attention_wrapper"


def available() -> bool:
    return AttentionInterface is not None


@functools.lru_cache(maxsize=None)
def _class_calls_interface(cls: type) -> bool:
    try:
        src = inspect.getsource(cls.forward)
    except (OSError, TypeError):
        return False
    return "attention_interface" in src or "ALL_ATTENTION_FUNCTIONS" in src


def attention_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """HF attention modules (those that call the attention interface), in registration order."""
    if not available():
        return []
    return [(n, m) for n, m in model.named_modules() if hasattr(m, "config") and _class_calls_interface(type(m))]


@functools.lru_cache(maxsize=None)
def _signature(fn: Callable) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def _arguments(fn: Callable, args: tuple, kwargs: dict) -> dict:
    """Named arguments of an attention-function call (``module, query, key, value, attention_mask, ...``)."""
    sig = _signature(fn)
    out: dict = {}
    if sig is not None:
        try:
            bound = sig.bind_partial(*args, **kwargs)
            for k, v in bound.arguments.items():
                if sig.parameters[k].kind is inspect.Parameter.VAR_KEYWORD:
                    out.update(v)
                elif sig.parameters[k].kind is not inspect.Parameter.VAR_POSITIONAL:
                    out[k] = v
            return out
        except TypeError:
            pass
    names = ["module", "query", "key", "value", "attention_mask"]
    out.update(dict(zip(names, args)))
    out.update(kwargs)
    return out


def weights_from_call(impl: str | None, a: dict, heads=None, out=None, scratch=None) -> torch.Tensor:
    """Recompute the attention weights of one attention-function call."""
    module, q, k = a["module"], a["query"], a["key"]
    mask = a.get("attention_mask")
    scaling = a.get("scaling")
    if scaling is None:
        scaling = getattr(module, "scaling", None)
    is_causal = a.get("is_causal")
    if is_causal is None:
        is_causal = getattr(module, "is_causal", True)
    key_padding = None
    if mask is not None and not isinstance(mask, torch.Tensor):
        raise TypeError(
            f"capture_attention cannot read the {type(mask).__name__} mask of attn_implementation={impl!r}; "
            "load the model with attn_implementation='sdpa' or 'eager'"
        )
    causal = False
    if mask is None:
        causal = bool(is_causal) and impl not in (None, "eager", "paged|eager")
    elif mask.dim() == 2:  # flash-attention style padding mask (B, K), 1 = real token
        key_padding, mask = mask, None
        causal = bool(is_causal)
    sinks = a.get("s_aux")
    return softmax_weights(
        q,
        k,
        attn_mask=mask,
        scale=scaling,
        is_causal=causal,
        heads=heads,
        position_bias=a.get("position_bias"),
        softcap=a.get("softcap"),
        sinks=sinks,
        key_padding=key_padding,
        sliding_window=a.get("sliding_window") if causal else None,
        out=out,
        scratch=scratch,
    )


def _make_wrapper(fn: Callable, impl: str | None, rec: Recorder, replace: bool) -> Callable:
    if getattr(fn, _WRAPPED, False):
        return fn

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any):
        module = args[0] if args else kwargs.get("module")
        name = rec.name_of(module)
        if replace and rec.wants(name):
            a = _arguments(fn, args, kwargs)
            w = weights_from_call(impl, a)
            v = a["value"]
            if v.shape[1] != w.shape[1]:
                v = v.repeat_interleave(w.shape[1] // v.shape[1], dim=1)
            out = torch.matmul(w.to(v.dtype), v).transpose(1, 2).contiguous()
            rec.add(name, w)
            return out, w
        out = fn(*args, **kwargs)
        if rec.wants(name):
            a = _arguments(fn, args, kwargs)
            q, k = a["query"], a["key"]
            w = out[1] if isinstance(out, tuple) and len(out) > 1 else None
            shape = (q.shape[0], q.shape[1], q.shape[2], k.shape[2])
            if isinstance(w, torch.Tensor) and tuple(w.shape) == shape:
                rec.add(name, w)
            else:
                if rec.heads is not None:
                    rec.check_heads(q.shape[1], name)
                nh = len(rec.heads) if rec.heads is not None else q.shape[1]
                dest = rec.slot((q.shape[0], nh, q.shape[2], k.shape[2]), q.dtype, q.device)
                with torch.no_grad():
                    w = weights_from_call(impl, a, heads=rec.heads, out=dest, scratch=rec.scratch)
                rec.add(name, w, heads_selected=True)
        return out

    setattr(wrapper, _WRAPPED, True)
    return wrapper


_PATCH_LOCK = threading.Lock()
#: [captures running in any thread, {name: the class's own attribute before patching}]
_PATCH_STATE: list = [0, {}]
_PATCHED = ("get_interface", "__getitem__")
#: per thread: a stack of (recorder, replace) for the captures running in that thread
_LOCAL = threading.local()


def _active() -> tuple[Recorder, bool] | None:
    stack = getattr(_LOCAL, "stack", None)
    return stack[-1] if stack else None


def _install() -> None:
    cls = AttentionInterface
    saved = {k: cls.__dict__[k] for k in _PATCHED if k in cls.__dict__}
    orig_get = cls.get_interface
    orig_item = cls.__getitem__

    def get_interface(self, attn_implementation, default):
        fn = orig_get(self, attn_implementation, default)
        run = _active()
        return fn if run is None else _make_wrapper(fn, attn_implementation, run[0], run[1])

    def getitem(self, key):
        fn = orig_item(self, key)
        run = _active()
        return fn if run is None else _make_wrapper(fn, key, run[0], run[1])

    cls.get_interface = get_interface
    cls.__getitem__ = getitem
    _PATCH_STATE[1] = saved


def _uninstall() -> None:
    cls = AttentionInterface
    saved = _PATCH_STATE[1]
    for k in _PATCHED:
        if k in saved:
            setattr(cls, k, saved[k])
        elif k in cls.__dict__:
            delattr(cls, k)
    _PATCH_STATE[1] = {}


@contextlib.contextmanager
def intercept(rec: Recorder, *, replace: bool = False) -> Iterator[None]:
    """Route this thread's attention calls through ``rec`` for the block; patch removed by the last capture."""
    if not available():
        yield
        return
    with _PATCH_LOCK:
        if _PATCH_STATE[0] == 0:
            _install()
        _PATCH_STATE[0] += 1
    stack = getattr(_LOCAL, "stack", None)
    if stack is None:
        stack = _LOCAL.stack = []
    stack.append((rec, replace))
    try:
        yield
    finally:
        stack.pop()
        with _PATCH_LOCK:
            _PATCH_STATE[0] -= 1
            if _PATCH_STATE[0] == 0:
                _uninstall()
