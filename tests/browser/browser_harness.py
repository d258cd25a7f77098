"""Plumbing for the browser layer: a JupyterLab server, Chromium, notebook pages.

Everything here is independent of the widgets under test; the tests import
:class:`NotebookPage` (through the ``open_notebook`` fixture) and
:func:`write_notebook`.

How it works
------------
* One ``python -m jupyter lab`` server per session, rooted in a temp folder,
  with every Jupyter config/data/runtime/settings/workspace folder isolated
  there and a ``python3`` kernelspec whose argv is ``sys.executable``. The
  server serves JupyterLab (``/lab``) and Notebook 7 (``/notebooks``); both
  are started with ``expose_app_in_browser`` so the page exposes
  ``window.jupyterapp``.
* Run All: ``jupyterapp.commands.execute("runmenu:run-all")`` (falls back to
  ``notebook:run-all-cells``, then to clicking Run ▸ Run All Cells in the
  menu bar). Completion is read from the notebook model: every code cell has
  an execution count, none is running, the kernel is idle; an error output
  fails at once with its traceback.
* Python values are read back through the page's own kernel connection
  (``kernel.requestExecute`` with ``user_expressions``, JSON-encoded): no
  cell is added and the notebook is left as it is.
* Canvas pixels: the canvas is copied onto a fresh 2-D canvas with
  ``drawImage`` (works for 2-D and WebGL canvases) and read with
  ``getImageData``; the bytes come back base64-encoded into a numpy array.
"""
from __future__ import annotations

import ast
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

INSTALL_HINT = (
    "No Chromium/Chrome browser found for the browser tests. Install one:\n"
    "  Debian/Ubuntu:  sudo apt-get install chromium\n"
    "  or Playwright's: python -m playwright install chromium\n"
    "or point XW_CHROMIUM at a Chromium/Chrome executable."
)

# Console errors that Jupyter itself logs in a sandbox without internet and
# that say nothing about our widgets. Anything else logged as an error fails.
BENIGN_CONSOLE = [
    re.compile(p, re.I)
    for p in (
        r"favicon",
        r"Failed to load resource: the server responded with a status of 404",
        r"Failed to load resource: net::ERR_",  # offline: mathjax CDN etc.
        r"cdnjs\.cloudflare\.com|mathjax",
        r"ERR_INTERNET_DISCONNECTED|ERR_NAME_NOT_RESOLVED|ERR_CONNECTION_REFUSED",
        r"Failed to fetch .*(news|update|jupyter\.org)",
    )
]

# Uncaught errors thrown by Notebook 7.6 itself at start-up, in a default
# environment too (no widget, no settings of ours): the shortcuts plugin's
# pluginChanged handler reads `.schema` of a plugin that is not registered,
# and the /notebooks page asks for `filebrowser:open-path` which only the
# tree page has. Ignored only when every stack frame is in Notebook 7's own
# core bundle, so an error from a widget bundle is never hidden.
UPSTREAM_PAGE_ERRORS = [
    re.compile(r"^(TypeError: )?Cannot read properties of undefined \(reading 'schema'\)"),
    re.compile(r"^(Error: )?Command 'filebrowser:open-path' not registered\."),
]
UPSTREAM_BUNDLE = re.compile(r"/static/notebook/notebook_core\.[0-9a-f]+\.js")


def is_upstream_page_error(text: str) -> bool:
    if not any(p.search(text.strip().splitlines()[0] if text.strip() else "") for p in UPSTREAM_PAGE_ERRORS):
        return False
    # frames with a source location (native ones like `async Promise.all` have none)
    frames = [ln.strip() for ln in text.splitlines()
              if ln.strip().startswith("at ") and re.search(r"\w+:/", ln)]
    return bool(frames) and all(UPSTREAM_BUNDLE.search(f) for f in frames)


# --------------------------------------------------------------------------
# Jupyter server
# --------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1), encoding="utf-8")


