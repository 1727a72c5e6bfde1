"""Research measures on BlendMask predictions, as pure computations with typed results (no drawing).

* ``steps``: the paper's Figure 1 numbers for one detection (cropped bases, weights, products, logits).
* ``bases``: §3.4's reading of the bases, basis ablation and the average attention.
* ``matching`` / ``inspection``: predictions against ground truth instance by instance.
* ``probes``: oracle attentions, how much of a mask given bases can express at attention size M.
* ``merge_comparison``: the paper's Table 1 experiment (blender vs weighted sum vs assembler).
* ``precision``: the accuracy cost of bfloat16 inference against float32.
* ``speed``: BlendMask against torchvision's Mask R-CNN, end to end and per stage (Tables 8-9).
"""

from .bases import (
    AttentionTemplate,
    BasisAblation,
    BasisSemantics,
    attention_template,
    basis_ablation,
    basis_semantics,
    direction_name,
)
from .inspection import ImagePredictions, Inspection, inspect_predictions, rank_by_confidence, threshold_sweep
from .matching import (
    FALSE_POSITIVE,
    MATCH,
    MISS,
    InstanceMatch,
    Pairing,
    best_correct_detections,
    false_positive_reason,
    first_common_instance,
    mask_rles,
    match_instances,
    match_summary,
    match_to_ground_truth,
    miss_reason,
)
from .probes import (
    AttentionProbe,
    OracleResult,
    ProbeRecord,
    format_probe_summary,
    mask_iou,
    oracle_attention,
    probe_detection,
    probe_matched_instances,
    summarize_probes,
    target_in_box,
)
from .steps import BlendingSteps, blending_steps, crop_in_box

__all__ = [
    "FALSE_POSITIVE",
    "MATCH",
    "MISS",
    "AttentionProbe",
    "AttentionTemplate",
    "BasisAblation",
    "BasisSemantics",
    "BlendingSteps",
    "ImagePredictions",
    "Inspection",
    "InstanceMatch",
    "OracleResult",
    "Pairing",
    "ProbeRecord",
    "attention_template",
    "basis_ablation",
    "basis_semantics",
    "best_correct_detections",
    "blending_steps",
    "crop_in_box",
    "direction_name",
    "false_positive_reason",
    "first_common_instance",
    "format_probe_summary",
    "inspect_predictions",
    "mask_iou",
    "mask_rles",
    "match_instances",
    "match_summary",
    "match_to_ground_truth",
    "miss_reason",
    "oracle_attention",
    "probe_detection",
    "probe_matched_instances",
    "rank_by_confidence",
    "summarize_probes",
    "target_in_box",
    "threshold_sweep",
]
