"""Shipping a fine-tuned student: export it with its input encoding inside (ONNX or TorchScript)."""
from __future__ import annotations

# `crossmodal.deploy.export` is the module (python -m crossmodal.deploy.export); its function is export.export
__all__ = ["ExportError", "SensorModel", "TORCH_ENCODINGS", "build_sensor_model", "find_checkpoint", "list_checkpoints"]


def __getattr__(name: str):
    """Import the torch-based exporter only when one of its names is used, so `import crossmodal.deploy` stays light."""
    if name in __all__:
        import importlib

        _export = importlib.import_module("crossmodal.deploy.export")

        return getattr(_export, name)
    raise AttributeError(name)
