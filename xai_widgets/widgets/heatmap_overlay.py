"""Placeholder: being written."""
class HeatmapOverlay: pass
