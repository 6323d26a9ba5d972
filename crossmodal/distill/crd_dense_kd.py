"""`crd_dense+kd`: dense CRD on the features plus pixel-wise KD on the teacher's logits, as one distiller.

Dense CRD alone learns much of what it teaches from pairing the two sensors at all (the random-teacher control,
docs/protocols.md); KD reads only what the teacher learned. The sum carries both."""
from __future__ import annotations

from crossmodal.distill.crd_dense import DenseCRD
from crossmodal.distill.plus_kd import PlusKD


class DenseCRDKD(PlusKD):
    """weight * (crd_dense.weight * dense CRD + kd.weight * KD through the distiller's own head)."""

    part, part_key = DenseCRD, "crd_dense"
