"""HeatmapOverlay: attribution maps over images, one panel per method."""
from __future__ import annotations

import difflib
from typing import Any, Mapping

import numpy as np
import traitlets

from ..attribution import Attribution
from .._display import as_images, reduce_map  # noqa: F401  (re-exported)
from .._display.colors import DIVERGING, colorbar_mappable, draw_sign, overlay_rgb, scale_max  # noqa: F401
from . import _serialize as ser
from ._base import XWidget
from ._traits import (
    COLORMAPS,
    REDUCTIONS,
    SIGNS,
    BoundedFloat,
    Choice,
    Index,
    OptionalPair,
    StrictBool,
    WidgetTypeError,
    WidgetValueError,
    as_int,
    reject_result_sequence,
)

__all__ = ["HeatmapOverlay"]


def _as_attribution(x: Any, what: str) -> Attribution:
    if isinstance(x, Attribution):
        return x
    try:
        import torch

        tensor = isinstance(x, torch.Tensor)
    except ImportError:  # pragma: no cover
        tensor = False
    if isinstance(x, (np.ndarray, list, tuple)) or tensor:
        a = ser.to_numpy(x, what) if not isinstance(x, tuple) else x
        if isinstance(a, np.ndarray) and a.ndim == 2:  # a single (H, W) map
            a = a[None]
        return Attribution.from_array(a)
    raise WidgetTypeError(f"{what} must be an Attribution, an array/tensor, or a dict of them; got {type(x).__name__}")


def format_score(v: float) -> str:
    """A model score for a label: two decimals in the usual range, 3 significant digits outside it."""
    v = float(v)
    return f"{v:.2f}" if 0.01 <= abs(v) < 1e4 else f"{v:.3g}"


def _row_class(a: Attribution, i: int, n: int) -> tuple[str, str] | None:
    """(class name, score text) explained for row ``i`` of a one-target-per-row attribution, or None."""
    if a.target is None or a.params.get("target") == "all":
        return None
    t = np.ravel(a.target)
    if t.size not in (1, n):
        return None
    k = int(t[i] if t.size == n else t[0])
    names = a.output_names
    name = names[k] if names is not None and 0 <= k < len(names) else f"target {k}"
    score = ""
    if a.outputs is not None:
        o = np.ravel(a.outputs)
        if o.size in (1, n):
            score = format_score(o[i] if o.size == n else o[0])
    return name, score


def _method_labels(attrs: list[Attribution], n: int) -> tuple[list[str], list[list[str]]]:
    """Sample selector labels ("0 · Egyptian cat 0.40") and per-panel captions.

    A row's label names its class when every method explains the same class
    there; the captions name each panel's class and score.
    """
    labels, captions = [], []
    for i in range(n):
        per = [_row_class(a, i, n) for a in attrs]
        caps = ["" if c is None else (f"{c[0]} · score {c[1]}" if c[1] else c[0]) for c in per]
        captions.append(caps)
        first = per[0]
        if first is not None and all(c is not None and c[0] == first[0] for c in per):
            same_score = all(c[1] == first[1] for c in per)
            labels.append(f"{i} · {first[0]}" + (f" {first[1]}" if first[1] and same_score else ""))
        else:
            labels.append(str(i))
    return labels, captions


#: a target="all" attribution with more outputs than this shows its top classes unless classes= picks them
_MAX_DEFAULT_CLASSES = 10
_TOP_CLASSES = 5


def _is_all(a: Attribution) -> bool:
    return a.params.get("target") == "all"


def _check_classes_arg(classes: Any) -> list | None:
    """The ``classes`` option as a list of names/indices (types only; meaning is checked against the attribution)."""
    if classes is None:
        return None
    if isinstance(classes, (str, bytes)) or not isinstance(classes, (list, tuple, np.ndarray)):
        hint = f"; for one class write classes=[{classes!r}]" if isinstance(classes, (str, int, np.integer)) else ""
        raise WidgetTypeError(
            f"classes must be a list of class names or output indices, got {type(classes).__name__}{hint}"
        )
    items = list(np.asarray(classes).tolist()) if isinstance(classes, np.ndarray) else list(classes)
    if not items:
        raise WidgetValueError("classes is empty; expected at least one class name or output index")
    out = []
    for c in items:
        if isinstance(c, str):
            out.append(c)
        else:
            out.append(as_int(c, f"classes[{len(out)}]"))
    return out


