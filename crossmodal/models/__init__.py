"""Networks: ResNet backbones with any number of input channels, and the segmentation head."""
from crossmodal.models.backbone import ARCHS, ResNetBackbone, build_backbone
from crossmodal.models.segmenter import SegHead, Segmenter

__all__ = ["ARCHS", "ResNetBackbone", "build_backbone", "SegHead", "Segmenter"]
