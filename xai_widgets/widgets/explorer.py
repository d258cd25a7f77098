"""Explorer: pick a sample, a class and a method in the notebook; the kernel recomputes in the background.

``xw.explore(model, inputs)`` returns an :class:`Explorer`. The user picks the
sample, the target class (the top classes with their probabilities, or any
class by search), the method and its main parameters; each change starts the
kernel in a worker thread (one at a time per explorer: a new request cancels
the running one), the widget shows the progress and a Cancel button, and
every result is cached per ``(sample, target, method, params)`` so going back
is instant. Results can be pinned side by side.

Threading model
---------------
Setting ``sample``, ``target``, ``method`` or ``params`` (from Python or the
browser) validates the value, then either shows the cached result at once
(``status == "done"`` before the assignment returns) or sets ``status =
"running"`` and starts a ``threading.Thread`` that runs the kernel inside a
:func:`~xai_widgets.explain._cancel.cancel_scope`. The kernels check that
scope at every progress step (one chunk of rows), and the explorer passes a
``batch_size`` sized from the timing of one forward pass so a chunk takes
about 0.1 s: a cancel stops the run well within a second, and the model is
restored by the kernel's own cleanup (hooks removed, modes and
``requires_grad`` restored). The worker writes few traits: ``status``,
``progress`` (at most ~10 times a second) and the map bytes once.
Because nothing depends on a Jupyter event loop, the explorer also works from
a plain Python script (:meth:`Explorer.wait` blocks until a run ends).
"""
from __future__ import annotations

import math
import threading
import time
from typing import Any, Sequence

import numpy as np
import traitlets

from .._display import as_images, reduce_map, token_layout
from ..attribution import Attribution
from ..explain import registry
from ..explain._cancel import Cancelled, cancel_scope
from . import _serialize as ser
from ._base import XWidget
from ._traits import Index, WidgetTypeError, WidgetValueError, as_int

__all__ = ["Explorer", "explore"]

#: Classes listed with their probabilities for each sample.
TOP_K = 5
#: Longest side of the picture sent to the browser.
MAX_SIDE = 320
#: Superpixels per image for Kernel SHAP.
SUPERPIXELS = 50
#: Seconds one chunk of rows should take (so a cancel lands fast).
CHUNK_SECONDS = 0.1
#: Pinned results kept side by side.
MAX_PINS = 6
#: Deletion/insertion steps of the trust panel (11 points per curve).
TRUST_STEPS = 10
#: Progress trait writes per second at most.
_PROGRESS_HZ = 10.0

_STATUSES = ("idle", "running", "done", "cancelled", "error")


def _torch() -> Any:
    import torch

    return torch


def _has_conv(model: Any) -> bool:
    from torch import nn

    return any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules())


def _probabilities(scores: np.ndarray) -> tuple[np.ndarray, str]:
    """Scores ``(K,)`` → (numbers shown next to the classes, their name).

    Multi-class logits get a softmax ("probability"); outputs that already
    are a distribution (in [0, 1], summing to 1) are shown as they are; a
    single output is shown as its raw "score" (a sigmoid would assume a
    binary logit, which the explorer cannot know).
    """
    s = np.asarray(scores, np.float64)
    if s.size == 1:
        return s, "score"
    if (s >= 0).all() and (s <= 1).all() and abs(s.sum() - 1) < 1e-3:
        return s, "probability"
    e = np.exp(s - s.max())
    return e / e.sum(), "probability"


def _key_params(params: dict) -> tuple:
    return tuple(sorted(params.items()))


class _Job:
    """One run in the worker thread: a map (``key`` is a result key) or the trust checks of one (``trust`` set)."""

    __slots__ = ("key", "event", "thread", "trust")

    def __init__(self, key: tuple, trust: tuple | None = None) -> None:
        self.key = key
        self.event = threading.Event()
        self.thread: threading.Thread | None = None
        self.trust = trust  # None, or the checks asked for: ("faithfulness",) or ("faithfulness", "sanity")