def _resolve_classes(a: Attribution, classes: list | None) -> tuple[list[int], list[str], str]:
    """Columns of a target="all" attribution to draw: (positions on the output axis, titles, note).

    Names are looked up in ``output_names`` (unknown ones: close matches in the
    message); integers are output indices. Without ``classes`` every output is
    shown when there are few, else the top ones by mean score, which the note says.
    """
    v = a.values
    if v.ndim < 4:
        raise WidgetValueError(
            f"attribution {a.method!r} explains every output (target='all') but its values {v.shape} are not "
            "image maps; expected (N, K, H, W) or (N, K, C, H, W)"
        )
    k = v.shape[1]
    t = np.ravel(a.target) if a.target is not None else np.arange(k)
    targets = [int(x) for x in t] if t.size == k else list(range(k))
    names = a.output_names
    note = ""
    if classes is None:
        pos = list(range(k))
        if k > _MAX_DEFAULT_CLASSES:
            out = None if a.outputs is None else np.asarray(a.outputs, dtype=np.float64)
            if out is not None and out.ndim == 2 and out.shape[1] == k:
                pos = [int(j) for j in np.argsort(-out.mean(axis=0), kind="stable")[:_TOP_CLASSES]]
                note = (f"Showing the {_TOP_CLASSES} classes with the highest mean score of {k}; "
                        "pick others with classes=[...].")
            else:
                pos = pos[:_TOP_CLASSES]
                note = f"Showing the first {_TOP_CLASSES} of {k} classes; pick others with classes=[...]."
    else:
        pos = []
        for i, c in enumerate(classes):
            if isinstance(c, str):
                if names is None:
                    raise WidgetValueError(
                        f"classes[{i}] is the name {c!r} but the attribution has no output_names; "
                        f"give output indices (0..{max(targets)}) or compute it with output_names=[...]"
                    )
                if c not in names:
                    close = difflib.get_close_matches(c, names, n=5, cutoff=0.5)
                    hint = f"; close matches: {close}" if close else ""
                    raise WidgetValueError(f"unknown class name {c!r} in classes{hint}")
                idx = names.index(c)
            else:
                idx = c
            if idx not in targets:
                raise WidgetValueError(
                    f"classes[{i}] = {c!r} (output {idx}) is not among the attribution's {k} outputs "
                    f"{targets[0]}..{targets[-1]}" if targets == list(range(targets[0], targets[0] + k)) else
                    f"classes[{i}] = {c!r} (output {idx}) is not among the attribution's outputs {targets}"
                )
            pos.append(targets.index(idx))
        seen: dict[int, int] = {}
        for i, p in enumerate(pos):
            if p in seen:
                raise WidgetValueError(
                    f"classes lists output {targets[p]} twice (classes[{seen[p]}] = {classes[seen[p]]!r} and "
                    f"classes[{i}] = {classes[i]!r}); each class is one column"
                )
            seen[p] = i
    titles = []
    for p in pos:
        o = targets[p]
        titles.append(names[o] if names is not None and 0 <= o < len(names) else f"class {o}")
    if len(set(titles)) < len(titles):  # duplicate names in output_names: tell the columns apart
        titles = [f"{ttl} ({targets[p]})" for ttl, p in zip(titles, pos)]
    return pos, titles, note


def _grid_captions(a: Attribution, pos: list[int], n: int) -> list[list[str]]:
    """Per sample, per class column: the model's score for that class ("" when unknown)."""
    out = None if a.outputs is None else np.asarray(a.outputs, dtype=np.float64)
    k = a.values.shape[1]
    if out is None or out.shape != (n, k):
        return [["" for _ in pos] for _ in range(n)]
    return [[f"score {format_score(out[i, p])}" for p in pos] for i in range(n)]


# ---------------------------------------------------------------- static picture
# The view's colour rules (js/src/lib/scale.ts, canvas.ts) live in _display/colors.py, shared with Attribution.plot().


