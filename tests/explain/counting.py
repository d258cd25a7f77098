"""Test helper: count what a model is run on (to prove checks happen before work)."""
from __future__ import annotations


class RowCounter:
    """Counts forward calls and the rows they carried (hook removed on close)."""

    def __init__(self, model):
        self.calls, self.rows, self.max_rows = 0, 0, 0
        self.handle = model.register_forward_pre_hook(self._hook)

    def _hook(self, module, args):
        self.calls += 1
        self.rows += int(args[0].shape[0])
        self.max_rows = max(self.max_rows, int(args[0].shape[0]))

    def close(self):
        self.handle.remove()
