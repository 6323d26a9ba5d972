"""Networks: ResNet backbones with any number of input channels, and the segmentation head."""
from crossmodal.models.backbone import ARCHS, ResNetBackbone, build_backbone
from crossmodal.models.classifier import Classifier
from crossmodal.models.segmenter import SegHead, Segmenter

__all__ = ["ARCHS", "Classifier", "ResNetBackbone", "build_backbone", "SegHead", "Segmenter"]