class Explorer(XWidget):
    """A live explorer: sample × class × method, recomputed in a background thread.

    Parameters
    ----------
    model, inputs, methods, output_names, tokenizer, background, layer
        As for :func:`explore`, which builds it (``xw.explore(model, inputs,
        ...)`` is the usual way in).

    Attributes
    ----------
    Synced traits (read and set them from Python):

    - ``sample`` (int): the row of ``inputs`` shown; changing it moves
      ``target`` to that sample's top class.
    - ``target`` (int): the class explained (an output index).
    - ``method`` (str): a kernel's function name, e.g. ``"saliency"``,
      ``"integrated_gradients"``, ``"grad_cam"`` (``methods`` lists those
      that apply; ``unavailable`` says why the others do not).
    - ``params`` (dict): that kernel's keyword arguments the explorer lets
      you set (:mod:`xai_widgets.explain.registry`: e.g. ``{"steps": 32}``);
      changing ``method`` sets them to that method's last used (or default)
      values. Occlusion's ``window``/``stride`` are the side of a square
      patch over every channel and its step (``window=(C, w, w)``).
    - ``status``: "idle", "running", "done", "cancelled" or "error" (then
      ``error`` holds ``"<ExceptionType>: <message>"``, the message Python
      raised); ``progress`` in [0, 1].

    An unknown method or parameter (or one of the wrong type or range)
    raises ``ValueError`` at assignment, before any work.

    ``current`` is the :class:`~xai_widgets.Attribution` on screen;
    ``results`` every cached one keyed by ``(sample, target, method,
    params)`` with ``params`` as a sorted tuple of items, e.g.
    ``(0, 3, "integrated_gradients", (("steps", 32),))``.

    What is explained: row ``i`` of ``inputs`` alone, ``inputs[i:i+1]``
    (text: the row's tokens where the attention mask is 1), with the kernel's
    defaults except for the parameters above, ``batch_size`` (chosen for
    fast cancellation; it changes no value beyond float rounding) and, for
    text, ``layer=`` the embedding layer and ``forward_kwargs`` the
    attention mask. SHAP methods use ``background`` (default: one all-zero
    row for images; for text, the row with every non-special token replaced
    by the tokenizer's mask token, or its pad token). Kernel SHAP groups
    pixels into about 50 SLIC superpixels (images) or tokens into words
    (text).

    Examples
    --------
    >>> e = xw.explore(model, images, output_names=names)           # doctest: +SKIP
    >>> e.method = "integrated_gradients"; e.params = {"steps": 16}  # doctest: +SKIP
    >>> e.wait().values.shape                                         # doctest: +SKIP
    (1, 3, 224, 224)
    """

    _bundle = "explorer"

    sample = Index(0, what="sample").tag(sync=True)
    target = Index(0, what="target").tag(sync=True)
    method = traitlets.Unicode("saliency").tag(sync=True)
    params = traitlets.Dict().tag(sync=True)
    status = traitlets.Unicode("idle").tag(sync=True)
    progress = traitlets.Float(0.0).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    # description (set once)
    kind = traitlets.Unicode("image").tag(sync=True)
    n_samples = traitlets.Int(1).tag(sync=True)
    _methods = traitlets.List().tag(sync=True)  # [{name, label, params: [...], description}]
    _unavailable = traitlets.List().tag(sync=True)  # [{name, label, reason}]
    _class_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    _sample_labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    _note = traitlets.Unicode("").tag(sync=True)

    # the current sample
    _topk = traitlets.List().tag(sync=True)  # [[class index, score]]
    _score_label = traitlets.Unicode("probability").tag(sync=True)
    _image = traitlets.Bytes(b"").tag(sync=True)
    _image_meta = traitlets.Dict().tag(sync=True)
    _tokens = traitlets.List(traitlets.Unicode()).tag(sync=True)
    _token_flags = traitlets.List(traitlets.Int()).tag(sync=True)

    # the map on screen
    _map = traitlets.Bytes(b"").tag(sync=True)
    _map_meta = traitlets.Dict().tag(sync=True)
    _map_title = traitlets.Unicode("").tag(sync=True)

    # trust of the map on screen: scalars (residual, AUCs, sanity verdict) and the four curves
    # float32 (4, TRUST_STEPS + 1): deletion, its random-order reference, insertion, its reference
    _trust = traitlets.Dict().tag(sync=True)
    _trust_curves = traitlets.Bytes(b"").tag(sync=True)
    _trust_meta = traitlets.Dict().tag(sync=True)

    # pinned results: flat float32 maps and uint8 images, sliced by the offsets in _pins
    _pins = traitlets.List().tag(sync=True)
    _pin_maps = traitlets.Bytes(b"").tag(sync=True)
    _pin_images = traitlets.Bytes(b"").tag(sync=True)

    _OPTIONS = ("methods", "output_names", "tokenizer", "background", "layer")
    _RANGES = {
        "sample": ("_n", "in [0, {last}] (the batch has {n} rows)"),
        "target": ("_k", "an output index in [0, {last}] (the model has {n} outputs)"),
    }
    _DATA_ATTRS = ("_model", "_x", "_ids", "_masks", "_images", "_background", "_tokenizer", "_layer",
                   "_scores_cache", "_groups_cache")

    def __init__(self, model: Any, inputs: Any, *, methods: Sequence[str] | None = None,
                 output_names: Sequence[str] | None = None, tokenizer: Any = None, background: Any = None,
                 layer: Any = None, **kwargs: Any) -> None:
        torch = _torch()
        from torch import nn

        self._check_options(kwargs)
        if not isinstance(model, nn.Module):
            raise WidgetTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self._lock = threading.RLock()
        self._job: _Job | None = None
        self._cache: dict[tuple, Attribution] = {}
        self._trust_cache: dict[tuple, dict] = {}
        self._shown_key: tuple | None = None
        self._pin_keys: list[tuple] = []
        self._suspend = 0
        self._closed = False
        self._last_params: dict[str, dict] = {}
        self._scores_cache: dict[int, np.ndarray] = {}
        self._groups_cache: dict[int, Any] = {}
        self._forward_seconds = 0.0
        self._model = model
        self._tokenizer = tokenizer
        self._layer = None
        self._x = self._ids = self._masks = self._images = None
        self._background = None

        # ------------------------------------------------------------ inputs
        if tokenizer is not None:
            kind = "text"
            self._init_text(model, inputs, tokenizer, layer)
        else:
            if isinstance(inputs, (str, list)) and inputs and all(isinstance(s, str) for s in np.ravel(inputs)):
                raise WidgetTypeError("text inputs need tokenizer=: explore(model, texts, tokenizer=tokenizer)")
            kind = "image"
            x = inputs if isinstance(inputs, torch.Tensor) else torch.as_tensor(np.asarray(inputs))
            if x.dim() == 3:
                x = x[None]
            if x.dim() != 4 or not x.is_floating_point():
                raise WidgetValueError(
                    f"inputs must be a float batch of images (N, C, H, W), or token ids / strings with "
                    f"tokenizer=; got {'an integer' if not x.is_floating_point() else 'a float'} tensor of shape "
                    f"{tuple(x.shape)}"
                )
            if not torch.isfinite(x).all():
                raise WidgetValueError("inputs contain NaN or inf")
            self._x = x.detach()
            self._images = as_images(self._x.cpu().numpy())
            self._layer = layer
            if background is not None:
                bg = background if isinstance(background, torch.Tensor) else torch.as_tensor(np.asarray(background))
                if bg.dim() == 3:
                    bg = bg[None]
                if tuple(bg.shape[1:]) != tuple(x.shape[1:]):
                    raise WidgetValueError(
                        f"background rows must have the inputs' row shape {tuple(x.shape[1:])}, got "
                        f"{tuple(bg.shape)}"
                    )
                self._background = bg.detach().to(dtype=x.dtype)
        self._n = len(self._ids) if kind == "text" else int(self._x.shape[0])
        if self._n == 0:
            raise WidgetValueError("inputs hold no rows")

        # ------------------------------------------------ classes (one forward)
        scores0 = self._scores(0)
        self._k = int(scores0.size)
        from ..explain._core import check_output_names, resolve_output_names

        names = check_output_names(resolve_output_names(model, output_names), self._k, output_names is not None)
        self._names_given = names
        class_names = names if names is not None else [f"class {i}" for i in range(self._k)]

        # ------------------------------------------------------------ methods
        available, unavailable = self._applicable(kind, model)
        if methods is not None:
            if isinstance(methods, str):
                methods = [methods]
            wanted = [registry.get(m).name for m in methods]  # unknown → ValueError with close matches
            unavailable = [u for u in unavailable if u["name"] in wanted]
            available = [m for m in available if m in wanted]
            available = [m for m in wanted if m in available]
        if not available:
            why = "; ".join(f"{u['name']}: {u['reason']}" for u in unavailable) or "none requested"
            raise WidgetValueError(f"no attribution method applies to these inputs ({why})")
        self._available = available
        self._unavail = {u["name"]: u["reason"] for u in unavailable}

        self._kind = kind
        top = int(np.argmax(scores0))
        method0 = available[0]
        params0 = self._method_defaults(method0)
        self._suspend += 1
        try:
            super().__init__(
                kind=kind,
                n_samples=self._n,
                _methods=[self._method_spec(m) for m in available],
                _unavailable=unavailable,
                _class_names=class_names,
                _sample_labels=[self._sample_label(i) for i in range(self._n)],
                _note=self._background_note(),
                sample=0,
                target=top,
                **kwargs,
            )
            self.method = method0  # its observer fills params with the method's defaults
            self.params = params0
            self._show_sample(0)
            self.on_msg(self._on_custom)
        finally:
            self._suspend -= 1
        self._request()

    # ------------------------------------------------------------- inputs
    def _init_text(self, model: Any, inputs: Any, tokenizer: Any, layer: Any) -> None:
        torch = _torch()
        word_ids = None
        if isinstance(inputs, str):
            inputs = [inputs]
        if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(s, str) for s in inputs):
            enc = tokenizer(list(inputs), padding=True, return_tensors="pt")
            ids, mask = enc["input_ids"], enc.get("attention_mask")
            if hasattr(enc, "word_ids"):
                try:
                    word_ids = [enc.word_ids(i) for i in range(len(inputs))]
                except Exception:  # slow tokenizers have no word_ids
                    word_ids = None
        elif isinstance(inputs, dict) or hasattr(inputs, "keys"):
            ids, mask = inputs["input_ids"], inputs.get("attention_mask")
        else:
            ids, mask = inputs, None
        ids = ids if isinstance(ids, torch.Tensor) else torch.as_tensor(np.asarray(ids))
        if ids.dim() == 1:
            ids = ids[None]
        if ids.dim() != 2 or ids.is_floating_point():
            raise WidgetValueError(f"text inputs must be token ids (N, T) or strings; got a tensor of shape "
                                   f"{tuple(ids.shape)} and dtype {ids.dtype}")
        if mask is None:
            pad = getattr(tokenizer, "pad_token_id", None)
            mask = (ids != pad) if pad is not None else torch.ones_like(ids, dtype=torch.bool)
        mask = torch.as_tensor(mask).bool()
        self._ids, self._masks, self._word_ids = [], [], []
        for i in range(ids.shape[0]):
            keep = mask[i]
            self._ids.append(ids[i][keep][None].detach())
            self._masks.append(torch.ones_like(self._ids[-1]))
            if word_ids is not None:
                self._word_ids.append([w for w, k in zip(word_ids[i], keep.tolist()) if k])
            else:
                self._word_ids.append(None)
        if layer is None:
            get = getattr(model, "get_input_embeddings", None)
            if callable(get):
                try:
                    layer = get()
                except Exception:  # a model without an embedding table
                    layer = None
        self._layer = layer

    def _tokens_of(self, i: int) -> list[str]:
        ids = self._ids[i][0].tolist()
        return [str(t) for t in self._tokenizer.convert_ids_to_tokens(ids)]

    def _forward_kwargs(self, i: int) -> dict:
        return {"attention_mask": self._masks[i]} if self._kind_is_text() else {}

    def _kind_is_text(self) -> bool:
        return self._ids is not None

    def _row(self, i: int) -> Any:
        return self._ids[i] if self._kind_is_text() else self._x[i:i + 1]

    def _scores(self, i: int) -> np.ndarray:
        """The model's scores ``(K,)`` on row ``i`` (one forward pass, cached; timed to size chunks)."""
        hit = self._scores_cache.get(i)
        if hit is not None:
            return hit
        torch = _torch()
        from ..explain._core import model_as_found, to_scores

        t0 = time.perf_counter()
        with model_as_found(self._model), torch.no_grad():
            out = to_scores(self._model(self._row(i), **self._forward_kwargs(i)), n=1)
        self._forward_seconds = max(self._forward_seconds, time.perf_counter() - t0)
        s = out[0].detach().double().cpu().numpy()
        if not np.isfinite(s).all():
            raise WidgetValueError(f"the model returned NaN or inf scores on row {i}")
        self._scores_cache[i] = s
        return s

    def _sample_label(self, i: int) -> str:
        if self._kind_is_text():
            words = " ".join(t for t in token_layout(self._tokens_of(i))[0][:8])
            return f"{i} · {words[:40]}"
        return str(i)

    def _background_note(self) -> str:
        if self._kind_is_text():
            return "SHAP background: the text with its words replaced by the mask token"
        if self._background is None:
            return "SHAP background: one all-zero row (pass background= to explore)"
        return f"SHAP background: {int(self._background.shape[0])} rows"

    # ------------------------------------------------------------ methods
    def _applicable(self, kind: str, model: Any) -> tuple[list[str], list[dict]]:
        ok, no = [], []
        conv = _has_conv(model)
        for m in registry.METHODS.values():
            reason = ""
            if kind not in m.kinds:
                if m.name == "grad_cam":
                    reason = "Grad-CAM weighs a convolution layer's maps over an image; text has none"
                elif "float" in m.needs:
                    reason = "the kernel needs float inputs; token ids are integers (try integrated gradients)"
                else:
                    reason = f"does not apply to {kind} inputs"
            elif "conv" in m.needs and not conv and self._layer is None:
                reason = "the model has no convolution layer (pass layer= to explore)"
            elif kind == "text" and m.family in ("gradient",) and self._layer is None:
                reason = "needs the embedding layer: the model has no get_input_embeddings(); pass layer="
            if reason:
                no.append({"name": m.name, "label": m.label, "reason": reason})
            else:
                ok.append(m.name)
        return ok, no

    def _method_defaults(self, name: str) -> dict:
        d = registry.defaults(name)
        if name == "occlusion":
            if self._kind_is_text():
                d.update(window=1, stride=1)
            else:
                h, w = self._x.shape[-2:]
                win = int(max(1, min(16, min(h, w) // 4)))
                d.update(window=win, stride=max(1, win // 2))
        return d

    def _method_spec(self, name: str) -> dict:
        spec = registry.get(name).spec()
        defaults = self._method_defaults(name)
        for p in spec["params"]:
            p["default"] = defaults[p["name"]]
        return spec

    @property
    def methods(self) -> list[str]:
        """Names of the methods offered (the others are in ``unavailable`` with the reason)."""
        return list(self._available)

    @property
    def unavailable(self) -> dict[str, str]:
        """``{method: why it does not apply}``."""
        return dict(self._unavail)

    # --------------------------------------------------------- validation
    @traitlets.validate("method")
    def _valid_method(self, proposal: dict) -> str:
        name = proposal["value"]
        if name in getattr(self, "_unavail", {}):
            raise WidgetValueError(f"method {name!r} does not apply here: {self._unavail[name]}")
        m = registry.get(name)  # unknown → ValueError with close matches
        if hasattr(self, "_available") and m.name not in self._available:
            raise WidgetValueError(f"method {name!r} is not offered by this explorer (methods: {self._available})")
        return m.name

    @traitlets.validate("params")
    def _valid_params(self, proposal: dict) -> dict:
        value = proposal["value"]
        base = self._method_defaults(self.method) if hasattr(self, "_kind") else {}
        p = registry.get(self.method).validate(value)
        base.update(p)
        return base

    @traitlets.validate("status")
    def _valid_status(self, proposal: dict) -> str:
        if proposal["value"] not in _STATUSES:
            raise WidgetValueError(f"status must be one of {list(_STATUSES)}, got {proposal['value']!r}")
        return proposal["value"]

    # ---------------------------------------------------------- observers
    @traitlets.observe("sample")
    def _on_sample(self, change: dict) -> None:
        if self._suspend:
            return
        i = change["new"]
        self._suspend += 1
        try:
            self.target = int(np.argmax(self._scores(i)))
            self._show_sample(i)
        finally:
            self._suspend -= 1
        self._request()

    @traitlets.observe("method")
    def _on_method(self, change: dict) -> None:
        old, new = change["old"], change["new"]
        if old in registry.METHODS and self.params:
            self._last_params[old] = dict(self.params)
        self._suspend += 1
        try:
            self.params = self._last_params.get(new, self._method_defaults(new))
        finally:
            self._suspend -= 1
        if not self._suspend:
            self._request()

    @traitlets.observe("target", "params")
    def _on_change(self, change: dict) -> None:
        if not self._suspend:
            self._request()

    def _show_sample(self, i: int) -> None:
        scores = self._scores(i)
        probs, label = _probabilities(scores)
        order = np.argsort(-scores, kind="stable")[: min(TOP_K, self._k)]
        with self.hold_sync():
            self._topk = [[int(j), float(probs[j])] for j in order]
            self._score_label = label
            if self._kind_is_text():
                display, flags = token_layout(self._tokens_of(i))
                self._tokens, self._token_flags = display, flags
            else:
                img = self._display_image(i)
                self._image, self._image_meta = ser.encode(img, "uint8")

    def _display_image(self, i: int) -> np.ndarray:
        img = self._images[i]
        H, W = img.shape[:2]
        dh, dw = ser.display_size(H, W, MAX_SIDE)
        if (dh, dw) != (H, W):
            img = ser.area_resize(np.moveaxis(img, -1, 0).astype(np.float64), dh, dw)
            img = np.clip(np.round(np.moveaxis(img, 0, -1)), 0, 255).astype(np.uint8)
        return img

    # ------------------------------------------------------------- running
    def key(self) -> tuple:
        """The cache key of what is asked for now: ``(sample, target, method, params as sorted items)``."""
        return (int(self.sample), int(self.target), str(self.method), _key_params(dict(self.params)))

    def set(self, *, sample: int | None = None, target: int | None = None, method: str | None = None,
            params: dict | None = None) -> None:
        """Change several of ``sample``, ``target``, ``method``, ``params`` with one request (one run).

        Applied in that order (a new sample moves the target to its top class
        unless ``target`` is given; a new method resets the parameters unless
        ``params`` is given).
        """
        self._suspend += 1
        try:
            if sample is not None:
                self.sample = sample
                self.target = int(np.argmax(self._scores(self.sample)))
                self._show_sample(self.sample)
            if target is not None:
                self.target = target
            if method is not None:
                self.method = method
            if params is not None:
                self.params = params
        finally:
            self._suspend -= 1
        self._request()

    def _request(self) -> None:
        if self._closed or self._suspend:
            return
        key = self.key()
        with self._lock:
            prev = self._job
            if prev is not None:
                prev.event.set()
            if key in self._cache:
                self._job = None
                self._show(key)
                with self.hold_sync():
                    self.error, self.progress, self.status = "", 1.0, "done"
                return
            job = _Job(key)
            self._job = job
            with self.hold_sync():
                self.error, self.progress, self.status = "", 0.0, "running"
            t = threading.Thread(target=self._work, args=(job, prev), name="xai-widgets-explorer", daemon=True)
            job.thread = t
            t.start()

    def _work(self, job: _Job, prev: _Job | None) -> None:
        if prev is not None and prev.thread is not None:
            prev.thread.join()  # one kernel at a time: the cancelled run unwinds first
        last = [0.0]

        def on_progress(desc: str, done: int, total: int | None) -> None:
            now = time.perf_counter()
            if total and (now - last[0] >= 1 / _PROGRESS_HZ or done >= total) and self._job is job:
                last[0] = now
                self.progress = float(min(1.0, done / total))

        try:
            with cancel_scope(job.event, on_progress=on_progress, quiet=True):
                if job.event.is_set():
                    raise Cancelled()
                if job.trust is not None:
                    checks = self._compute_trust(job.key, job.trust)
                else:
                    attr = self._compute(job.key)
        except Cancelled:
            with self._lock:
                if self._job is job:
                    self.status = "cancelled"
        except Exception as e:  # shown in the widget with the message Python raised
            with self._lock:
                if self._job is job:
                    with self.hold_sync():
                        self.error = f"{type(e).__name__}: {e}"
                        self.status = "error"
        else:
            with self._lock:
                if job.trust is not None:
                    self._trust_cache.setdefault(job.key, {}).update(checks)
                    if self._job is job:
                        if self._shown_key == job.key:
                            self._push_trust(job.key)
                        with self.hold_sync():
                            self.progress, self.status = 1.0, "done"
                    return
                self._cache[job.key] = attr
                if self._job is job:
                    self._show(job.key)
                    with self.hold_sync():
                        self.progress, self.status = 1.0, "done"

    def _batch_size(self, rows_per_pass_cost: float = 3.0) -> int:
        """Rows per chunk so that one chunk (forward + backward ≈ 3 forwards) takes ~CHUNK_SECONDS."""
        t = max(self._forward_seconds, 1e-4)
        return int(max(1, min(64, CHUNK_SECONDS / (rows_per_pass_cost * t))))

    def kernel_call(self, key: tuple | None = None) -> tuple[Any, tuple, dict]:
        """``(function, args, kwargs)`` the explorer runs for ``key`` (default: the current one)."""
        sample, target, method, pkey = self.key() if key is None else key
        params = dict(pkey)
        m = registry.get(method)
        x = self._row(sample)
        text = self._kind_is_text()
        kw: dict = {}
        if self._names_given is not None:
            kw["output_names"] = self._names_given
        if text:
            kw["forward_kwargs"] = self._forward_kwargs(sample)
        bs = self._batch_size()
        if m.family == "gradient":
            kw.update(params, batch_size=bs)
            if text:
                kw["layer"] = self._layer
            return m.fn, (self._model, x, target), kw
        if m.family == "cam":
            kw.update(params)
            if self._layer is not None:
                kw["layer"] = self._layer
            return m.fn, (self._model, x, target), kw
        if m.family == "perturbation":
            w, s = params["window"], params["stride"]
            c = int(x.shape[1])  # a square patch over every channel
            kw.update(window=(c, w, w), stride=(c, s, s))
            return m.fn, (self._model, x, target), dict(kw, batch_size=bs)
        # shapley
        kw.update(params, target=target, batch_size=bs if method != "kernel_shap" else max(bs, 1))
        bg = self._shap_background(sample)
        if method == "kernel_shap":
            kw["groups"] = self._groups(sample)
        return m.fn, (self._model, x, bg), kw

    def _text_baseline_id(self) -> int:
        tok = self._tokenizer
        for name in ("mask_token_id", "pad_token_id", "unk_token_id"):
            v = getattr(tok, name, None)
            if v is not None:
                return int(v)
        return 0

    def _shap_background(self, i: int) -> Any:
        torch = _torch()
        if self._kind_is_text():
            ids = self._ids[i].clone()
            special = set(getattr(self._tokenizer, "all_special_ids", []) or [])
            keep = torch.tensor([int(t) in special for t in ids[0].tolist()])
            ids[0, ~keep] = self._text_baseline_id()
            return ids
        if self._background is not None:
            return self._background
        return torch.zeros_like(self._x[:1])

    def _groups(self, i: int) -> Any:
        g = self._groups_cache.get(i)
        if g is None:
            from ..explain.shapley import superpixel_groups, word_groups

            if self._kind_is_text():
                wid = self._word_ids[i]
                if wid is None:  # from the tokens: WordPiece "##" / SentencePiece continuations join a word
                    _, flags = token_layout(self._tokens_of(i))
                    wid, w = [], -1
                    for f in flags:
                        w += 0 if f & 1 else 1
                        wid.append(None if f & 2 else w)
                g = word_groups(wid)
            else:
                g = superpixel_groups(self._x[i], n_segments=SUPERPIXELS)
            self._groups_cache[i] = g
        return g

    def _compute(self, key: tuple) -> Attribution:
        fn, args, kw = self.kernel_call(key)
        out = fn(*args, **kw)
        if isinstance(out, tuple):  # pragma: no cover - the explorer passes one input
            out = out[0]
        return out

    def cancel(self) -> None:
        """Stop the running computation (``status`` becomes "cancelled" within about a second)."""
        with self._lock:
            if self._job is not None:
                self._job.event.set()

    def wait(self, timeout: float | None = None) -> Attribution | None:
        """Block until no computation runs (or ``timeout`` s pass); returns ``current``."""
        end = None if timeout is None else time.perf_counter() + timeout
        while True:
            job = self._job
            t = job.thread if job is not None else None
            if t is None or not t.is_alive():
                if self._job is job:
                    break
                continue
            t.join(None if end is None else max(0.0, end - time.perf_counter()))
            if end is not None and time.perf_counter() >= end:
                break
        return self.current

    @property
    def running(self) -> bool:
        job = self._job
        return job is not None and job.thread is not None and job.thread.is_alive()

    # -------------------------------------------------------------- results
    @property
    def current(self) -> Attribution | None:
        """The Attribution on screen (the last finished one while a new run is in progress), or None."""
        return None if self._shown_key is None else self._cache.get(self._shown_key)

    @property
    def results(self) -> dict[tuple, Attribution]:
        """Every cached result, keyed by ``(sample, target, method, params as sorted items)``."""
        return dict(self._cache)

    def _display_map(self, key: tuple) -> np.ndarray:
        a = self._cache[key]
        v = np.asarray(a.values, np.float64)
        if self._kind_is_text():
            v = v[0]
            while v.ndim > 1:
                v = v.sum(-1)
            return v.astype(np.float32)
        H, W = self._images.shape[1:3]
        m = reduce_map(v, (H, W), "sum", f"{key[2]} values")[0]
        dh, dw = ser.display_size(H, W, MAX_SIDE)
        if m.shape != (H, W):
            m = ser.bilinear_resize(m, dh, dw)
        elif (dh, dw) != (H, W):
            m = ser.area_resize(m, dh, dw)
        return np.nan_to_num(m).astype(np.float32)

    def _title(self, key: tuple) -> str:
        """``"Integrated gradients (steps=32) · tabby · p 0.41"``: method, parameters, class and its probability."""
        sample, target, method, pkey = key
        names = self._class_names
        cls = names[target] if target < len(names) else f"class {target}"
        ps = ", ".join(f"{k}={v}" for k, v in pkey)
        head = registry.get(method).label + (f" ({ps})" if ps else "")
        probs, label = _probabilities(self._scores(sample))
        score = f"p {probs[target]:.2f}" if label == "probability" else f"score {probs[target]:.3g}"
        return f"{head} · {cls} · {score}"

    def _show(self, key: tuple) -> None:
        m = self._display_map(key)
        b, meta = ser.encode(m, "float32", sample=int(key[0]))
        self._shown_key = key
        with self.hold_sync():
            self._map, self._map_meta, self._map_title = b, meta, self._title(key)
            self._push_trust(key)

    # -------------------------------------------------------------- trust
    def check(self, *, sanity: bool = False) -> None:
        """Measure how far the map on screen can be trusted, in the background (``wait()`` for it).

        Deletion and insertion curves (:func:`xai_widgets.faithfulness`,
        ``TRUST_STEPS`` steps, units ranked by signed attribution, against a
        random order) and, with ``sanity=True``, the cascading randomisation
        check (:func:`xai_widgets.sanity_check`: one run of the method per
        layer with parameters, on a copy of the model). Results are cached per
        result and shown in the widget's trust panel; read them with
        :attr:`trust`. The completeness residual (``delta``) of methods that
        promise completeness is shown without asking.
        """
        if self._shown_key is None:
            raise WidgetValueError("there is no result on screen to check yet: wait() for the current run first")
        key = self._shown_key
        have = self._trust_cache.get(key, {})
        wanted = ("faithfulness", "sanity") if sanity else ("faithfulness",)
        done = {"faithfulness": "deletion" in have, "sanity": "sanity" in have}
        todo = tuple(c for c in wanted if not done[c])
        with self._lock:
            prev = self._job
            if not todo:
                return
            if prev is not None:
                prev.event.set()
            job = _Job(key, trust=todo)
            self._job = job
            with self.hold_sync():
                self.error, self.progress, self.status = "", 0.0, "running"
            t = threading.Thread(target=self._work, args=(job, prev), name="xai-widgets-explorer-trust", daemon=True)
            job.thread = t
            t.start()

    @property
    def trust(self) -> dict:
        """The trust checks of the result on screen: ``{"deletion": Faithfulness, "insertion": Faithfulness,
        "sanity": SanityCheck}`` (those computed so far; see :meth:`check`)."""
        if self._shown_key is None:
            return {}
        return dict(self._trust_cache.get(self._shown_key, {}))

    def _compute_trust(self, key: tuple, checks: tuple) -> dict:
        from ..explain.faithfulness import faithfulness
        from ..explain.sanity import sanity_check

        attr = self._cache[key]
        fn, args, kw = self.kernel_call(key)
        x = args[1]
        target = int(key[1])
        fkw: dict = {"target": target, "batch_size": max(4, self._batch_size(1.0))}
        if kw.get("forward_kwargs"):
            fkw["forward_kwargs"] = kw["forward_kwargs"]
        if self._kind_is_text():
            fkw["baseline"] = self._text_baseline_id()  # a removed token becomes the mask (or pad) token
        out: dict = {}
        if "faithfulness" in checks:
            for kind in ("deletion", "insertion"):
                out[kind] = faithfulness(self._model, x, attr, kind=kind, steps=TRUST_STEPS, **fkw)
        if "sanity" in checks:
            skw = {k: v for k, v in kw.items() if k not in ("target", "progress")}
            if key[2] in ("kernel_shap", "gradient_shap", "deep_shap", "exact_shap", "permutation_shap"):
                skw["background"] = args[2]
            out["sanity"] = sanity_check(self._model, x, key[2], target=target, **skw)
        return out

    def _push_trust(self, key: tuple) -> None:
        """Send the trust panel of ``key`` to the browser (what is known: the residual, then the checks)."""
        attr = self._cache.get(key)
        t: dict = {"steps": TRUST_STEPS}
        if attr is not None and attr.delta is not None:
            d = float(np.asarray(attr.delta, np.float64).reshape(-1)[0])
            total = float(np.asarray(attr.values, np.float64).sum())
            gap = total - d  # f(x) - f(baseline)
            t["delta"] = d
            t["delta_rel"] = abs(d) / abs(gap) if gap != 0 else None
        checks = self._trust_cache.get(key, {})
        curves = []
        for kind in ("deletion", "insertion"):
            f = checks.get(kind)
            if f is None:
                continue
            t[kind] = {"auc": float(f.auc[0]), "random_auc": float(f.random_auc[0]),
                       "better": bool(f.auc[0] < f.random_auc[0]) if kind == "deletion" else bool(f.auc[0] > f.random_auc[0]),
                       "unit": f.unit, "units": int(f.units)}
            curves += [f.curve[0], f.random_curve[0]]
        sc = checks.get("sanity")
        if sc is not None:
            corr = np.asarray(sc.compared)[:, 0]
            t["sanity"] = {"passed": bool(sc.passed), "verdict": str(sc.verdict), "layers": len(sc.layers),
                           "final": float(corr[-1]), "compare": str(sc.compare)}
        raw, meta = (ser.encode(np.stack(curves).astype(np.float32), "float32") if curves else (b"", {}))
        with self.hold_sync():
            self._trust, self._trust_curves, self._trust_meta = t, raw, meta

    # --------------------------------------------------------------- pins
    def pin(self) -> None:
        """Pin the result on screen next to the others (at most 6; the oldest goes)."""
        if self._shown_key is None or self._shown_key in self._pin_keys:
            return
        self._pin_keys = (self._pin_keys + [self._shown_key])[-MAX_PINS:]
        self._send_pins()

    def unpin(self, index: int) -> None:
        """Remove pinned result ``index`` (0 = the first pinned)."""
        index = as_int(index, "index")
        if not 0 <= index < len(self._pin_keys):
            raise WidgetValueError(f"index must be in [0, {len(self._pin_keys) - 1}], got {index}")
        del self._pin_keys[index]
        self._send_pins()

    @property
    def pinned(self) -> list[tuple]:
        """Keys of the pinned results, in order."""
        return list(self._pin_keys)

    def _send_pins(self) -> None:
        pins, maps, imgs = [], [], []
        mo = io = 0
        for key in self._pin_keys:
            m = self._display_map(key)
            d: dict = {"title": self._title(key), "sample": int(key[0]), "map_shape": list(m.shape), "map_offset": mo}
            maps.append(m.ravel())
            mo += m.size
            if self._kind_is_text():
                d["tokens"], d["flags"] = token_layout(self._tokens_of(key[0]))
            else:
                img = self._display_image(key[0])
                d["image_shape"], d["image_offset"] = list(img.shape), io
                imgs.append(img.ravel())
                io += img.size
            pins.append(d)
        with self.hold_sync():
            self._pin_maps = np.concatenate(maps).astype("<f4").tobytes() if maps else b""
            self._pin_images = np.concatenate(imgs).astype(np.uint8).tobytes() if imgs else b""
            self._pins = pins

    # ------------------------------------------------------ browser messages
    def _on_browser_message(self, content: dict) -> None:
        kind = content.get("type")
        if kind == "cancel":
            self.cancel()
        elif kind == "pin":
            self.pin()
        elif kind == "check":
            try:
                self.check(sanity=bool(content.get("sanity", False)))
            except WidgetValueError as e:  # no result yet: say so in the widget
                self.error = f"{type(e).__name__}: {e}"
        elif kind == "unpin":
            self.unpin(content.get("index", -1))

    def _on_custom(self, _w: Any, content: Any, buffers: Any) -> None:
        if isinstance(content, dict):
            self._on_browser_message(content)

    # ------------------------------------------------------------- lifetime
    def close(self) -> None:
        """Stop the worker (cancel and join it), drop the cache and the data, and close the widget."""
        self._closed = True
        job = getattr(self, "_job", None)  # None too when __init__ failed before the worker existed
        if job is not None:
            job.event.set()
        if job is not None and job.thread is not None and job.thread is not threading.current_thread():
            job.thread.join(5.0)
        self._cache = {}
        self._trust_cache = {}
        self._pin_keys = []
        super().close()

    # ------------------------------------------------------- static picture
    def _static_figure(self) -> Any:
        """The current image (with the map over it) or tokens (coloured by the map), titled by method and class."""
        from matplotlib.figure import Figure

        from .._display.colors import colorbar_mappable, draw_sign, overlay_rgb, scale_max

        if self._closed:
            raise WidgetValueError("this Explorer is closed; nothing to draw")
        key = self._shown_key
        m = None if key is None or key not in self._cache else self._display_map(key)
        title = self._title(key) if m is not None else f"{registry.get(self.method).label} · {self.status}"
        width_in = self._STATIC_WIDTH / 72
        if not self._kind_is_text():
            img = self._display_image(int(key[0]) if m is not None else int(self.sample))
            h, w = img.shape[:2]
            side = min(4.2, width_in - 0.4)
            fig = Figure(figsize=(width_in, side * h / w + 1.2), layout="constrained")
            ax = fig.add_subplot()
            if m is not None:
                sign = draw_sign([m], "all")
                vm = scale_max([m], sign, 99.5)
                ax.imshow(overlay_rgb(img, m, "coolwarm", sign, vm, 0.6), interpolation="nearest")
                fig.colorbar(colorbar_mappable("coolwarm", sign, vm), ax=ax, orientation="horizontal",
                             fraction=0.05, pad=0.03, aspect=30, shrink=0.6)
            else:
                ax.imshow(img, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title, fontsize=10)
            return fig
        return self._static_tokens(m, title, width_in)

    def _static_tokens(self, m: np.ndarray | None, title: str, width_in: float) -> Any:
        from matplotlib import colormaps
        from matplotlib.figure import Figure

        from .._display.colors import scale_max

        i = int(self._shown_key[0]) if m is not None else int(self.sample)
        display, flags = token_layout(self._tokens_of(i))
        vm = scale_max([m], "all", 99.5) if m is not None else 1.0
        cmap = colormaps["coolwarm"]
        # flow tokens in lines: ~7 pt per character at 11 pt
        per_line = max(10.0, width_in * 72 - 20)
        lines, cur, used = [], [], 0.0
        for j, t in enumerate(display):
            wd = 7.0 * len(t) + 10
            if cur and used + wd > per_line:
                lines.append(cur)
                cur, used = [], 0.0
            cur.append(j)
            used += wd
        if cur:
            lines.append(cur)
        height_in = 0.7 + 0.3 * len(lines)
        fig = Figure(figsize=(width_in, height_in))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, width_in * 72)
        ax.set_ylim(height_in * 72, 0)
        ax.axis("off")
        ax.text(10, 14, title, fontsize=10, va="center")
        for r, line in enumerate(lines):
            x = 10.0
            y = 40 + 21.6 * r
            for j in line:
                v = 0.0 if m is None else float(m[j])
                a = min(1.0, abs(v) / vm) if vm > 0 else 0.0
                col = np.array(cmap(0.5 + np.clip(v / vm, -1, 1) / 2)[:3])
                bg = 1 + (col - 1) * a
                lum = 0.2126 * bg[0] + 0.7152 * bg[1] + 0.0722 * bg[2]
                fg = "black" if lum > 0.45 else "white"
                ax.text(x, y, display[j], fontsize=11, va="center", color=fg if not flags[j] & 2 else "#555",
                        bbox={"facecolor": tuple(bg), "edgecolor": "none", "pad": 1.5})
                x += 7.0 * len(display[j]) + 10
        return fig

    def __repr__(self) -> str:
        return (f"Explorer(kind={self._kind!r}, samples={self._n}, classes={self._k}, methods={self._available!r}, "
                f"sample={int(self.sample)}, target={int(self.target)}, method={self.method!r})")


def explore(model: Any, inputs: Any, *, methods: Sequence[str] | None = None, output_names: Sequence[str] | None = None,
            tokenizer: Any = None, background: Any = None, layer: Any = None) -> Explorer:
    """A live explorer widget over ``inputs``: pick the sample, class and method; results compute in the background.

    Parameters
    ----------
    model : torch.nn.Module
        Returns scores ``(N, K)`` (or a Hugging Face output with ``.logits``).
    inputs : tensor ``(N, C, H, W)``; or, with ``tokenizer``, a list of strings, token ids ``(N, T)`` or a
        tokenizer's output (``input_ids``, ``attention_mask``)
        The samples to explore (images are shown as pictures, min-max normalised).
    methods : list of str, optional
        Kernel names to offer (default: every method that applies, see
        :mod:`xai_widgets.explain.registry`); methods that do not apply
        (Grad-CAM without a convolution or on text, gradient/deep SHAP on
        token ids) are left out and listed with the reason in the widget and
        in ``Explorer.unavailable``.
    output_names : list of str, optional
        Class names (default: a Hugging Face ``config.id2label`` or the
        model's ``output_names`` attribute, else "class k").
    tokenizer : a Hugging Face tokenizer, optional
        Makes ``inputs`` text.
    background : tensor ``(B, C, H, W)``, optional
        Reference rows for the SHAP methods on images (default: one
        all-zero row).
    layer : nn.Module or str, optional
        Text: the embedding layer gradients are taken at (default: the
        model's ``get_input_embeddings()``). Images: the Grad-CAM layer
        (default: the kernel's choice).

    Returns
    -------
    Explorer
        See :class:`Explorer` for the synced traits, ``current``,
        ``results``, ``cancel()``, ``wait()``, ``pin()``.

    Example
    -------
    >>> model, names = xw.demo.efficientnet_lite0(), xw.demo.imagenet_labels()   # doctest: +SKIP
    >>> x = xw.demo.preprocess(xw.demo.load_image("chelsea"))                    # doctest: +SKIP
    >>> e = xw.explore(model, x)                                                 # doctest: +SKIP
    >>> e.method = "grad_cam"; e.wait(); e.current.method                        # doctest: +SKIP
    'grad_cam'
    """
    return Explorer(model, inputs, methods=methods, output_names=output_names, tokenizer=tokenizer,
                    background=background, layer=layer)
