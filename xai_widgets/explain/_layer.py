"""Layer attribution plumbing: read or replace one submodule's output (or input).

Gradient kernels called with ``layer=`` attribute to the *output* of a
submodule (like Captum's ``Layer*`` methods with
``attribute_to_layer_input=False``), or with ``layer_input=True`` to its
*input* — the first positional tensor argument the module is called with
(Captum's ``attribute_to_layer_input=True``). Three operations are needed:

* **capture** — run the model and keep what the layer returned (or was
  given);
* **leaf** — the same, as a fresh leaf tensor that requires grad, and the
  model continues from that leaf, so a single forward/backward gives the
  gradient with respect to it;
* **replace** — run the model with the layer's output (or input) swapped for
  a given tensor, so gradients are taken with respect to that tensor.

Outputs are tapped with a forward hook, inputs with a forward pre-hook.
Replacing a layer's input changes what *that module* sees; other consumers
of the same tensor (a skip connection around the module) keep the real
value, so the attribution is to the path through the module.

Both count how often the layer runs in one forward pass. A module that is
called more than once (EfficientNet-Lite reuses one ``nn.ReLU6`` per block)
has no single output or input, so a clear ``ValueError`` is raised instead
of silently attributing to one of its calls. Hooks are registered through
:func:`._core.hooks` and removed on every exit path.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from ._core import hooks, resolve_layer, this_thread_only

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
    """One submodule of ``model`` whose output (or input) is captured or replaced.

    Parameters
    ----------
    model : nn.Module
    layer : nn.Module or str
        The submodule (object or dotted name, see :func:`._core.resolve_layer`).
    layer_input : bool
        Tap the module's first positional tensor argument instead of its output.

    Attributes
    ----------
    hook_error : Exception or None
        The last error raised by the tap's own hook (not by the model), so a
        caller that wraps the model's errors can let the tap's through as they are.

    Example
    -------
    >>> tap = LayerTap(model, model.embeddings)                     # doctest: +SKIP
    >>> out, z = tap.run(lambda: model(ids), capture=True)          # z: the embeddings
    >>> out, z = tap.run(lambda: model(ids), replace=z2)            # model sees z2 instead
    """

    def __init__(self, model: nn.Module, layer: Any, *, layer_input: bool = False) -> None:
        self.name, self.module = resolve_layer(model, layer)
        self.layer_input = bool(layer_input)
        self.hook_error: BaseException | None = None

    @property
    def what(self) -> str:
        """``"input"`` or ``"output"``: the tensor of the layer that is tapped."""
        return "input" if self.layer_input else "output"

    def describe(self) -> str:
        return f"{self.name!r} ({type(self.module).__name__})"

    def _fail(self, err: BaseException) -> BaseException:
        self.hook_error = err
        return err

    def _tap(self, t: torch.Tensor, *, capture: bool, leaf: bool, replace: torch.Tensor | None,
             state: _State) -> torch.Tensor | None:
        """The tensor the model continues with in place of ``t`` (None: keep ``t``)."""
        name = self.describe()
        if (leaf or replace is not None) and not t.is_floating_point():
            raise self._fail(ValueError(
                f"the {self.what} of layer {name} has dtype {t.dtype} (shape {tuple(t.shape)}), which has no "
                "gradient; attribute to a layer whose " + self.what + " is floating point"
                + (" (e.g. its output: layer_input=False)" if self.layer_input else "")
            ))
        if replace is not None:
            if tuple(replace.shape) != tuple(t.shape):
                raise self._fail(ValueError(
                    f"replacement for the {self.what} of layer {name} has shape {tuple(replace.shape)} but the "
                    f"layer's {self.what} has shape {tuple(t.shape)}"
                ))
            state.value = replace
            # a copy, so in-place ops downstream (ReLU(inplace=True)) never touch the caller's tensor
            return replace.to(t.dtype).clone()
        if leaf:
            z = t.detach().clone().requires_grad_()
            state.value = z
            return z.clone()
        if capture:
            # a copy: an in-place op later in the pass (ReLU(inplace=True)) must not change what was captured
            state.value = t.detach().clone()
        return None

    def run(
        self,
        forward: Callable[[], Any],
        *,
        capture: bool = False,
        leaf: bool = False,
        replace: torch.Tensor | None = None,
    ) -> tuple[Any, torch.Tensor | None]:
        """Call ``forward()`` (one model forward pass) with the layer tapped.

        ``capture=True`` returns the layer's output (input), detached.
        ``leaf=True`` returns it as a new leaf that requires grad, and the
        model continues from that leaf (so ``autograd.grad(score, z)`` is the
        gradient with respect to it). ``replace=t`` makes the layer return
        (receive) ``t``, of the same shape as the real tensor; gradients reach ``t``.

        Returns ``(model output, tensor or None)``. Raises ``ValueError`` if
        the layer ran zero times or more than once in the pass.
        """
        state = _State()
        name = self.describe()
        self.hook_error = None
        opts = {"capture": capture, "leaf": leaf, "replace": replace, "state": state}

        def out_hook(module: nn.Module, args: Any, out: Any) -> Any:
            state.calls += 1
            if state.calls > 1:  # reused module: leave later calls alone, report after the pass
                return None
            try:
                t, rest, kind = _split(out, self.name)
            except TypeError as e:
                raise self._fail(e) from None
            new = self._tap(t, **opts)
            return None if new is None else _join(new, rest, kind)

        def in_hook(module: nn.Module, args: Any) -> Any:
            state.calls += 1
            if state.calls > 1:
                return None
            i = next((j for j, a in enumerate(args) if isinstance(a, torch.Tensor)), None)
            if i is None:
                raise self._fail(ValueError(
                    f"layer {name} was called without a positional tensor argument (got "
                    f"{[type(a).__name__ for a in args]}; keyword arguments are not tapped), so "
                    "layer_input=True has no input to attribute to; pick the module that receives "
                    "the tensor positionally, or attribute to a layer's output"
                ))
            new = self._tap(args[i], **opts)
            return None if new is None else args[:i] + (new,) + args[i + 1 :]

        if self.layer_input:
            register = lambda: self.module.register_forward_pre_hook(this_thread_only(in_hook))  # noqa: E731
        else:
            register = lambda: self.module.register_forward_hook(this_thread_only(out_hook))  # noqa: E731
        with hooks(register):
            out = forward()
        if state.calls == 0:
            raise ValueError(
                f"layer {name} was not called during the model's forward pass, so nothing can be "
                f"attributed to its {self.what}; pick a submodule that the forward pass runs"
            )
        if state.calls > 1:
            raise ValueError(
                f"layer {name} is called {state.calls} times in one forward pass (the module object "
                f"is reused), so it has no single {self.what} to attribute to and hook-based results would "
                "be wrong; pick a submodule that runs exactly once per forward pass (e.g. the block "
                "that contains it, or a module wrapping one of its uses)"
            )
        return out, state.value
