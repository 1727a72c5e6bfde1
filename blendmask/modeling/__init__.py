"""BlendMask modeling: backbone + FPN, FCOS head with top layer, bottom module, blender."""

from .blendmask import BlendMask

__all__ = ["BlendMask"]
