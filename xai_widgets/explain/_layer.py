"""Layer attribution plumbing: read or replace one submodule's output.

Gradient kernels called with ``layer=`` attribute to the *output* of a
submodule (like Captum's ``Layer*`` methods with
``attribute_to_layer_input=False``). Two operations are needed:

* **capture** — run the model and keep what the layer returned (optionally
  as a fresh leaf tensor that requires grad, so a single forward/backward
  gives the gradient with respect to the layer output);
* **replace** — run the model with the layer's output swapped for a given
  tensor (a forward hook that returns the replacement), so gradients are
  taken with respect to that tensor.

Both count how often the layer runs in one forward pass. A module that is
called more than once (EfficientNet-Lite reuses one ``nn.ReLU6`` per block)
has no single "output", so a clear ``ValueError`` is raised instead of
silently attributing to one of its calls. Hooks are registered through
:func:`._core.hooks` and removed on every exit path.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from ._core import hooks, resolve_layer

__all__ = ["LayerTap"]


def _split(out: Any, name: str) -> tuple[torch.Tensor, tuple | None, type | None]:
    """``out`` → (tensor, rest, container type); tuples/lists use their first item."""
    if isinstance(out, torch.Tensor):
        return out, None, None
    if isinstance(out, (tuple, list)) and len(out) and isinstance(out[0], torch.Tensor):
        return out[0], tuple(out[1:]), type(out)
    raise TypeError(
        f"layer {name!r} returned {type(out).__name__}; layer attribution needs a module whose "
        "output is a tensor (or a tuple whose first item is a tensor)"
    )


def _join(t: torch.Tensor, rest: tuple | None, kind: type | None) -> Any:
    if kind is None:
        return t
    items = (t,) + tuple(rest or ())
    return items if kind is tuple else kind(items)


class _State:
    __slots__ = ("calls", "value")

    def __init__(self) -> None:
        self.calls = 0
        self.value: torch.Tensor | None = None


class LayerTap:
    """One submodule of ``model`` whose output is captured or replaced.

    Parameters
    ----------
    model : nn.Module
    layer : nn.Module or str
        The submodule (object or dotted name, see :func:`._core.resolve_layer`).

    Example
    -------
    >>> tap = LayerTap(model, model.embeddings)                     # doctest: +SKIP
    >>> out, z = tap.run(lambda: model(ids), capture=True)          # z: the embeddings
    >>> out, z = tap.run(lambda: model(ids), replace=z2)            # model sees z2 instead
    """

    def __init__(self, model: nn.Module, layer: Any) -> None:
        self.name, self.module = resolve_layer(model, layer)

    def describe(self) -> str:
        return f"{self.name!r} ({type(self.module).__name__})"

    def run(
        self,
        forward: Callable[[], Any],
        *,
        capture: bool = False,
        leaf: bool = False,
        replace: torch.Tensor | None = None,
    ) -> tuple[Any, torch.Tensor | None]:
        """Call ``forward()`` (one model forward pass) with the layer tapped.

        ``capture=True`` returns the layer output, detached. ``leaf=True``
        returns it as a new leaf that requires grad, and the model continues
        from that leaf (so ``autograd.grad(score, z)`` is the gradient with
        respect to the layer output). ``replace=t`` makes the layer return
        ``t`` (same shape as its real output); gradients reach ``t``.

        Returns ``(model output, tensor or None)``. Raises ``ValueError`` if
        the layer ran zero times or more than once in the pass.
        """
        state = _State()
        name = self.describe()

        def hook(module: nn.Module, args: Any, out: Any) -> Any:
            state.calls += 1
            if state.calls > 1:  # reused module: leave later calls alone, report after the pass
                return None
            t, rest, kind = _split(out, self.name)
            if replace is not None:
                if tuple(replace.shape) != tuple(t.shape):
                    raise ValueError(
                        f"replacement for layer {name} has shape {tuple(replace.shape)} but the layer "
                        f"produced {tuple(t.shape)}"
                    )
                state.value = replace
                # a copy, so in-place ops downstream (ReLU(inplace=True)) never touch the leaf
                return _join(replace.to(t.dtype).clone(), rest, kind)
            if leaf:
                z = t.detach().requires_grad_()
                state.value = z
                return _join(z.clone(), rest, kind)
            if capture:
                state.value = t.detach()
            return None

        with hooks(lambda: self.module.register_forward_hook(hook)):
            out = forward()
        if state.calls == 0:
            raise ValueError(
                f"layer {name} was not called during the model's forward pass, so nothing can be "
                "attributed to its output; pick a submodule that the forward pass runs"
            )
        if state.calls > 1:
            raise ValueError(
                f"layer {name} is called {state.calls} times in one forward pass (the module object "
                "is reused), so it has no single output to attribute to and hook-based results would "
                "be wrong; pick a submodule that runs exactly once per forward pass (e.g. the block "
                "that contains it, or a module wrapping one of its uses)"
            )
        return out, state.value
