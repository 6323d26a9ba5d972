"""Training stages: the frozen teacher, the unlabeled transfer, and supervised segmentation training."""