class HeatmapOverlay(XWidget):
    """Attribution heatmaps composited over their images.

    Parameters
    ----------
    image : array or tensor
        ``(H, W, 3)``, ``(3, H, W)``, ``(N, H, W, 3)`` or ``(N, 3, H, W)`` (grey
        and RGBA too). uint8 is shown as is; float images in any range are
        min-max normalised per image for display. ``None`` uses the first
        attribution's ``data``.
    attributions : Attribution, array, or dict ``{name: Attribution}``
        One map per method; several methods are shown side by side, titled by
        their names. Values ``(N, C, H, W)`` are reduced over channels
        (``reduce``), ``(N, H, W)`` used as is; a coarser map (e.g. a raw
        Grad-CAM grid) is bilinearly upsampled; any other size is an error.
        An attribution computed with ``target="all"`` (values ``(N, K, H, W)``
        or ``(N, K, C, H, W)``) is drawn as a per-class grid: rows are the
        samples, columns the classes (titled by ``output_names``, each cell
        with the model's score), on one shared colour scale.
    classes : list of str or int, optional
        The classes (names from ``output_names``, or output indices) a
        ``target="all"`` attribution shows as grid columns, in this order.
        Default: every class when there are at most 10, else the 5 with the
        highest mean score (the view says so). : float in [0, 1], default 0.6
        Overlay opacity. Diverging colormaps blend in proportion to |value|
        (zero stays transparent); sequential ones blend uniformly.
    colormap : str, optional
        A diverging map ("coolwarm", "bwr", "RdBu_r", "seismic", "PiYG") or a
        sequential one ("viridis", "inferno", "magma", "plasma", "cividis",
        "hot", "gray", "Reds", "Blues", "Greens"). Default: "coolwarm" for
        signed maps (with ``sign="all"``), "inferno" otherwise.
    sign : "all" | "positive" | "negative" | "absolute"
    clip_percentile : float in (0, 100], default 99.5
        The colour scale ends at this percentile of |values| (outliers saturate).
    shared_scale : bool, optional
        One colour scale for all methods (True) or one per map (False, the
        default). A per-class grid always uses one scale.
    sample : int
        The batch row shown (a selector appears when N > 1).
    selected : (row, col) or None
        The selected pixel, in ORIGINAL image pixels; set by clicking.
    reduce : "sum" | "mean" | "absmax"
        Channel reduction for ``(N, C, H, W)`` values.
    max_size : int, default 512
        Images/maps larger than this on a side are area-averaged down for the
        browser (``display_shape``); ``selected`` stays in original pixels.
    max_bytes : int, default 16 MiB
        When the whole batch fits, every sample is sent at once; otherwise only
        the current ``sample`` (changing it sends the new one).
    dtype : "float32" | "float16"
        Precision of the maps sent to the browser.

    Several methods go in a dict ``{name: Attribution}``; a list of
    attributions, or the tuple a kernel returns for a tuple of inputs, is a
    ``TypeError`` saying so.

    Examples
    --------
    >>> import xai_widgets as xw
    >>> from xai_widgets import demo
    >>> model = demo.efficientnet_lite0()                        # doctest: +SKIP
    >>> image = demo.load_image("chelsea")                       # doctest: +SKIP
    >>> x = demo.preprocess(image)                               # doctest: +SKIP
    >>> w = xw.HeatmapOverlay(image, {"IG": xw.integrated_gradients(model, x),
    ...                               "Grad-CAM": xw.grad_cam(model, x)})  # doctest: +SKIP
    >>> w.selected = (120, 90)                                   # doctest: +SKIP
    >>> w.values_at()                                            # doctest: +SKIP
    {'IG': ..., 'Grad-CAM': ...}
    >>> every = xw.integrated_gradients(model, x, target="all")  # doctest: +SKIP
    >>> xw.HeatmapOverlay(image, every, classes=["tabby", "Egyptian cat"])  # doctest: +SKIP
    """

    _bundle = "heatmap_overlay"

    # state the user reads and sets
    sample = Index(0, what="sample").tag(sync=True)
    selected = OptionalPair(what="selected", names=("row", "col")).tag(sync=True)
    opacity = BoundedFloat(0.6, 0.0, 1.0, what="opacity").tag(sync=True)
    colormap = Choice(COLORMAPS, "coolwarm", what="colormap").tag(sync=True)
    sign = Choice(SIGNS, "all", what="sign").tag(sync=True)
    clip_percentile = BoundedFloat(99.5, 0.0, 100.0, lo_open=True, what="clip_percentile").tag(sync=True)
    shared_scale = StrictBool(False, what="shared_scale").tag(sync=True)

    # description of the data (set once)
    methods = traitlets.List(traitlets.Unicode()).tag(sync=True)
    n_samples = traitlets.Int(1).tag(sync=True)
    image_shape = traitlets.Tuple(traitlets.Int(), traitlets.Int(), default_value=(0, 0)).tag(sync=True)
    display_shape = traitlets.Tuple(traitlets.Int(), traitlets.Int(), default_value=(0, 0)).tag(sync=True)
    max_size = traitlets.Int(512).tag(sync=True)

    # binary payload: uint8 images (n, h, w, 3) and maps (n, M, h, w) for the samples in meta["samples"]
    _image = traitlets.Bytes(b"").tag(sync=True)
    _image_meta = traitlets.Dict().tag(sync=True)
    _maps = traitlets.Bytes(b"").tag(sync=True)
    _maps_meta = traitlets.Dict().tag(sync=True)
    _sample_labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    # per sample, per panel: the class explained and its score ("" when unknown)
    _captions = traitlets.List(traitlets.List(traitlets.Unicode())).tag(sync=True)
    # panel column titles: the methods, or the classes of a per-class grid
    _columns = traitlets.List(traitlets.Unicode()).tag(sync=True)
    _grid = traitlets.Bool(False).tag(sync=True)
    _note = traitlets.Unicode("").tag(sync=True)

    _OPTIONS = (
        "opacity", "colormap", "sign", "clip_percentile", "shared_scale", "sample", "selected",
        "reduce", "max_size", "max_bytes", "dtype", "classes",
    )
    _RANGES = {"sample": ("_n", "in [0, {last}] (the batch has {n} rows)")}
    _DATA_ATTRS = ("_imgs", "_maps_full", "_attributions")

    def __init__(
        self,
        image: Any,
        attributions: Any,
        *,
        opacity: float = 0.6,
        colormap: str | None = None,
        sign: str = "all",
        clip_percentile: float = 99.5,
        shared_scale: bool | None = None,
        sample: int = 0,
        selected: Any = None,
        reduce: str = "sum",
        max_size: int = 512,
        max_bytes: int = 16 * 2**20,
        dtype: str = "float32",
        classes: Any = None,
        **kwargs: Any,
    ) -> None:
        self._check_options(kwargs)
        classes = _check_classes_arg(classes)
        reject_result_sequence(
            attributions, "HeatmapOverlay", "attributions",
            several="pass a dict {name: Attribution}, e.g. {'IG': a, 'Grad-CAM': b}",
        )
        if isinstance(attributions, Mapping):
            for k, v in attributions.items():
                reject_result_sequence(v, "HeatmapOverlay", f"attributions[{k!r}]",
                                       several="give each its own name in the dict {name: Attribution}")
        Choice(REDUCTIONS, what="reduce").validate(self, reduce)
        Choice(("float32", "float16"), what="dtype").validate(self, dtype)
        max_size = as_int(max_size, "max_size")
        if max_size < 8:
            raise WidgetValueError(f"max_size must be >= 8, got {max_size}")
        self._max_bytes = as_int(max_bytes, "max_bytes")
        self._dtype = dtype
        self._reduce = reduce

        # ------------------------------------------------------- attributions
        if isinstance(attributions, Mapping):
            if not attributions:
                raise WidgetValueError("attributions is an empty dict; expected {name: Attribution}")
            items = []
            for k, v in attributions.items():
                if not isinstance(k, str):
                    raise WidgetTypeError(f"attribution names must be strings, got {type(k).__name__} {k!r}")
                items.append((k, _as_attribution(v, f"attributions[{k!r}]")))
        else:
            a = _as_attribution(attributions, "attributions")
            items = [(a.method, a)]
        self._attributions = dict(items)

        # a target="all" attribution (or classes=) makes a per-class grid; settle its columns before any work
        grid = classes is not None or any(_is_all(a) for _, a in items)
        self._is_grid = grid
        if grid:
            if len(items) > 1:
                which = [k for k, a in items if _is_all(a)]
                if classes is not None:
                    raise WidgetValueError(
                        f"classes= draws the per-class grid of one attribution; got {len(items)} "
                        f"({[k for k, _ in items]}): pass one Attribution computed with target='all'"
                    )
                raise WidgetValueError(
                    f"attribution {which[0]!r} explains every output (target='all'): show it alone "
                    "(HeatmapOverlay(image, attribution) draws a grid of its classes), or give every "
                    "method one target per row"
                )
            name0, a0 = items[0]
            if not _is_all(a0):
                raise WidgetValueError(
                    f"classes= picks columns of an attribution with an output axis, computed with target='all' "
                    f"(values (N, K, H, W)); attribution {name0!r} explains one target per row (values "
                    f"{a0.values.shape}): compute it with target='all' to compare classes"
                )
            pos, columns, note = _resolve_classes(a0, classes)
            if shared_scale is False:
                raise WidgetValueError(
                    "shared_scale=False: a per-class grid draws every class on one colour scale, so values "
                    "compare across the grid; leave shared_scale unset"
                )
            shared_scale = True
        else:
            columns, note = [k for k, _ in items], ""
            shared_scale = False if shared_scale is None else shared_scale
        self._columns_pos = pos if grid else None

        if image is None:
            image = items[0][1].data
            if image is None:
                raise WidgetValueError("image is None and the attribution has no data; pass the image")
        imgs = as_images(image)
        n, H, W = imgs.shape[:3]

        sources = []  # (what, values) per column
        for name, a in items:
            what = f"attribution {name!r}"
            if len(a) != n:
                raise WidgetValueError(f"{what} has {len(a)} rows but the image batch has {n}")
            if grid:
                sources += [(f"{what} class {c!r}", a.values[:, p]) for p, c in zip(pos, columns)]
            else:
                sources.append((what, a.values))
        maps = []
        for what, values in sources:
            ser.check_finite(values, f"{what} values")
            m = reduce_map(values, (H, W), reduce, what)
            h0, w0 = m.shape[1:]
            if (h0, w0) != (H, W) and not (h0 <= H and w0 <= W):
                raise WidgetValueError(
                    f"{what} has spatial size {h0}x{w0} but the image is {H}x{W}; expected the image's size "
                    f"or a coarser map (which is upsampled)"
                )
            maps.append(m.astype(np.float32, copy=False))
        self._imgs = imgs
        self._maps_full = maps
        self._n = n
        self._hw = (H, W)
        dh, dw = ser.display_size(H, W, max_size)
        self._disp = (dh, dw)
        per_sample = dh * dw * 3 + len(maps) * dh * dw * (4 if dtype == "float32" else 2)
        self._send_all = n * per_sample <= self._max_bytes

        if colormap is None:
            signed = any(bool((m < 0).any()) for m in maps)
            colormap = "coolwarm" if signed and sign == "all" else "inferno"

        if grid:
            labels = [str(i) for i in range(n)]
            captions = _grid_captions(items[0][1], pos, n)
        else:
            labels, captions = _method_labels([a for _, a in items], n)

        # validate user state before the comm opens
        sample = as_int(sample, "sample")
        self._check_range("sample", sample)
        sel = OptionalPair(what="selected").validate(self, selected)
        self._check_selected(sel)

        img_b, img_m, map_b, map_m = self._payload(sample)
        super().__init__(
            methods=[k for k, _ in items],
            n_samples=n,
            image_shape=(H, W),
            display_shape=(dh, dw),
            max_size=max_size,
            _image=img_b,
            _image_meta=img_m,
            _maps=map_b,
            _maps_meta=map_m,
            _sample_labels=labels,
            _captions=captions,
            _columns=columns,
            _grid=grid,
            _note=note,
            sample=sample,
            selected=sel,
            opacity=opacity,
            colormap=colormap,
            sign=sign,
            clip_percentile=clip_percentile,
            shared_scale=shared_scale,
            **kwargs,
        )

    # ------------------------------------------------------------- payload
    def _display_sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        dh, dw = self._disp
        img = self._imgs[i]
        if (dh, dw) != self._hw:
            img = ser.area_resize(np.moveaxis(img, -1, 0).astype(np.float64), dh, dw)
            img = np.clip(np.round(np.moveaxis(img, 0, -1)), 0, 255).astype(np.uint8)
        out = []
        for m in self._maps_full:
            x = m[i]
            if x.shape != self._hw:
                x = ser.bilinear_resize(x, dh, dw)
            elif (dh, dw) != self._hw:
                x = ser.area_resize(x, dh, dw)
            out.append(x)
        return img, np.stack(out).astype(np.float32)

    def _payload(self, sample: int) -> tuple[bytes, dict, bytes, dict]:
        return self._payload_rows(list(range(self._n)) if self._send_all else [sample])

    def _payload_rows(self, rows: list[int]) -> tuple[bytes, dict, bytes, dict]:
        parts = [self._display_sample(i) for i in rows]
        imgs = np.stack([p[0] for p in parts])
        maps = np.stack([p[1] for p in parts])
        img_b, img_m = ser.encode(imgs, "uint8", samples=rows)
        map_b, map_m = ser.encode(maps, self._dtype, samples=rows)
        return img_b, img_m, map_b, map_m

    def _embed_extra(self, budget: int) -> dict:
        """Samples for a saved page (``save_html``) when the live widget sends one at a time.

        The kernel pushes a sample when it is picked; a page has no kernel, so
        the saved state holds as many samples as ``budget`` bytes allow, the
        current one first and then its neighbours. A sample left out is
        answered as missing (the view says so).
        """
        if self._imgs is None:
            raise WidgetValueError("this HeatmapOverlay is closed; its images and maps were released")
        if self._send_all:
            return {}
        dh, dw = self._disp
        per = dh * dw * 3 + len(self._maps_full) * dh * dw * (4 if self._dtype == "float32" else 2)
        keep = max(1, int(budget) // per)
        rows = sorted(sorted(range(self._n), key=lambda i: (abs(i - self.sample), i))[:keep])
        img_b, img_m, map_b, map_m = self._payload_rows(rows)
        return {
            "state": {"_image": img_b, "_image_meta": img_m, "_maps": map_b, "_maps_meta": map_m},
            "messages": {
                "request": "get", "key_fields": ["sample"], "reply": "rows", "table": {},
                "missing": (f"not saved in this page: it holds {len(rows)} of {self._n} samples "
                            "(save_html(max_bytes=...) sets how much data a page keeps)"),
            },
        }

    @traitlets.observe("sample")
    def _on_sample(self, change: dict) -> None:
        if getattr(self, "_send_all", True) or self._imgs is None or change["new"] in self._maps_meta.get("samples", []):
            return
        img_b, img_m, map_b, map_m = self._payload(change["new"])
        with self.hold_sync():
            self._image, self._image_meta, self._maps, self._maps_meta = img_b, img_m, map_b, map_m

    # ------------------------------------------------------- static picture
    _STATIC_ROWS = 8  # a grid of more samples shows its first rows in the PNG (the title says so)

    def _shown_payload(self) -> tuple[list[int], np.ndarray, np.ndarray]:
        """What the browser has: (samples, images (n, h, w, 3) uint8, maps (n, M, h, w)), decoded from the traits."""
        samples = list(self._maps_meta.get("samples", range(self._n)))
        maps = ser.decode(self._maps, self._maps_meta)
        imgs = ser.decode(self._image, self._image_meta)
        return samples, imgs, maps

    def _static_figure(self) -> Any:
        """The panels the view shows now (current sample, or the class grid), with titles and colour bars."""
        from matplotlib.figure import Figure

        if self._imgs is None:
            raise WidgetValueError("this HeatmapOverlay is closed; nothing to draw")
        samples, imgs, maps = self._shown_payload()
        columns = list(self._columns)
        grid = self._is_grid
        rows = samples if grid else [self.sample]
        more = len(rows) - self._STATIC_ROWS
        rows = rows[: self._STATIC_ROWS]
        pos = [samples.index(r) for r in rows]
        shown = [[maps[p, j] for j in range(len(columns))] for p in pos]
        cmap, sign, clip, op = self.colormap, self.sign, self.clip_percentile, self.opacity
        shared = grid or self.shared_scale or len(columns) == 1
        if shared:
            flat = [m for r in shown for m in r]
            vm, sg = scale_max(flat, sign, clip), draw_sign(flat, sign)
            scales = [[(vm, sg)] * len(columns) for _ in rows]
        else:
            scales = [[(scale_max([m], sign, clip), draw_sign([m], sign)) for m in r] for r in shown]

        dh, dw = self._disp
        n_r, n_c = len(rows), len(columns)
        width_in = self._STATIC_WIDTH / 72
        cell = min(2.4 if grid else 3.2, (width_in - 0.6) / n_c)
        bar = 0.0 if shared else 0.35
        height_in = 0.55 + n_r * (cell * dh / dw + 0.5 + bar) + (0.6 if shared else 0.0)
        fig = Figure(figsize=(width_in, height_in), layout="constrained")
        axes = fig.subplots(n_r, n_c, squeeze=False)
        for r, (sample, p) in enumerate(zip(rows, pos)):
            caps = self._captions[sample] if sample < len(self._captions) else [""] * n_c
            common = "" if grid or not caps or any(c != caps[0] for c in caps) else caps[0]
            for c, name in enumerate(columns):
                ax = axes[r, c]
                vm, sg = scales[r][c]
                ax.imshow(overlay_rgb(imgs[p], shown[r][c], cmap, sg, vm, op), interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                cap = caps[c] if c < len(caps) else ""
                if grid:
                    title = (f"{name}\n" if r == 0 else "") + cap
                    if c == 0:
                        ax.set_ylabel(f"sample {self._sample_labels[sample]}", fontsize=9)
                else:
                    title = name + (f"\n{cap}" if cap and not common else "")
                ax.set_title(title, fontsize=9)
                if not shared:
                    fig.colorbar(colorbar_mappable(cmap, sg, vm), ax=ax, orientation="horizontal",
                                 fraction=0.06, pad=0.03, aspect=18)
        if shared:
            vm, sg = scales[0][0]
            fig.colorbar(colorbar_mappable(cmap, sg, vm), ax=axes, orientation="horizontal",
                         fraction=0.5 / height_in, pad=0.02, aspect=30, shrink=min(1.0, 3.6 / width_in))
        head = []
        if not grid:
            caps = self._captions[self.sample] if self.sample < len(self._captions) else []
            if caps and all(c == caps[0] for c in caps) and caps[0]:
                head.append(caps[0])
            if self._n > 1:
                head.insert(0, f"sample {self._sample_labels[self.sample]}")
        if more > 0:
            head.append(f"first {self._STATIC_ROWS} of {len(samples)} samples")
        if head:
            fig.suptitle(" · ".join(head), fontsize=10)
        return fig

    # ---------------------------------------------------------- validation
    def _check_selected(self, sel: Any) -> None:
        if sel is None or not hasattr(self, "_hw"):
            return
        (r, c), (H, W) = sel, self._hw
        if not (0 <= r < H and 0 <= c < W):
            raise WidgetValueError(
                f"selected pixel (row={r}, col={c}) is outside the {H}x{W} image; expected 0 <= row < {H}, 0 <= col < {W}"
            )

    @traitlets.validate("selected")
    def _valid_selected(self, proposal: dict) -> Any:
        self._check_selected(proposal["value"])
        return proposal["value"]

    @traitlets.validate("shared_scale")
    def _valid_shared(self, proposal: dict) -> Any:
        if getattr(self, "_is_grid", False) and not proposal["value"]:
            raise WidgetValueError(
                "shared_scale must stay True for a per-class grid: every class is drawn on one colour scale"
            )
        return proposal["value"]

    # ------------------------------------------------------------- helpers
    @property
    def reduce(self) -> str:
        """Channel reduction used for ``(N, C, H, W)`` values (set at construction)."""
        return self._reduce

    @property
    def attributions(self) -> dict:
        """The attributions shown, ``{name: Attribution}``."""
        return dict(self._attributions)

    @property
    def classes(self) -> list[str] | None:
        """The class columns of a per-class grid (their titles), or None when the panels are methods."""
        return list(self._columns) if self._is_grid else None

    def values_at(self, row: int | None = None, col: int | None = None, sample: int | None = None) -> dict:
        """Reduced attribution value per panel at an ORIGINAL pixel (default: ``selected``, current ``sample``).

        Parameters
        ----------
        row, col : int, optional
            The pixel in original image coordinates (default: ``selected``).
        sample : int, optional
            The batch row (default: ``sample``).

        Returns ``{method: value}``, or ``{class: value}`` for a per-class grid.

        Example
        -------
        >>> w.values_at(12, 40)      # doctest: +SKIP
        {'IG': 0.0123, 'Grad-CAM': 0.4}
        """
        if row is None or col is None:
            if self.selected is None:
                raise ValueError("no pixel given and none selected")
            row, col = self.selected
        s = self.sample if sample is None else as_int(sample, "sample")
        self._check_range("sample", s)
        self._check_selected((as_int(row, "row"), as_int(col, "col")))
        H, W = self._hw
        out = {}
        for name, m in zip(self._columns, self._maps_full):
            h0, w0 = m.shape[1:]
            out[name] = float(m[s, row * h0 // H, col * w0 // W])
        return out

    def __repr__(self) -> str:
        H, W = self._hw
        if self._is_grid:
            return (f"HeatmapOverlay(method={self.methods[0]!r}, classes={list(self._columns)!r}, "
                    f"samples={self._n}, image={H}x{W})")
        return f"HeatmapOverlay(methods={list(self.methods)!r}, samples={self._n}, image={H}x{W})"
