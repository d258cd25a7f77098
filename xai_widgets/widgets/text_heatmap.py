"""Placeholder: being written."""
class TextHeatmap: pass
