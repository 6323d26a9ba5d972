"""`crd+kd`: the paper's combination, pooled CRD (beta 0.8) plus pixel-wise KD (alpha 1), as one distiller."""
from __future__ import annotations

from crossmodal.distill.base import register
from crossmodal.distill.crd_pooled import PooledCRD
from crossmodal.distill.options import CRDKDConfig
from crossmodal.distill.plus_kd import PlusKD


@register
class CRDKD(PlusKD):
    """weight * (crd.weight * CRD on pooled features + kd.weight * KD through the distiller's own head)."""

    name = "crd+kd"
    Config = CRDKDConfig
    part, part_key = PooledCRD, "crd"
