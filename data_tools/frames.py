"""Frame helpers the sensor converters share: modality names, NAME=VALUE options, scales, attributes.

Used by data_tools.pairs for folders of files, data_tools.rosbag for bag topics, and the modules beside them.
"""
from __future__ import annotations

import argparse
from typing import Iterable

import numpy as np

from crossmodal.data.h5format import DEFAULT_MODALITY_ATTRS, MODALITY_NAME, RESERVED_MODALITIES


def is_depth(name: str) -> bool:
    """True for depth-like modalities, resized with nearest neighbours so that 0 = no reading stays exact."""
    return name == "depth" or name.endswith("_depth")


def name_value(text: str) -> tuple[str, str]:
    """Parse NAME=VALUE, as an argparse type."""
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value


def check_modality_name(name: str) -> None:
    """Refuse a source or target name the paired format cannot store.

    A name is a letter, then letters, digits or underscores; 'label' and the reserved names are refused too.
    """
    if not MODALITY_NAME.fullmatch(name) or name in RESERVED_MODALITIES or name == "label":
        raise ValueError(f"modality name {name!r}: expected a letter then letters, digits or _ "
                         f"(not 'label' or {', '.join(RESERVED_MODALITIES)})")


def parse_scales(items: Iterable[tuple[str, str]], targets: set[str]) -> dict[str, float]:
    """The --scale NAME=FACTOR options as numbers, one per named target.

    Each name must be a --target; each factor a finite non-zero number (ValueError naming the option otherwise).
    """
    scale: dict[str, float] = {}
    for name, value in items:
        if name not in targets:
            raise ValueError(f"--scale {name}=...: '{name}' is not a --target here ({', '.join(sorted(targets))})")
        try:
            scale[name] = float(value)
        except ValueError:
            raise ValueError(f"--scale {name}={value}: not a number") from None
        if not np.isfinite(scale[name]) or scale[name] == 0:
            raise ValueError(f"--scale {name}={value}: expected a finite non-zero factor")
    return scale


def role_attrs(name: str, role: str, scale: float, sample: np.ndarray, values: str, channels: str) -> dict:
    """Units, channels and scale of one modality, for names the format has no defaults for.

    A source gets sRGB units; a target its scale and, when its name has no defaults, units of `values` (e.g.
    'file values') times the scale, and a channel text ending in `channels` (e.g. 'as read from the files').
    """
    attrs: dict = {}
    if role == "source" and name not in DEFAULT_MODALITY_ATTRS:
        attrs.update(units="srgb-uint8", channels="R,G,B")
    if role == "target":
        attrs["scale"] = float(scale)
        if name not in DEFAULT_MODALITY_ATTRS:
            c = 1 if sample.ndim == 2 else sample.shape[2]
            attrs["units"] = values + (f" x {scale:g}" if scale != 1 else "")
            attrs["channels"] = f"{name}: {c} channel{'s' if c > 1 else ''} {channels}"
    return attrs
