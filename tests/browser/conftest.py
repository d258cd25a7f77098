"""Fixtures for the browser layer: one JupyterLab server and one Chromium per session.

``open_notebook(name, cells, ui="lab"|"notebook")`` writes a notebook into the
server's root, opens it in a fresh browser page and returns a
:class:`browser_harness.NotebookPage`. Page errors and console errors are
recorded; on failure a screenshot and the logs go to ``test-artifacts/``.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import browser_harness as bh  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(scope="session")
def jupyter_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("jupyter")
    server = err = None
    try:
        server = bh.start_jupyter_server(base)
    except RuntimeError as e:
        err = str(e)
    if err:
        pytest.fail(err, pytrace=False)
    yield server
    server.stop()
    if os.environ.get("XW_KEEP_SERVER_LOG"):
        bh.ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(server.log_path, bh.ARTIFACTS / "jupyter-server.log")


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover
        pytest.fail("playwright is not installed: pip install playwright\n" + bh.INSTALL_HINT, pytrace=False)
    pw = sync_playwright().start()
    try:
        b = err = None
        try:
            b = bh.launch_chromium(pw)
        except LookupError as e:
            err = str(e)
        if err:
            pytest.fail(err, pytrace=False)
        yield b
        b.close()
    finally:
        pw.stop()


@pytest.fixture
def new_page(browser, jupyter_server, request):
    """Factory for fresh pages (own context) with error recording; artifacts on failure."""
    made = []

    def make():
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        ctx.set_default_timeout(30_000)
        ctx.add_init_script(bh.INIT_SCRIPT)
        ctx.add_init_script(bh.QUALITY_SCRIPT)
        page = ctx.new_page()
        page._xw_page_errors = []
        page._xw_console_errors = []
        page._xw_console = []
        page._xw_checked = False
        page.on("pageerror", lambda e: page._xw_page_errors.append(getattr(e, "stack", None) or str(e)))

        def on_console(msg):
            loc = msg.location or {}
            line = f"[{msg.type}] {msg.text}  ({loc.get('url', '')}:{loc.get('lineNumber', '')})"
            page._xw_console.append(line)
            if msg.type == "error":
                page._xw_console_errors.append(f"{msg.text}  ({loc.get('url', '')})")

        page.on("console", on_console)
        made.append((ctx, page))
        return page

    yield make

    failed = any(
        getattr(request.node, "rep_" + w, None) is not None and getattr(request.node, "rep_" + w).failed
        for w in ("setup", "call")
    )
    for i, (ctx, page) in enumerate(made):
        if failed:
            bh.ARTIFACTS.mkdir(exist_ok=True)
            stem = re.sub(r"[^\w.-]+", "_", request.node.nodeid.split("::", 1)[-1]) + (f"-{i}" if i else "")
            try:
                page.screenshot(path=str(bh.ARTIFACTS / f"{stem}.png"), full_page=True, timeout=10_000)
            except Exception:
                pass
            (bh.ARTIFACTS / f"{stem}.console.txt").write_text(
                "\n".join(page._xw_console) + "\n\npage errors:\n" + "\n".join(page._xw_page_errors)
                + "\n\nserver log tail:\n" + jupyter_server.log_tail(80),
                encoding="utf-8",
            )
        if getattr(page, "_xw_theme_changed", False):
            # the theme is a saved user setting: later tests start light again
            try:
                bh.set_theme(page, "light")
            except Exception:
                pass
        try:
            ctx.close()
        except Exception:
            pass
    jupyter_server.shutdown_sessions()
    # a test that forgot its final check still fails on page errors
    if not failed:
        for _, p in made:
            errs = [e for e in p._xw_page_errors if not bh.is_upstream_page_error(e)]
            if not p._xw_checked and errs:
                pytest.fail("page errors:\n" + "\n".join(errs), pytrace=False)


class _Opener:
    """``open_notebook(name, cells, ui="lab")``: write a notebook and open it;
    ``open_notebook.existing("dir/x.ipynb", ui=...)``: open one already in the server root."""

    def __init__(self, new_page, server):
        self._new_page, self._server = new_page, server

    def __call__(self, name: str, cells, ui: str = "lab") -> bh.NotebookPage:
        rel = bh.write_notebook(self._server.root, f"{name}-{ui}", cells).name
        return self.existing(rel, ui=ui)

    def existing(self, rel: str, ui: str = "lab") -> bh.NotebookPage:
        assert (self._server.root / rel).exists(), rel
        return bh.NotebookPage(self._new_page(), self._server, ui, rel).open()


@pytest.fixture
def open_notebook(new_page, jupyter_server):
    return _Opener(new_page, jupyter_server)
