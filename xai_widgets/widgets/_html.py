"""Standalone HTML: widgets that run in a page with no kernel and no network.

The page holds the standalone runtime (``static/standalone.js``: every widget
view plus a small model that implements anywidget's API in the page), and per
widget a JSON spec: its synced state, its binary traits as base64 (deflated
when that saves space), and the data the live view would fetch lazily, up to a
size budget. Nothing is loaded from anywhere: no CDN, no request.
"""
from __future__ import annotations

import base64
import html
import itertools
import json
import os
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from . import _serialize as ser

if TYPE_CHECKING:  # pragma: no cover
    from ._base import XWidget

__all__ = ["save_html", "fragment", "widget_spec", "page"]

# state every ipywidget/anywidget carries that a standalone view does not use
_SKIP = frozenset({
    "_esm", "_css", "_anywidget_id", "_model_name", "_model_module", "_model_module_version", "_view_name",
    "_view_module", "_view_module_version", "_view_count", "_dom_classes", "layout", "tabbable", "tooltip",
})
_ids = itertools.count()


def runtime_js() -> str:
    """The standalone runtime script (built by ``make js``)."""
    path = ser.esm_path("standalone")
    ser.require_bundle(path)
    return path.read_text(encoding="utf-8")


class _Buffers:
    """Collects binary payloads; each becomes one base64 string, deflated when that saves >10%."""

    def __init__(self) -> None:
        self.items: list[dict] = []
        self.raw_bytes = 0

    def add(self, data: bytes | memoryview) -> dict:
        data = bytes(data)
        self.raw_bytes += len(data)
        z = zlib.compress(data, 6) if len(data) > 256 else data
        if len(z) < 0.9 * len(data):
            self.items.append({"b64": base64.b64encode(z).decode("ascii"), "z": True})
        else:
            self.items.append({"b64": base64.b64encode(data).decode("ascii")})
        return {"$buf": len(self.items) - 1}


def _encode(value: Any, bufs: _Buffers) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bufs.add(value)
    if isinstance(value, dict):
        return {str(k): _encode(v, bufs) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v, bufs) for v in value]
    return value


def widget_spec(widget: "XWidget", *, max_bytes: int = 20 * 2**20) -> dict:
    """The JSON-able spec the standalone runtime mounts (see ``js/src/standalone.ts``)."""
    bufs = _Buffers()
    state = {k: v for k, v in widget.get_state().items() if k not in _SKIP}
    spec: dict = {"bundle": widget._bundle, "state": _encode(state, bufs)}
    extra = widget._embed_extra(int(max_bytes)) or {}
    if extra:
        first = len(bufs.items)
        for b in extra.get("buffers", []):
            bufs.add(b)
        if "messages" in extra:
            msgs = dict(extra["messages"])
            msgs["table"] = {k: {"meta": v["meta"], "buf": v["buf"] + first} for k, v in msgs["table"].items()}
            spec["messages"] = msgs
        for k, v in extra.get("state", {}).items():
            spec["state"][k] = _encode(v, bufs)
    spec["buffers"] = bufs.items
    return spec


def _script_json(obj: Any) -> str:
    # safe inside <script>: no "</script", no "<!--"
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


def _script_js(code: str) -> str:
    return code.replace("</script", "<\\/script")


def fragment(widgets: Sequence["XWidget"], *, max_bytes: int = 20 * 2**20, runtime: bool = True) -> str:
    """HTML for ``widgets`` that draws them wherever it is inserted (the runtime guards against loading twice)."""
    parts = []
    if runtime:
        parts.append("<script>if(!window.xaiWidgets){" + _script_js(runtime_js()) + "}</script>")
    ids = []
    for w in widgets:
        wid = f"xw-spec-{os.getpid()}-{next(_ids)}"
        ids.append(wid)
        parts.append(f'<div class="xw-standalone" data-xw-spec="{wid}"></div>')
        parts.append(f'<script type="application/json" id="{wid}">{_script_json(widget_spec(w, max_bytes=max_bytes))}</script>')
    parts.append("<script>window.xaiWidgets&&window.xaiWidgets.mountAll(document).catch(function(e){console.error(e)});</script>")
    return "\n".join(parts)


def page(widgets: Sequence["XWidget"], *, title: str, max_bytes: int = 20 * 2**20) -> str:
    """A complete HTML document showing ``widgets`` one below the other."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        # no request may leave the page, even by mistake
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'; "
        "style-src 'unsafe-inline'; img-src data: blob:; connect-src data: blob:\">\n"
        f"<title>{html.escape(title)}</title>\n"
        "<style>:root{color-scheme:light dark}body{margin:16px;font-family:system-ui,sans-serif;"
        "background:Canvas;color:CanvasText}.xw-standalone{margin:0 0 24px}</style>\n"
        "</head>\n<body>\n" + fragment(widgets, max_bytes=max_bytes) + "\n</body>\n</html>\n"
    )


def _check_path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike ending in .html, got {type(path).__name__}")
    p = Path(path).expanduser()
    if p.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"path must end in .html, got {str(path)!r}")
    if not p.parent.is_dir():
        raise FileNotFoundError(f"cannot write {str(path)!r}: the folder {str(p.parent)!r} does not exist")
    return p


def _flatten(widgets: Iterable[Any]) -> list:
    from ._base import XWidget

    out = []
    for w in widgets:
        if isinstance(w, (list, tuple)):
            out.extend(_flatten(w))
        elif isinstance(w, XWidget):
            out.append(w)
        else:
            raise TypeError(f"save_html takes xai_widgets widgets (HeatmapOverlay, ForcePlot, ...), got {type(w).__name__}")
    return out


def save_html(path: str | os.PathLike, *widgets: Any, max_bytes: int = 20 * 2**20, title: str | None = None) -> Path:
    """Write ``widgets`` into one self-contained, interactive HTML file.

    The JavaScript is inlined, the data embedded; the file makes no network
    request and needs no kernel. Data a live widget would fetch from the kernel
    on demand (attention heads) is embedded up to ``max_bytes``; the view says
    which parts are missing beyond that.

    Parameters
    ----------
    path : str or PathLike
        Destination ending in ``.html``; its folder must exist.
    *widgets : widgets
        One or more xai_widgets widgets, shown one below the other.
    max_bytes : int, default 20 MiB
        Budget for the lazily fetched data, per widget.
    title : str, optional
        The page title (default: the widgets' reprs).

    Returns
    -------
    pathlib.Path
        The file written.

    Examples
    --------
    >>> import xai_widgets as xw
    >>> xw.save_html("report.html", overlay, force_plot)   # doctest: +SKIP
    """
    p = _check_path(path)
    ws = _flatten(widgets)
    if not ws:
        raise ValueError("save_html needs at least one widget")
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
        raise ValueError(f"max_bytes must be a non-negative integer, got {max_bytes!r}")
    title = title if title is not None else ", ".join(repr(w) for w in ws)[:200]
    p.write_text(page(ws, title=title, max_bytes=max_bytes), encoding="utf-8")
    return p
