"""The downstream protocols that measure a student, and what each method's result holds.

The parts are fine-tuning and testing, the frozen dense probe and the linear probes; protocols.py puts them
together per task.
"""
from crossmodal.downstream.evaluate import evaluate_model, load_finetuned, predict
from crossmodal.downstream.finetune import check_head_init, distiller_head, evaluate_finetuned, finetune_and_evaluate
from crossmodal.downstream.probes import (
    dense_features,
    fit_head,
    frozen_features,
    linear_probes,
    pooled_features,
    probe_segmentation,
    train_linear,
)
from crossmodal.downstream.results import MethodResult, example_indices

__all__ = ["MethodResult", "check_head_init", "dense_features", "distiller_head", "evaluate_finetuned",
           "evaluate_model", "example_indices", "finetune_and_evaluate", "fit_head", "frozen_features",
           "linear_probes", "load_finetuned", "pooled_features", "predict", "probe_segmentation", "train_linear"]
