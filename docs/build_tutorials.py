"""Execute the tutorials and write them as HTML pages whose widgets are live.

Usage: ``python docs/build_tutorials.py [NOTEBOOK ...] [--out docs/tutorials]``
(``make docs`` runs it on every notebook in ``notebooks/``).

Each notebook runs in a fresh kernel with ``XAI_WIDGETS_EMBED_HTML=1``, which
makes every widget add a ``text/html`` output holding the standalone component
(the runtime script inlined, the data embedded; see
``xai_widgets/widgets/_html.py``). In the exported page that HTML replaces the
widget-view and the static picture, so readers get the interactive widget
with no kernel. The page loads nothing from the network: nbconvert's CDN
scripts (require.js, MathJax, the widget renderer, Mermaid) are left out, and
a test checks that no ``src``/``href`` points outside the file.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
MARKER = "data-xw-spec="

# external resources nbconvert's lab template would load; an offline page needs none of them
_EXTERNAL = re.compile(r"<script[^>]+src=\"(https?://[^\"]*)?\"[^>]*>\s*</script>\s*", re.I)
_EXTERNAL_LINK = re.compile(r"<link[^>]+href=\"https?://[^\"]*\"[^>]*>\s*", re.I)


def execute(path: Path, timeout: int = 1200):
    """The notebook at ``path`` executed in its own folder, widgets embedding their standalone HTML."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    os.environ["XAI_WIDGETS_EMBED_HTML"] = "1"  # inherited by the kernel
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", store_widget_state=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return nb


def live_widgets(nb) -> int:
    """Keep the standalone HTML of each widget output (drop its widget-view and picture); returns how many."""
    n = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW in data and MARKER in str(data.get("text/html", "")):
                for k in (WIDGET_VIEW, "image/png", "text/plain"):
                    data.pop(k, None)
                n += 1
            elif WIDGET_VIEW in data:  # a widget that is not ours (e.g. a progress bar): nothing to show offline
                data.pop(WIDGET_VIEW)
    nb.metadata.pop("widgets", None)
    return n


def to_html(nb, title: str) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    for trait in ("mathjax_url", "require_js_url", "jquery_url", "widget_renderer_url", "mermaid_js_url",
                  "mermaid_layout_elk_js_url", "jupyter_widgets_base_url"):
        if exporter.has_trait(trait):
            setattr(exporter, trait, "")
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    body = _EXTERNAL.sub("", body)
    return _EXTERNAL_LINK.sub("", body)


def build(notebooks: list[Path], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        print(f"executing {path} ...", flush=True)
        nb = execute(path)
        n = live_widgets(nb)
        target = out / (path.stem + ".html")
        target.write_text(to_html(nb, path.stem), encoding="utf-8")
        print(f"  {target} ({target.stat().st_size / 2**20:.1f} MB, {n} live widgets)", flush=True)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", type=Path)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "tutorials")
    args = ap.parse_args(argv)
    nbs = args.notebooks or sorted((REPO / "notebooks").glob("*.ipynb"))
    build([p.resolve() for p in nbs], args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
