"""The distiller registry: every registered name loads a Distiller of its own with its options, is documented and
is tested; config checks read `needs_teacher_logits` from the registration (no list of names elsewhere)."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from crossmodal.config.distillers import distiller
from crossmodal.distill import DISTILLERS, OPTIONS, REGISTRY, Distiller, DistillerConfig, config_key
from crossmodal.distributed import _HOOK_FLAG, install_gradient_averaging

REPO = Path(__file__).resolve().parents[2]
TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_each_registered_distiller_has_options_a_class_docs_and_a_test(name: str) -> None:
    entry = REGISTRY[name]
    assert dataclasses.is_dataclass(entry.options) and issubclass(entry.options, DistillerConfig), name
    assert OPTIONS[name] is entry.options
    cls = DISTILLERS[name]
    assert issubclass(cls, Distiller) and cls.name == name and cls.Config is entry.options
    assert cls.needs_teacher_logits is entry.needs_teacher_logits
    assert sum(c is cls for c in DISTILLERS.values()) == 1, f"{name}: one class serves two names"
    docs = (REPO / "docs" / "distillers.md").read_text() + (REPO / "docs" / "crd.md").read_text()
    assert re.search(rf"^##+ `?{re.escape(name)}`?:", docs, re.M), f"{name}: no section in docs/distillers.md or crd.md"
    tested = [p.name for p in TESTS.glob("test_*.py") if p.name != Path(__file__).name
              and re.search(rf"[\"']{re.escape(name)}[\"']", p.read_text())]
    assert tested, f"{name}: no test in tests/distill/ names it"
    assert config_key(name).isidentifier()


def test_a_second_registration_of_a_name_is_refused() -> None:
    with pytest.raises(RuntimeError, match="'kd' is registered twice"):
        distiller("kd", "kd:KD")(type("Again", (DistillerConfig,), {}))
    with pytest.raises(RuntimeError, match="reserved"):
        distiller("none", "kd:KD")(type("Again", (DistillerConfig,), {}))
    assert "none" not in REGISTRY


def test_the_transfer_stage_installs_gradient_averaging_for_any_distiller() -> None:
    """Distillers no longer install it themselves: a freshly built one has no hook until the stage adds it."""
    d = DISTILLERS["fitnet"]([4], [6], 8, OPTIONS["fitnet"]())
    assert list(d.parameters()) and not any(getattr(p, _HOOK_FLAG, False) for p in d.parameters())
    install_gradient_averaging(d)
    assert all(getattr(p, _HOOK_FLAG, False) for p in d.parameters())
    src = (REPO / "crossmodal" / "stages" / "transfer.py").read_text()
    assert "install_gradient_averaging(distiller)" in src


def test_classification_refuses_exactly_the_distillers_that_read_teacher_logits() -> None:
    from crossmodal.config import Config, validate
    from crossmodal.errors import ConfigError

    for name, entry in REGISTRY.items():
        cfg = Config(task="classification", methods=["none", name])
        if entry.needs_teacher_logits:
            with pytest.raises(ConfigError, match="per-pixel"):
                validate(cfg)
        else:
            validate(cfg)
