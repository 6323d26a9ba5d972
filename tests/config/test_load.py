"""Config loading: YAML + overrides, strict keys with suggestions, type and value checks."""
import subprocess
import sys

import pytest

from conftest import REPO
from crossmodal.config import Config, ConfigError, dump_yaml, load_config, parse_overrides


def test_default_yaml_equals_builtin_defaults_where_it_sets_nothing_else():
    cfg = load_config("configs/default.yaml")
    assert cfg.methods == ["none", "crd_dense"]
    assert cfg.transfer.crd_dense.num_locations == 16
    assert cfg.data.synthetic.size == "96x128"


def test_overrides_are_typed_and_nested():
    cfg = load_config("configs/smoke.yaml", ["transfer.epochs=3", "transfer.lr=1e-3", "methods=[none,crd]",
                                             "data.synthetic.out=/tmp/x"])
    assert cfg.transfer.epochs == 3 and cfg.transfer.lr == pytest.approx(1e-3)
    assert cfg.methods == ["none", "crd"] and cfg.data.synthetic.out == "/tmp/x"
    assert parse_overrides(["a.b=2", "a.c=x"]) == {"a": {"b": 2, "c": "x"}}


def test_an_empty_mapping_override_clears_the_files_mapping():
    """`tune.trials={}` must drop the study's trials (merged key by key, {} would keep them all)."""
    base = load_config("configs/study_synthetic.yaml")
    assert base.tune.trials
    cfg = load_config("configs/study_synthetic.yaml", ["tune.trials={}", "methods=[none]",
                                                       "controls.random_teacher=[]", "finetune.label_methods=[]"])
    assert cfg.tune.trials == {} and cfg.methods == ["none"]
    assert cfg.finetune.lr == base.finetune.lr  # a non-empty section still merges key by key


def test_int_is_accepted_for_float_but_not_the_reverse():
    assert load_config(None, ["transfer.lr=1"]).transfer.lr == 1.0
    with pytest.raises(ConfigError, match="'transfer.epochs' must be an integer"):
        load_config(None, ["transfer.epochs=2.5"])


@pytest.mark.parametrize("override, message", [
    ("transfer.epoch=3", "unknown config key 'transfer.epoch'; did you mean transfer.epochs"),
    ("finetune.lr=-0.1", "'finetune.lr' must be a positive learning rate"),
    ("methods=[crd_dense,crdd]", "unknown method 'crdd'; did you mean"),
    ("student.arch=resnet99", "'student.arch' has unknown network 'resnet99'; did you mean"),
    ("student.arch=timmm:resnet18", "unknown network family 'timmm' in 'timmm:resnet18'; did you mean timm:resnet18"),
    ("student.arch=python:nets", "python:<module>:<callable>"),
    ("teacher.net.bn_recalibrate=sometimes", "'teacher.net.bn_recalibrate' must be auto or always or never"),
    ("transfer.crd.objective=foo", "'transfer.crd.objective' must be nce or infonce"),
    ("data.synthetic.size=96a", "'data.synthetic.size' must be HxW"),
    ("seed=abc", "'seed' must be an integer"),
    ("data.hflip=1", "'data.hflip' must be true or false"),
    ("transfer=3", "'transfer' must be a mapping"),
    ("notakey", "must look like key.sub=value"),
])
def test_bad_values_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_config(None, [override])


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_an_override_is_blamed_as_a_command_line_override_not_as_the_file(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config("configs/smoke.yaml", ["seed=3", "transfer.epoch=3"])
    assert str(err.value).startswith("command-line override 'transfer.epoch=3': unknown config key 'transfer.epoch'")
    assert "smoke.yaml" not in str(err.value)
    with pytest.raises(ConfigError, match=r"^command-line override 'finetune.lr=-1': config key 'finetune.lr' must be"):
        load_config("configs/smoke.yaml", ["finetune.lr=-1"])
    with pytest.raises(ConfigError, match=r"^command-line override 'notakey' must look like key.sub=value"):
        load_config("configs/smoke.yaml", ["notakey"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("transfer:\n  epoch: 3\n")
    with pytest.raises(ConfigError, match=f"^{bad}: unknown config key 'transfer.epoch'"):  # the file's own key
        load_config(bad, ["seed=1"])
    bad.write_text("finetune:\n  lr: -1\n")
    with pytest.raises(ConfigError, match=f"^{bad}: config key 'finetune.lr' must be a positive"):
        load_config(bad, ["seed=1"])
    assert load_config(bad, ["finetune.lr=0.1"]).finetune.lr == 0.1  # an override may mend the file


def test_resolved_config_round_trips_through_yaml(tmp_path):
    cfg = load_config("configs/smoke.yaml", ["seed=7"])
    path = tmp_path / "c.yaml"
    path.write_text(dump_yaml(cfg))
    assert load_config(path) == cfg
    assert isinstance(cfg, Config)


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_is_valid(path):
    assert load_config(path).name == path.stem


def test_config_checking_imports_no_torch():
    """A bad config is refused before torch, torchvision or Accelerate load (in well under a second here)."""
    code = ("import sys\nfrom crossmodal.cli import parse_args, run_config\nfrom crossmodal.config import ConfigError\n"
            "try:\n    run_config(parse_args(['--config', 'configs/smoke.yaml', 'transfer.crd.num_negatives=-1']))\n"
            "except ConfigError as err:\n    print(err)\n"
            "print(sorted(m for m in ('torch', 'torchvision', 'accelerate', 'albumentations') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert "transfer.crd.num_negatives" in r.stdout and r.stdout.strip().endswith("[]"), r.stdout + r.stderr
