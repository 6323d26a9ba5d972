"""Checkpoint files: written atomically, always with the resolved config inside."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from crossmodal.atomic import atomic_path


def save_checkpoint(obj: dict[str, Any], path: Path) -> None:
    """torch.save to a temporary file in the same folder, then rename: never a half-written checkpoint."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
