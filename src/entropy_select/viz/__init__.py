"""Figures of what a selector keeps and why (paper Fig. 5 and Fig. 6), via matplotlib.

The overlay helpers need torch only; the figures need matplotlib
(``pip install 'entropy-select[viz]'``), imported when a figure is drawn.
"""

from .figures import choose_frames, compare_figure, panel_figure, save_figure, strip_figure
from .overlay import DROP_SHADE, cell_edges, overlay_keep, upsample_grid

__all__ = [
    "DROP_SHADE",
    "cell_edges",
    "choose_frames",
    "compare_figure",
    "overlay_keep",
    "panel_figure",
    "save_figure",
    "strip_figure",
    "upsample_grid",
]