@dataclass
class JupyterServer:
    base: Path
    root: Path
    port: int
    proc: subprocess.Popen
    log_path: Path
    env: dict = field(repr=False, default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- REST ---------------------------------------------------------------
    def api(self, path: str, method: str = "GET", body: Any = None, timeout: float = 10) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def shutdown_sessions(self) -> None:
        """Shut every kernel down (between tests: 2 cores, keep it lean)."""
        try:
            for s in self.api("/api/sessions"):
                try:
                    self.api(f"/api/sessions/{s['id']}", method="DELETE", timeout=30)
                except Exception:
                    pass
            for k in self.api("/api/kernels"):
                try:
                    self.api(f"/api/kernels/{k['id']}", method="DELETE", timeout=30)
                except Exception:
                    pass
        except Exception:
            pass

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "<no server log>"

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.shutdown_sessions()
        self.proc.terminate()  # SIGTERM: jupyter_server shuts kernels down
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            # our own process group (start_new_session=True): server + kernels
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
            self.proc.wait(timeout=10)


def prepare_jupyter_dirs(base: Path) -> dict:
    """Create the isolated Jupyter folders under *base*; return the env for the server."""
    d = {
        "root": base / "root",
        "config": base / "config",
        "data": base / "data",
        "runtime": base / "runtime",
        "settings": base / "lab-user-settings",
        "workspaces": base / "lab-workspaces",
        "ipython": base / "ipython",
    }
    for p in d.values():
        p.mkdir(parents=True, exist_ok=True)

    # The kernel must be this venv's python, whatever `python` is on PATH.
    _write_json(
        d["data"] / "kernels" / "python3" / "kernel.json",
        {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (xai_widgets tests)",
            "language": "python",
            "metadata": {"debugger": False},
        },
    )
    # No "Jupyter news" / update toasts: user settings inside the temp dir
    # (read by both JupyterLab and Notebook 7; nothing outside is touched).
    _write_json(
        d["settings"] / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings",
        {"checkForUpdates": False, "fetchNews": "false"},
    )

    env = dict(os.environ)
    share = Path(sys.prefix) / "share" / "jupyter"
    jpath = [str(d["data"]), str(share)]
    if os.environ.get("JUPYTER_PATH"):
        jpath.append(os.environ["JUPYTER_PATH"])
    env.update(
        JUPYTER_CONFIG_DIR=str(d["config"]),
        JUPYTER_DATA_DIR=str(d["data"]),
        JUPYTER_RUNTIME_DIR=str(d["runtime"]),
        JUPYTERLAB_SETTINGS_DIR=str(d["settings"]),
        JUPYTERLAB_WORKSPACES_DIR=str(d["workspaces"]),
        JUPYTER_PATH=os.pathsep.join(jpath),
        IPYTHONDIR=str(d["ipython"]),
        JUPYTER_PLATFORM_DIRS="1",
        MPLBACKEND="module://matplotlib_inline.backend_inline",
        PYTHONPATH=os.pathsep.join(
            [str(REPO_ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
        ),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    env.pop("JUPYTERLAB_DIR", None)
    # the venv's scripts (jupyter-lab) first on PATH
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return {"dirs": d, "env": env}


def start_jupyter_server(base: Path, timeout: float = 90) -> JupyterServer:
    prep = prepare_jupyter_dirs(base)
    d, env = prep["dirs"], prep["env"]
    port = free_port()
    log_path = base / "jupyter-server.log"
    cmd = [
        sys.executable, "-m", "jupyter", "lab",
        "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
        "--no-browser",
        "--IdentityProvider.token=", "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",
        f"--ServerApp.root_dir={d['root']}",
        "--LabApp.expose_app_in_browser=True",
        "--JupyterNotebookApp.expose_app_in_browser=True",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers/CI run as root
        cmd.append("--allow-root")
    logf = open(log_path, "wb")
    proc = subprocess.Popen(
        cmd, cwd=str(d["root"]), env=env, stdout=logf, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    logf.close()
    server = JupyterServer(base=base, root=d["root"], port=port, proc=proc, log_path=log_path, env=env)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"jupyter lab exited with code {proc.returncode}:\n{server.log_tail()}"
            )
        try:
            server.api("/api/status", timeout=2)
            break
        except (urllib.error.URLError, ConnectionError, OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"jupyter lab did not answer /api/status in {timeout}s:\n{server.log_tail()}")
        time.sleep(0.25)
    return server


# --------------------------------------------------------------------------
# Chromium
# --------------------------------------------------------------------------
def chromium_candidates() -> list[str | None]:
    """Executables to try, in order; ``None`` means Playwright's bundled browser."""
    out: list[str | None] = []
    env = os.environ.get("XW_CHROMIUM")
    if env:
        out.append(env)
    if os.path.exists("/usr/bin/chromium"):
        out.append("/usr/bin/chromium")
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        p = shutil.which(name)
        if p and p not in out:
            out.append(p)
    out.append(None)
    return out


def launch_chromium(playwright) -> Any:
    errors = []
    for exe in chromium_candidates():
        try:
            kw = {"headless": True, "args": CHROMIUM_ARGS}
            if exe:
                kw["executable_path"] = exe
            return playwright.chromium.launch(**kw)
        except Exception as e:  # noqa: BLE001 - try the next one
            errors.append(f"{exe or 'playwright bundled chromium'}: {str(e).splitlines()[0] if str(e) else e!r}")
    raise LookupError(INSTALL_HINT + "\nTried:\n  " + "\n  ".join(errors))


# --------------------------------------------------------------------------
# Notebooks
# --------------------------------------------------------------------------
def write_notebook(root: Path, name: str, cells: Sequence[str | tuple[str, str]]) -> Path:
    """Write ``<root>/<name>.ipynb``; a cell is source (code) or ("markdown", source)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for c in cells:
        if isinstance(c, tuple):
            kind, src = c
            nb.cells.append(nbformat.v4.new_markdown_cell(src) if kind == "markdown" else nbformat.v4.new_code_cell(src))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(c))
    path = Path(root) / (name if name.endswith(".ipynb") else name + ".ipynb")
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


# JS installed in every page before Jupyter's own scripts.
INIT_SCRIPT = r"""
(() => {
  const X = (window.__xw = {});
  X.panel = () => {
    const app = window.jupyterapp;
    if (!app || !app.shell) return null;
    const ok = (w) => w && w.sessionContext && w.content && Array.isArray(w.content.widgets);
    let w = app.shell.currentWidget;
    if (ok(w)) return w;
    try {
      for (const x of app.shell.widgets('main')) if (ok(x)) return x;
    } catch (e) {}
    return null;
  };
  X.kernel = () => {
    const p = X.panel();
    return p && p.sessionContext.session ? p.sessionContext.session.kernel : null;
  };
  X.status = () => {
    const p = X.panel();
    if (!p) return { panel: false, app: !!window.jupyterapp };
    const k = X.kernel();
    const cells = p.content.widgets.filter((c) => c.model && c.model.type === 'code');
    const errors = [];
    cells.forEach((c, i) => {
      const outs = c.model.outputs.toJSON();
      for (const o of outs) if (o.output_type === 'error')
        errors.push({ cell: i, ename: o.ename, evalue: o.evalue, traceback: (o.traceback || []).join('\n') });
    });
    return {
      panel: true,
      app: true,
      kernel: k ? k.status : null,
      connection: k ? k.connectionStatus : null,
      kernelName: k ? k.name : null,
      counts: cells.map((c) => c.model.executionCount),
      running: cells.map((c) => c.model.executionState === 'running'),
      ncells: cells.length,
      errors,
    };
  };
  X.exec = async (code, expr) => {
    const k = X.kernel();
    if (!k) throw new Error('no kernel');
    const fut = k.requestExecute({
      code, silent: false, store_history: false, allow_stdin: false, stop_on_error: false,
      user_expressions: expr ? { v: expr } : {},
    });
    const stream = [];
    fut.onIOPub = (msg) => {
      const t = msg.header.msg_type;
      if (t === 'stream') stream.push(msg.content.text);
      if (t === 'error') stream.push(msg.content.traceback.join('\n'));
    };
    const reply = await fut.done;
    const c = reply.content;
    return {
      status: c.status, ename: c.ename, evalue: c.evalue,
      traceback: c.traceback ? c.traceback.join('\n') : null,
      value: expr ? c.user_expressions.v : null,
      stream: stream.join(''),
    };
  };
  X.pixels = (el) => {
    const c = document.createElement('canvas');
    c.width = el.width; c.height = el.height;
    const ctx = c.getContext('2d');
    if (c.width && c.height) ctx.drawImage(el, 0, 0);
    const d = c.width && c.height ? ctx.getImageData(0, 0, c.width, c.height).data : new Uint8ClampedArray();
    let s = '';
    for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
    const r = el.getBoundingClientRect();
    return { w: c.width, h: c.height, b64: btoa(s),
             rect: { x: r.x, y: r.y, width: r.width, height: r.height } };
  };
})();
"""

# view-quality probes (contrast, overflow, widths, themes), installed in every page too
sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import (  # noqa: E402,F401  (re-exported for the tests)
    MIN_CONTRAST,
    QUALITY_SCRIPT,
    contrast_failures,
    open_offline,
    overflow_report,
    set_output_width,
    set_theme,
)

STRIP_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class KernelError(AssertionError):
    pass


@dataclass
class Snapshot:
    pixels: np.ndarray  # (h, w, 4) uint8
    rect: dict  # CSS bounding box of the canvas

    @property
    def distinct_colours(self) -> int:
        return distinct_colours(self.pixels)

    def css_to_px(self, x_css: float, y_css: float) -> tuple[int, int]:
        """CSS page point -> canvas backing-store pixel (col, row)."""
        h, w = self.pixels.shape[:2]
        return (int((x_css - self.rect["x"]) * w / self.rect["width"]),
                int((y_css - self.rect["y"]) * h / self.rect["height"]))


def distinct_colours(px: np.ndarray) -> int:
    if px.size == 0:
        return 0
    flat = px.reshape(-1, px.shape[-1]).astype(np.uint32)
    keys = (flat[:, 0] << 24) | (flat[:, 1] << 16) | (flat[:, 2] << 8) | flat[:, 3]
    return int(np.unique(keys).size)


def changed_fraction(a: Snapshot | np.ndarray, b: Snapshot | np.ndarray) -> float:
    a = a.pixels if isinstance(a, Snapshot) else a
    b = b.pixels if isinstance(b, Snapshot) else b
    if a.shape != b.shape:
        return 1.0
    return float(np.any(a != b, axis=-1).mean())


class NotebookPage:
    """A notebook open in JupyterLab (``ui="lab"``) or Notebook 7 (``ui="notebook"``)."""

    def __init__(self, page, server: JupyterServer, ui: str, path: str):
        self.page = page
        self.server = server
        self.ui = ui
        self.path = path
        self.page_errors: list[str] = page._xw_page_errors  # type: ignore[attr-defined]
        self.console_errors: list[str] = page._xw_console_errors  # type: ignore[attr-defined]

    # -- opening --------------------------------------------------------------
    @property
    def url(self) -> str:
        if self.ui == "lab":
            # ?reset: start from an empty workspace, never reopen earlier tests' notebooks
            return f"{self.server.url}/lab/tree/{self.path}?reset"
        if self.ui == "notebook":
            return f"{self.server.url}/notebooks/{self.path}"
        raise ValueError(self.ui)

    def open(self, timeout: float = 90) -> "NotebookPage":
        self.page.goto(self.url, wait_until="domcontentloaded", timeout=timeout * 1000)
        self.wait_kernel_idle(timeout=timeout)
        return self

    def status(self) -> dict:
        return self.page.evaluate("() => window.__xw.status()")

    def wait_kernel_idle(self, timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        st: dict = {}
        while time.monotonic() < deadline:
            try:
                st = self.status()
            except Exception as e:  # page navigating
                st = {"error": str(e)}
            if st.get("panel") and st.get("kernel") == "idle" and st.get("connection") == "connected":
                return st
            time.sleep(0.25)
        raise AssertionError(f"{self.ui}: kernel not idle after {timeout}s: {st}\nserver log:\n{self.server.log_tail(20)}")

    # -- running --------------------------------------------------------------
    def run_all(self, method: str = "auto") -> str:
        """Start Run All; returns the way it was done."""
        if method in ("auto", "command"):
            used = self.page.evaluate(
                """async () => {
                  const app = window.jupyterapp;
                  if (!app) return null;
                  const p = window.__xw.panel();
                  if (p && app.shell.activateById) app.shell.activateById(p.id);
                  for (const id of ['runmenu:run-all', 'notebook:run-all-cells']) {
                    if (app.commands.hasCommand(id) && app.commands.isEnabled(id)) {
                      await app.commands.execute(id);
                      return id;
                    }
                  }
                  return null;
                }"""
            )
            if used:
                return used
            if method == "command":
                raise AssertionError("no enabled run-all command in window.jupyterapp")
        # the menu bar: same labels in JupyterLab and Notebook 7
        menubar = self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$"))
        menubar.first.click()
        self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).first.click()
        return "menu"

    def wait_executed(self, timeout: float = 120) -> dict:
        """Until every code cell has run and the kernel is idle; error outputs fail at once."""
        deadline = time.monotonic() + timeout
        st: dict = {}
        idle_since = None
        while time.monotonic() < deadline:
            st = self.status()
            if st.get("errors"):
                e = st["errors"][0]
                raise KernelError(
                    f"cell {e['cell']} raised {e['ename']}: {e['evalue']}\n{STRIP_ANSI.sub('', e['traceback'])}"
                )
            done = (
                st.get("panel")
                and st["ncells"] > 0
                and all(c is not None for c in st["counts"])
                and not any(st["running"])
                and st.get("kernel") == "idle"
            )
            if done:
                # idle must hold a moment (Run All queues cells one after another)
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 0.3:
                    return st
            else:
                idle_since = None
            time.sleep(0.2)
        raise AssertionError(f"cells not all executed after {timeout}s: {st}")

    def run_all_and_wait(self, timeout: float = 120, method: str = "auto") -> dict:
        self.run_all(method)
        return self.wait_executed(timeout)

    # -- Python side ---------------------------------------------------------
    def kernel_exec(self, code: str, timeout: float = 30) -> str:
        """Run *code* in the notebook's kernel (no new cell); return its stdout."""
        r = self.page.evaluate("([c]) => window.__xw.exec(c, null)", [code])
        if r["status"] != "ok":
            raise KernelError(f"{r['ename']}: {r['evalue']}\n{STRIP_ANSI.sub('', r['traceback'] or '')}")
        return r["stream"]

    def py(self, expr: str) -> Any:
        """Evaluate a Python expression in the notebook's kernel; JSON-able result."""
        wrapped = (
            "__import__('json').dumps(" + expr + ", default=lambda o: o.tolist() "
            "if hasattr(o, 'tolist') else str(o))"
        )
        r = self.page.evaluate("([e]) => window.__xw.exec('', e)", [wrapped])
        v = r["value"]
        if r["status"] != "ok" or v.get("status") != "ok":
            raise KernelError(f"evaluating {expr!r}: {v.get('ename')}: {v.get('evalue')}")
        return json.loads(ast.literal_eval(v["data"]["text/plain"]))

    def wait_py(self, expr: str, pred, timeout: float = 10) -> Any:
        """Poll ``py(expr)`` until ``pred(value)``; return the last value."""
        deadline = time.monotonic() + timeout
        v = None
        while time.monotonic() < deadline:
            v = self.py(expr)
            if pred(v):
                return v
            time.sleep(0.2)
        return v

    # -- DOM -----------------------------------------------------------------
    def wait_ready(self, root_selector: str, count: int | None = None, timeout: float = 60) -> list:
        """Wait until the widget roots exist (``count`` of them) and all are ``data-xw-ready=1``."""
        loc = self.page.locator(root_selector)
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            n = loc.count()
            ready = loc.evaluate_all("els => els.map(e => e.getAttribute('data-xw-ready'))")
            last = ready
            if n and (count is None or n >= count) and all(r == "1" for r in ready):
                return [loc.nth(i) for i in range(n)]
            time.sleep(0.2)
        raise AssertionError(
            f"{root_selector}: expected {count if count is not None else '>=1'} roots with "
            f"data-xw-ready=1 within {timeout}s, got {last}\npage errors: {self.page_errors}\n"
            f"console errors: {self.console_errors}"
        )

    def snapshot(self, canvas) -> Snapshot:
        """Pixels of a ``<canvas>`` locator / element handle."""
        canvas.scroll_into_view_if_needed()
        r = canvas.evaluate("el => window.__xw.pixels(el)")
        raw = np.frombuffer(base64.b64decode(r["b64"]), dtype=np.uint8)
        return Snapshot(raw.reshape(r["h"], r["w"], 4).copy(), r["rect"])

    def wait_pixels_change(self, canvas, before: Snapshot, timeout: float = 10, min_fraction: float = 0.0) -> Snapshot:
        deadline = time.monotonic() + timeout
        snap = before
        while time.monotonic() < deadline:
            snap = self.snapshot(canvas)
            if changed_fraction(before, snap) > min_fraction:
                return snap
            time.sleep(0.15)
        return snap

    # -- errors --------------------------------------------------------------
    def fatal_console_errors(self) -> list[str]:
        return [m for m in self.console_errors if not any(p.search(m) for p in BENIGN_CONSOLE)]

    def fatal_page_errors(self) -> list[str]:
        return [e for e in self.page_errors if not is_upstream_page_error(e)]

    def assert_no_page_errors(self) -> None:
        # the sync API delivers page events only while it talks to the browser
        self.page.wait_for_timeout(300)
        self.page._xw_checked = True  # type: ignore[attr-defined]
        problems = [f"pageerror: {e}" for e in self.fatal_page_errors()]
        problems += [f"console.error: {e}" for e in self.fatal_console_errors()]
        assert not problems, "errors in the page:\n" + "\n".join(problems)


def set_range_value(locator, value: float) -> None:
    """Move an ``<input type=range>`` as a user would: value, then input + change events."""
    locator.scroll_into_view_if_needed()
    locator.evaluate(
        """(el, v) => {
            const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
            setter.call(el, String(v));
            el.dispatchEvent(new Event('input', { bubbles: true }));
            el.dispatchEvent(new Event('change', { bubbles: true }));
        }""",
        value,
    )


def click_image_pixel(page, canvas, row: int, col: int, height: int, width: int) -> tuple[int, int]:
    """Click the centre of original-image pixel (row, col) of a canvas showing the whole image.

    Returns the original pixel actually under the click, from the event's
    (integer) clientX/clientY and the canvas box at that moment: when the
    image is shown smaller than 1 CSS px per pixel, not every pixel can be hit.
    """
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box and box["width"] > 0 and box["height"] > 0, f"canvas has no box: {box}"
    canvas.evaluate(
        """el => el.addEventListener('click', e => {
            const r = el.getBoundingClientRect();
            el.__xwClick = { x: e.clientX, y: e.clientY, left: r.left, top: r.top, width: r.width, height: r.height };
        }, { once: true, capture: true })"""
    )
    x = box["x"] + (col + 0.5) * box["width"] / width
    y = box["y"] + (row + 0.5) * box["height"] / height
    page.mouse.click(x, y)
    c = canvas.evaluate("el => el.__xwClick || null")
    assert c, "the click did not reach the canvas"
    r = min(height - 1, max(0, int((c["y"] - c["top"]) / c["height"] * height)))
    k = min(width - 1, max(0, int((c["x"] - c["left"]) / c["width"] * width)))
    assert abs(r - row) <= 1 and abs(k - col) <= 1, f"aimed at {(row, col)}, hit {(r, k)}"
    return r, k


def region(px: np.ndarray, cx: int, cy: int, r: int) -> np.ndarray:
    h, w = px.shape[:2]
    return px[max(0, cy - r): min(h, cy + r + 1), max(0, cx - r): min(w, cx + r + 1)]
