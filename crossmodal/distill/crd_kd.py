"""`crd+kd`: the paper's combination as one distiller, pooled CRD (beta 0.8) plus pixel-wise KD (alpha 1)."""
from __future__ import annotations

from crossmodal.distill.crd import PooledCRD
from crossmodal.distill.plus_kd import PlusKD


class CRDKD(PlusKD):
    """weight * (crd.weight * CRD on pooled features + kd.weight * KD through the distiller's own head)."""

    part, part_key = PooledCRD, "crd"
