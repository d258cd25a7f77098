"""Placeholder: being written."""
def occlusion(*a, **k): raise NotImplementedError
