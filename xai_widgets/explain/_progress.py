"""Progress bars that appear only for long work and leave nothing behind.

A bar shows once the work has lasted ``delay`` seconds (1 s by default), so
quick calls print nothing. When the work ends the bar disappears: in a
terminal the line is cleared; in a notebook the output the bar occupied is
replaced by an empty one, so a saved notebook holds no finished "0%" bar. A
bar stopped by an error stays, showing where it stopped.
"""
from __future__ import annotations

from typing import Any, Iterable

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

    delay = DELAY if delay is None else delay
    cls = _notebook_bar_class() if issubclass(auto_tqdm, tqdm_notebook) else auto_tqdm
    return cls(iterable, total=total, desc=desc, unit=unit, leave=False, delay=delay, disable=disable)
