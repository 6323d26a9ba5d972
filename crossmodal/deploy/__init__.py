"""Shipping a fine-tuned student: export it with its input encoding inside, and run it on new recordings.

`export` writes ONNX or TorchScript files (crossmodal-export), with `precision`, `quantize` and `quality` for the
int8 / fp16 and fixed-size files and `card` for the model card; `predict` runs a run's student or such a file
(crossmodal-predict), `frames` reads what it runs on, `views` draws legends and panels, `ranges` flags frames far
outside the training range, and `cli` holds the options both commands share.
"""
