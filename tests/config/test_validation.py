"""Validation: each section checks its own values, then the checks across sections, then the tried settings."""
from __future__ import annotations

import pytest

from crossmodal.config import Config, ControlsConfig, FinetuneConfig, NetConfig, ProbeConfig, load_config, validate
from crossmodal.errors import ConfigError
from crossmodal.runtime import TRACKERS, check_trackers


def test_a_section_checks_itself_under_the_key_it_is_given():
    with pytest.raises(ConfigError, match=r"^config key 'student.head_channels' must be > 0, got 0$"):
        NetConfig(head_channels=0).check("student")
    with pytest.raises(ConfigError, match=r"^config key 'teacher.net.arch' has unknown network"):
        NetConfig(arch="resnet99").check("teacher.net")
    with pytest.raises(ConfigError, match=r"^config key 'probe.lr' must be a positive learning rate, got 0$"):
        ProbeConfig(lr=0).check("probe")


def test_the_checks_across_sections_run_after_the_sections():
    with pytest.raises(ConfigError, match="'controls.random_teacher' must be distinct methods of 'methods'"):
        validate(Config(methods=["none", "crd"], controls=ControlsConfig(random_teacher=["kd"])))
    with pytest.raises(ConfigError, match="'finetune.label_methods' must be methods of 'methods'"):
        validate(Config(methods=["none"], finetune=FinetuneConfig(label_methods=["crd"])))
    validate(Config())


def test_an_error_outside_the_trials_is_not_blamed_on_a_trial():
    """study_synthetic.yaml tunes methods; a wrong key elsewhere is reported as itself, not as a trial's."""
    with pytest.raises(ConfigError) as err:
        load_config("configs/study_synthetic.yaml", ["checkpoint.keep=0"])
    assert str(err.value) == ("command-line override 'checkpoint.keep=0': config key 'checkpoint.keep' must be >= 1, "
                              "got 0")


def test_a_trial_that_does_not_apply_names_the_trial():
    with pytest.raises(ConfigError, match=r"config key 'tune.trials.crd_dense\[0\]': config key 'transfer.lr' "
                                          r"must be a positive learning rate"):
        load_config("configs/smoke.yaml", ["tune.trials={crd_dense: [{transfer.lr: -1}]}"])


def test_trackers_are_checked_next_to_the_accelerator():
    assert "tensorboard" in TRACKERS
    with pytest.raises(ConfigError, match="config key 'trackers' must be a list of tensorboard, wandb"):
        check_trackers(["nope"])
    with pytest.raises(ConfigError, match="config key 'trackers' must be a list of"):
        load_config(None, ["trackers=[nope]"])
