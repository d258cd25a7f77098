"""Cooperative cancellation of long kernel runs.

A kernel cannot be interrupted from outside its thread (Python has no safe
thread kill), so cancellation is cooperative: code that wants to be able to
stop a run opens a :func:`cancel_scope` in the thread that runs the kernel,
and every progress step of the kernel (:func:`~._progress.progress`, which
kernels drive once per chunk of rows) calls :func:`check_cancelled`. When the
scope's ``threading.Event`` is set — from any thread — the next check raises
:class:`Cancelled`, which unwinds the kernel through its ``finally`` blocks
and context managers, so hooks are removed and the model is restored exactly
as after any other exception.

How fast a run stops is therefore the time of one chunk: callers that need a
bound (the Explorer widget promises < 1 s) pass a ``batch_size`` that keeps
chunks short.

A scope can also receive the progress of the run (``on_progress(desc, done,
total)``, called after every step) and silence the kernels' own tqdm bars
(``quiet=True``), e.g. when a widget shows the progress itself.

Scopes are per thread (``threading.local``): a scope opened in a worker thread
never affects kernels running in the main thread, and scopes nest (the
innermost one receives progress; a check raises when any open scope of the
thread is cancelled).

Example
-------
>>> import threading
>>> stop = threading.Event()
>>> with cancel_scope(stop) as scope:          # doctest: +SKIP
...     xw.integrated_gradients(model, x)      # another thread: stop.set()
Traceback (most recent call last):
Cancelled: the computation was cancelled
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator

__all__ = ["Cancelled", "CancelScope", "cancel_scope", "current_scope", "check_cancelled"]

ProgressFn = Callable[[str, int, "int | None"], None]


class Cancelled(Exception):
    """Raised inside a kernel when its :func:`cancel_scope` was cancelled.

    A subclass of :class:`Exception` (not ``BaseException``) so that the
    kernels' cleanup (``try/finally``, context managers) runs as for any error.
    """

    def __init__(self, message: str = "the computation was cancelled") -> None:
        super().__init__(message)


class CancelScope:
    """One cancellable run: an event, an optional progress callback, and whether bars are silenced.

    Parameters
    ----------
    event : threading.Event, optional
        Set it (from any thread) to cancel; a new one by default.
    on_progress : callable ``(desc, done, total)``, optional
        Called after every progress step of the kernels run inside the scope
        (``total`` may be None). Exceptions it raises propagate into the
        kernel, so keep it cheap and safe.
    quiet : bool
        Disable the kernels' own tqdm bars inside the scope.
    """

    __slots__ = ("event", "on_progress", "quiet")

    def __init__(self, event: threading.Event | None = None, *, on_progress: ProgressFn | None = None,
                 quiet: bool = False) -> None:
        self.event = event if event is not None else threading.Event()
        self.on_progress = on_progress
        self.quiet = bool(quiet)

    def cancel(self) -> None:
        """Ask the run to stop at its next check."""
        self.event.set()

    @property
    def cancelled(self) -> bool:
        return self.event.is_set()

    def report(self, desc: str, done: int, total: int | None) -> None:
        if self.on_progress is not None:
            self.on_progress(desc, done, total)


_LOCAL = threading.local()


def _stack() -> list[CancelScope]:
    st = getattr(_LOCAL, "stack", None)
    if st is None:
        st = _LOCAL.stack = []
    return st


@contextmanager
def cancel_scope(event: threading.Event | None = None, *, on_progress: ProgressFn | None = None,
                 quiet: bool = False) -> Iterator[CancelScope]:
    """Make kernels run in this thread cancellable through ``event`` (see the module docstring).

    Yields the :class:`CancelScope`; ``scope.cancel()`` (or ``event.set()``)
    from any thread stops the run at its next progress step with
    :class:`Cancelled`.
    """
    scope = CancelScope(event, on_progress=on_progress, quiet=quiet)
    st = _stack()
    st.append(scope)
    try:
        yield scope
    finally:
        # remove this scope even if an inner one was left open by mistake
        for i in range(len(st) - 1, -1, -1):
            if st[i] is scope:
                del st[i]
                break


def current_scope() -> CancelScope | None:
    """The innermost open scope of this thread, or None."""
    st = _stack()
    return st[-1] if st else None


def check_cancelled() -> None:
    """Raise :class:`Cancelled` when any open scope of this thread is cancelled (no-op without a scope)."""
    for scope in _stack():
        if scope.event.is_set():
            raise Cancelled()
