"""BlendMask (Chen et al., CVPR 2020): FCOS + bottom-module bases + top-layer attentions + blender."""

from .config import BlendMaskConfig
from .modeling import BlendMask

__all__ = ["BlendMask", "BlendMaskConfig"]
