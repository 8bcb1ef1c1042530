"""Pure-torch reference implementation of ENTROPY-SELECT (SPEC §1-7). Imports torch only."""

from .allocation import allocate_frame_budget, budget_bounds, frame_saliency
from .checks import check_features, resolve_budget
from .config import ENTROPY_MODES, EntropySelectConfig
from .entropy import entropy_term, local_window_entropy, minmax_normalize, neighbour_offsets
from .fusion import FusedCells, fuse_cells
from .gradient import normalized_gradient, spatial_gradient_magnitude
from .grid import cell_quota, grid_cells, grid_quota_topk, rank_within
from .select import fused_scores, mask_to_index, select_reference
from .selection import Selection, assemble_selection

__all__ = [
    "ENTROPY_MODES",
    "EntropySelectConfig",
    "FusedCells",
    "Selection",
    "allocate_frame_budget",
    "assemble_selection",
    "budget_bounds",
    "cell_quota",
    "check_features",
    "entropy_term",
    "frame_saliency",
    "fuse_cells",
    "fused_scores",
    "grid_cells",
    "grid_quota_topk",
    "local_window_entropy",
    "mask_to_index",
    "minmax_normalize",
    "neighbour_offsets",
    "normalized_gradient",
    "rank_within",
    "resolve_budget",
    "select_reference",
    "spatial_gradient_magnitude",
]
