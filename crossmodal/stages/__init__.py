"""Training stages: the frozen teacher, the unlabeled transfer, supervised training, and the cells of a run."""
