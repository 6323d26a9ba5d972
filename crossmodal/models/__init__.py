"""Networks: the feature-backbone contract, every family's builder, the project's heads, and weight files."""
from crossmodal.models.backbone import ARCHS, ResNetBackbone
from crossmodal.models.classifier import Classifier
from crossmodal.models.features import FeatureNet, HookedFeatures
from crossmodal.models.networks import build_backbone, build_teacher
from crossmodal.models.own_head import OwnHeadNet
from crossmodal.models.segmenter import SegHead, Segmenter, seg_skip_stage

__all__ = ["ARCHS", "Classifier", "FeatureNet", "HookedFeatures", "OwnHeadNet", "ResNetBackbone", "SegHead",
           "Segmenter", "build_backbone", "build_teacher", "seg_skip_stage"]
