"""Pose metrics as pure numpy functions (camera mm in, mm or % out), shared by every dataset's scoring."""
from .align import aligned_errors, rigid_align, similarity_align
from .pose import ALIGNMENTS, auc, errors, group_means, joint_errors, pck, root_errors

__all__ = ["ALIGNMENTS", "aligned_errors", "auc", "errors", "group_means", "joint_errors", "pck", "rigid_align",
           "root_errors", "similarity_align"]
