"""The base class every widget is built on.

It owns what each widget would otherwise repeat:

- the JavaScript bundle (read once per class, sent as a string: anywidget's
  file watcher would keep every instance alive through its change signal);
- unknown-option rejection (``_OPTIONS``) and range checks from a table
  (``_RANGES``: trait name → (size attribute, message));
- ``close()`` releasing the data a widget holds;
- the static ``image/png`` in the output bundle (``_static_figure``), so an
  executed notebook shows a picture where no widget can run;
- ``save_html``: one self-contained file, see :mod:`._html`.

A subclass sets ``_bundle`` (the entry name in ``xai_widgets/static``),
``_OPTIONS``, optionally ``_RANGES``, and implements ``_static_figure()``
(a matplotlib ``Figure`` of what the widget shows) and, when the browser asks
the kernel for data lazily, ``_embed_extra(budget)``.
"""
from __future__ import annotations

import base64
import io
import os
import warnings
from pathlib import Path
from typing import Any, ClassVar

import anywidget
import traitlets

from . import _serialize as ser
from ._traits import WidgetValueError, check_in_range, check_options

__all__ = ["XWidget", "static_png_enabled"]

_BUNDLES: dict[str, str] = {}


def bundle_text(name: str) -> str:
    """The built ES module of one widget entry (cached; a clear error when not built)."""
    text = _BUNDLES.get(name)
    if text is None:
        path = ser.esm_path(name)
        ser.require_bundle(path)
        text = _BUNDLES[name] = path.read_text(encoding="utf-8")
    return text


def static_png_enabled() -> bool:
    """Whether widgets add a static PNG to their output bundle (``XAI_WIDGETS_STATIC=0`` turns it off)."""
    return os.environ.get("XAI_WIDGETS_STATIC", "1").strip().lower() not in ("0", "false", "no", "off")


# A static picture above this many bytes at 144 dpi is drawn at 72 dpi instead (photos and 512x512 maps
# compress poorly; a notebook carries one picture per widget output).
_STATIC_PNG_BUDGET = 400_000


