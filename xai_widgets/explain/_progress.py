"""Progress bars that appear only for long work and leave nothing behind.

A bar shows once the work has lasted ``delay`` seconds (1 s by default), so
quick calls print nothing. When the work ends the bar disappears: in a
terminal the line is cleared; in a notebook the output the bar occupied is
replaced by an empty one, so a saved notebook holds no finished "0%" bar. A
bar stopped by an error stays, showing where it stopped.

Every step is also a cancellation point: inside a
:func:`~._cancel.cancel_scope` the bar is wrapped so that creating it, each
item of an iteration and each ``update()`` check the scope and raise
:class:`~._cancel.Cancelled` once it is cancelled, and report the step to the
scope's ``on_progress``. Outside a scope the plain tqdm bar is returned.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

from ._cancel import CancelScope, check_cancelled, current_scope

__all__ = ["progress", "DELAY"]

DELAY = 1.0

_NOTEBOOK_CLS: Any = None


def _notebook_bar_class() -> Any:
    global _NOTEBOOK_CLS
    if _NOTEBOOK_CLS is not None:
        return _NOTEBOOK_CLS
    from IPython.display import display as ipy_display
    from tqdm.notebook import tqdm_notebook

    class NotebookBar(tqdm_notebook):
        """tqdm's notebook bar, shown through a display handle so it can be removed at the end."""

        def display(self, msg=None, pos=None, close=False, bar_style=None, check_delay=True):  # noqa: D401
            super().display(msg, pos, close=close, bar_style=bar_style, check_delay=False)
            if check_delay and self.delay > 0 and not self.displayed and not close:
                self._xw_handle = ipy_display(self.container, display_id=True)
                self.displayed = True

        def close(self):
            if self.disable:
                return
            failed = bool(self.total and self.n < self.total)
            super().close()
            handle = getattr(self, "_xw_handle", None)
            if handle is not None and not self.leave and not failed:
                handle.update({}, raw=True)
                self._xw_handle = None

    _NOTEBOOK_CLS = NotebookBar
    return NotebookBar


def progress(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "", unit: str = "it",
             disable: bool = False, delay: float | None = None) -> Any:
    """A tqdm bar (``tqdm.auto``: a widget in notebooks) shown after ``delay`` s and removed when done.

    Parameters
    ----------
    iterable : iterable, optional
        Wrapped like ``tqdm(iterable)``; or drive the bar with ``update()``.
    total : int, optional
        Number of steps.
    desc, unit : str
        Label and unit.
    disable : bool
        No bar at all (e.g. too few steps to be worth one).
    delay : float, optional
        Seconds of work before the bar appears (default ``DELAY``, 1 s).

    Examples
    --------
    >>> with progress(total=10, desc="occlusion", unit="batch") as bar:   # doctest: +SKIP
    ...     for _ in range(10):
    ...         bar.update()
    """
    from tqdm.auto import tqdm as auto_tqdm
    from tqdm.notebook import tqdm_notebook

    scope = current_scope()
    if scope is not None:
        check_cancelled()  # a run cancelled before its first chunk stops here
        disable = disable or scope.quiet
    delay = DELAY if delay is None else delay
    cls = _notebook_bar_class() if issubclass(auto_tqdm, tqdm_notebook) else auto_tqdm
    bar = cls(iterable, total=total, desc=desc, unit=unit, leave=False, delay=delay, disable=disable)
    if scope is None:
        return bar
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    return _ScopedBar(bar, scope, desc, total)


class _ScopedBar:
    """A tqdm bar whose steps are cancellation points and are reported to the scope.

    tqdm's own iteration does not call ``update()`` (it counts inline), so
    iteration is wrapped too: the scope is checked before each item is handed
    to the kernel and the step is reported after the kernel's loop body ran.
    Everything else is delegated to the bar.
    """

    def __init__(self, bar: Any, scope: CancelScope, desc: str, total: int | None) -> None:
        self._bar, self._scope, self._desc, self._total = bar, scope, desc, total
        self._done = 0

    def __iter__(self) -> Iterator[Any]:
        for item in self._bar:
            check_cancelled()
            yield item
            self._done += 1
            self._scope.report(self._desc, self._done, self._total)
        check_cancelled()

    def update(self, n: int = 1) -> Any:
        out = self._bar.update(n)
        self._done += n
        self._scope.report(self._desc, self._done, self._total)
        check_cancelled()
        return out

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> "_ScopedBar":
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._bar.__exit__(*exc)

    def __len__(self) -> int:
        return len(self._bar)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bar, name)
