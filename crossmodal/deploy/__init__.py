"""Shipping a fine-tuned student: export it with its input encoding inside, and run it on new recordings.

`export` writes ONNX or TorchScript files (crossmodal-export), `predict` runs a run's student or such a file
(crossmodal-predict), `frames` reads what it runs on, and `cli` holds the options both commands share.
"""
