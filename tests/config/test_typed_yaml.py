"""The generic loader: typed dataclasses from mappings and overrides, knowing nothing of the config's sections."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from crossmodal.config.typed_yaml import build, dump_yaml, merge, parse_overrides, to_dict
from crossmodal.errors import ConfigError


@dataclass
class Inner:
    rate: float = 0.1
    names: list[str] = field(default_factory=list)


@dataclass
class Outer:
    count: int = 1
    flag: bool = False
    inner: Inner = field(default_factory=Inner)
    path: str = field(default="", metadata={"expects": "a file path"})
    table: dict[str, int] = field(default_factory=dict)
    maybe: int | None = None


def test_any_dataclass_is_built_with_its_types():
    out = build(Outer, {"count": 3, "inner": {"rate": 1, "names": ["a"]}, "table": {"x": 2}, "maybe": None})
    assert out == Outer(count=3, inner=Inner(rate=1.0, names=["a"]), table={"x": 2})
    assert isinstance(out.inner.rate, float)
    assert build(Inner, {"rate": "1e-3"}).rate == 0.001  # YAML 1.1 reads 1e-3 as a string


@pytest.mark.parametrize("values, message", [
    ({"cout": 1}, "unknown config key 'cout'; did you mean count?"),
    ({"inner": {"rte": 1}}, "unknown config key 'inner.rte'; did you mean inner.rate?"),
    ({"count": 1.5}, "config key 'count' must be an integer, got 1.5"),
    ({"flag": 1}, "config key 'flag' must be true or false, got 1"),
    ({"inner": 3}, "config key 'inner' must be a mapping of ['names', 'rate'], got 3"),
    ({"inner": {"names": "a"}}, "config key 'inner.names' must be a list, got 'a'"),
    ({"path": 3}, "config key 'path' must be a file path, got 3"),
    ({"table": {"x": "y"}}, "config key 'table.x' must be an integer, got 'y'"),
])
def test_a_value_that_does_not_fit_names_its_dotted_key(values, message):
    with pytest.raises(ConfigError) as err:
        build(Outer, values)
    assert str(err.value).startswith(message)


def test_overrides_merge_section_by_section_and_an_empty_mapping_clears():
    tree = parse_overrides(["inner.rate=2", "inner.names=[a,b]", "count=4"])
    assert tree == {"inner": {"rate": 2, "names": ["a", "b"]}, "count": 4}
    assert merge({"inner": {"rate": 1, "x": 0}}, tree)["inner"] == {"rate": 2, "x": 0, "names": ["a", "b"]}
    assert merge({"table": {"a": 1}}, parse_overrides(["table={}"])) == {"table": {}}
    with pytest.raises(ConfigError, match="'count' is not a section"):
        parse_overrides(["count=1", "count.x=2"])


def test_the_way_back_is_plain_data_in_field_order():
    out = Outer(count=2)
    assert list(to_dict(out)) == ["count", "flag", "inner", "path", "table", "maybe"]
    assert dump_yaml(out).startswith("count: 2\nflag: false\ninner:\n  rate: 0.1\n")
