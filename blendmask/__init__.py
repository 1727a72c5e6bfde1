"""BlendMask (Chen et al., CVPR 2020): FCOS + bottom-module bases + top-layer attentions + blender."""
