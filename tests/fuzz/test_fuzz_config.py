"""Fuzzing the config loader: random YAML files, mutated shipped configs and key=value overrides (keys of the
real config, near misses and junk; values of every YAML type, nested junk). load_config either returns a config
or raises ConfigError naming the file, key or override; never another exception type or a hang."""
from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest
import yaml
from fuzz_support import FUZZ, check_error, no_hang
from hypothesis import given
from hypothesis import strategies as st

from crossmodal.config import Config, load_config
from crossmodal.errors import UserError

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "configs" / "smoke.yaml"


def config_keys(cls: type = Config, prefix: str = "") -> list[str]:
    """Every dotted key of the config, sections included (e.g. 'transfer', 'transfer.crd', 'transfer.crd.feat_dim')."""
    keys = []
    for f in dataclasses.fields(cls):
        tp = typing.get_type_hints(cls)[f.name]
        keys.append(prefix + f.name)
        if dataclasses.is_dataclass(tp):
            keys += config_keys(tp, f"{prefix}{f.name}.")
    return keys


KEYS = config_keys()
SHIPPED = sorted((REPO / "configs").glob("*.yaml"))

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10), st.sampled_from(["none", "crd_dense", "kd", "resnet_narrow", "resnet18", "96x128", "0x0",
                                           "1e-3", "rgb", "depth", "label", "segmentation", "hha", "", "x" * 300]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5) | st.integers(), inner, max_size=3),
                      max_leaves=8)
keys = st.one_of(st.sampled_from(KEYS), st.sampled_from(KEYS).map(lambda k: k + ".extra"),
                 st.sampled_from(KEYS).map(lambda k: k[:-1]), st.text(max_size=12))
# Override values as typed on a command line: YAML fragments, valid or not.
raw_values = st.one_of(values.map(lambda v: yaml.safe_dump(v, default_flow_style=True).strip()),
                       st.text(max_size=12), st.sampled_from(["[", "{a: 1", "]", "!!python/object:os.system", "&a [*a]",
                                                              ".nan", "-.inf", "0x1F", "1_000", "~", "'", "a: b: c"]))
overrides = st.lists(st.tuples(keys, raw_values).map(lambda kv: f"{kv[0]}={kv[1]}") | st.text(max_size=15),
                     max_size=4)


def _nested(pairs: list[tuple[str, object]]) -> dict:
    """A YAML tree from (dotted key, value) pairs; a later pair whose path crosses a value replaces it."""
    tree: dict = {}
    for dotted, value in pairs:
        node = tree
        parts = dotted.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    return tree


def load(path: Path | None, args: list[str]) -> None:
    """load_config on one input: a config, or a ConfigError naming the file, a key or an override."""
    with no_hang(f"load_config({path}, {args})"):
        try:
            load_config(path, args)
        except Exception as err:  # noqa: BLE001 - the check re-raises anything but the project's errors
            names = ("config key", "override", "config file") + ((str(path),) if path else ())
            check_error(err, (UserError,), *names, one_line=False)


@pytest.mark.slow
@FUZZ
@given(args=overrides, base=st.sampled_from([None, *SHIPPED]))
def test_overrides(args: list[str], base: Path | None) -> None:
    """Random key=value overrides on the built-in defaults or a shipped config."""
    load(base, args)


@FUZZ
@given(pairs=st.lists(st.tuples(st.sampled_from(KEYS), values), max_size=6), args=overrides)
def test_yaml_trees(tmp_path_factory: pytest.TempPathFactory, pairs: list[tuple[str, object]],
                    args: list[str]) -> None:
    """A YAML file of real keys with values of random types, plus overrides."""
    path = tmp_path_factory.mktemp("cfg") / "fuzz.yaml"
    path.write_text(yaml.safe_dump(_nested(pairs)))
    load(path, args)


@FUZZ
@given(base=st.sampled_from(SHIPPED), cuts=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 6), st.text(max_size=4)),
                                                    min_size=1, max_size=4))
def test_mutated_text(tmp_path_factory: pytest.TempPathFactory, base: Path,
                      cuts: list[tuple[float, int, str]]) -> None:
    """A shipped config with characters deleted and junk inserted (broken YAML, wrong indentation, odd unicode)."""
    text = base.read_text()
    for where, drop, junk in cuts:
        at = int(where * len(text))
        text = text[:at] + junk + text[at + drop:]
    path = tmp_path_factory.mktemp("cfg") / base.name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    load(path, [])


@FUZZ
@given(raw=st.binary(max_size=200))
def test_random_bytes(tmp_path_factory: pytest.TempPathFactory, raw: bytes) -> None:
    """A config file of random bytes (not text, not YAML, not a mapping)."""
    path = tmp_path_factory.mktemp("cfg") / "random.yaml"
    path.write_bytes(raw)
    load(path, [])


def test_keys_cover_the_shipped_configs() -> None:
    """The fuzzed key set is the real one: every key the shipped smoke config sets is in it, and it loads."""
    tree = yaml.safe_load(SMOKE.read_text())
    flat = [k for k, v in tree.items() if not isinstance(v, dict)] + \
        [f"{k}.{s}" for k, v in tree.items() if isinstance(v, dict) for s in v]
    assert set(flat) <= set(KEYS) and len(KEYS) > 100
    load_config(SMOKE)