class XWidget(anywidget.AnyWidget):
    """Base class: bundle, option and range checks, static picture, HTML export."""

    _bundle: ClassVar[str] = ""
    _OPTIONS: ClassVar[tuple[str, ...]] = ()
    #: trait → (name of the attribute holding its size, message with {last} and {n});
    #: a value must be in [0, size). Optional traits (None allowed) are listed in _OPTIONAL.
    _RANGES: ClassVar[dict[str, tuple[str, str]]] = {}
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset()
    #: Attributes (besides traits) holding data; dropped by close().
    _DATA_ATTRS: ClassVar[tuple[str, ...]] = ()
    #: Static picture width in CSS pixels (rendered at 2x for sharp screens).
    _STATIC_WIDTH: ClassVar[int] = 720

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names = tuple(cls.__dict__.get("_RANGES", {}))
        if names:
            # one validator per subclass for the traits in its table
            def _valid_range(self: XWidget, proposal: Any) -> Any:
                self._check_range(proposal["trait"].name, proposal["value"])
                return proposal["value"]

            setattr(cls, "_xw_valid_ranges", traitlets.validate(*names)(_valid_range))

    def __init__(self, **kwargs: Any) -> None:
        # a plain string: anywidget connects a file's change signal to each
        # instance (hot reload), which would keep every closed widget alive
        self._esm = bundle_text(self._bundle)
        super().__init__(**kwargs)

    @classmethod
    def _check_options(cls, kwargs: dict) -> dict:
        """Reject keyword arguments that are not in ``_OPTIONS`` (TypeError listing the valid ones)."""
        return check_options(cls.__name__, kwargs, cls._OPTIONS)

    def _check_range(self, name: str, value: Any) -> None:
        """Raise unless ``value`` is in ``[0, size)`` for trait ``name`` (no-op while the size is unknown)."""
        size_attr, detail = self._RANGES[name]
        n = getattr(self, size_attr, None)
        if callable(n):
            n = n()
        check_in_range(value, n, name, detail, optional=name in self._OPTIONAL)

    # ------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Close the widget and release the data it holds (its payload traits and arrays)."""
        super().close()
        for name in self._DATA_ATTRS:
            if name in self.__dict__:
                self.__dict__[name] = None
        with self.hold_trait_notifications():
            for name, trait in self.traits(sync=True).items():
                if isinstance(trait, traitlets.Bytes):
                    self.set_trait(name, b"")

    # ------------------------------------------------------- static picture
    def _static_figure(self) -> Any:
        """A matplotlib Figure of what the widget shows (subclasses implement)."""
        raise NotImplementedError

    def to_png(self, *, dpi: int = 144) -> bytes:
        """The static picture of this widget (what the output bundle carries), as PNG bytes."""
        import matplotlib

        matplotlib.use("Agg", force=False) if matplotlib.get_backend() == "" else None
        from matplotlib.figure import Figure

        fig = self._static_figure()
        if not isinstance(fig, Figure):  # pragma: no cover - programming error in a subclass
            raise TypeError(f"{type(self).__name__}._static_figure() must return a matplotlib Figure")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
        return buf.getvalue()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        out = super()._repr_mimebundle_(**kwargs)
        if out is None:
            return None
        data, meta = out if isinstance(out, tuple) else (out, {})
        data = dict(data)
        meta = dict(meta or {})
        if static_png_enabled():
            try:
                dpi = 144  # sharp on high-density screens ...
                png = self.to_png(dpi=dpi)
                if len(png) > _STATIC_PNG_BUDGET:  # ... unless that makes every saved notebook heavy
                    dpi = 72
                    png = self.to_png(dpi=dpi)
            except Exception as e:  # the live widget must still show
                warnings.warn(f"{type(self).__name__}: no static picture for readers of the saved notebook: {e}",
                              RuntimeWarning, stacklevel=2)
            else:
                data["image/png"] = base64.b64encode(png).decode("ascii")
                w, _ = _png_size(png)
                meta["image/png"] = {"width": max(1, w * 72 // dpi)}  # CSS px: the figure's size in points
        if os.environ.get("XAI_WIDGETS_EMBED_HTML", "").strip() not in ("", "0"):
            from ._html import fragment

            data["text/html"] = fragment([self])
        return data, meta

    # ---------------------------------------------------------- HTML export
    def _embed_extra(self, budget: int) -> dict:
        """Data the browser would fetch lazily from the kernel, to embed in HTML (``budget`` bytes at most).

        Returns ``{}`` (the default: nothing is fetched lazily) or a dict with

        - ``"buffers"``: a list of ``bytes``, numbered from 0;
        - ``"messages"`` (optional): how the standalone runtime
          (``js/src/standalone.ts``) answers the view's custom messages
          without a kernel: ``{"request": <message type it answers>,
          "key_fields": [<request fields joined by "|" into a table key>],
          "reply": <reply message type>, "table": {key: {"meta": {...},
          "buf": <index into buffers>}}, "missing": <what a request whose key is
          not in the table is told>}``;
        - ``"state"`` (optional): traits to overwrite in the embedded state
          (``bytes`` values become buffers too).
        """
        return {}

    def save_html(self, path: str | os.PathLike, *, max_bytes: int = 20 * 2**20, title: str | None = None) -> Path:
        """Write this widget as one self-contained, interactive HTML file (no network, no kernel).

        Parameters
        ----------
        path : str or PathLike
            Destination ending in ``.html``; its folder must exist.
        max_bytes : int, default 20 MiB
            Budget for data the live widget fetches lazily (attention heads);
            what does not fit is listed as missing in the view.
        title : str, optional
            The page title (default: the widget's repr).

        Examples
        --------
        >>> w = xw.ForcePlot(attribution)        # doctest: +SKIP
        >>> w.save_html("force.html")            # doctest: +SKIP
        """
        from ._html import save_html

        return save_html(path, self, max_bytes=max_bytes, title=title)


def _png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG header."""
    if len(png) < 24 or png[:8] != b"\x89PNG\r\n\x1a\n":
        raise WidgetValueError("not a PNG")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
