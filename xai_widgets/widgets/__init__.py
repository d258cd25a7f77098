"""anywidget views. Each accepts an :class:`~xai_widgets.Attribution`."""
from .attention_view import AttentionView
from .explorer import Explorer, explore
from .force_plot import ForcePlot
from .generation_heatmap import GenerationHeatmap
from .heatmap_overlay import HeatmapOverlay
from .summary_plot import SummaryPlot
from .text_heatmap import TextHeatmap

__all__ = ["HeatmapOverlay", "TextHeatmap", "ForcePlot", "AttentionView", "Explorer", "explore", "SummaryPlot", "GenerationHeatmap"]
