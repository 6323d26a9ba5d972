"""What the networks are: tapped modules, channels, strides, parameters, head.

As a table, log lines and the report's Networks section.
"""
from __future__ import annotations

import logging

from crossmodal.models import build_backbone, build_teacher
from crossmodal.models.summary import describe_network, log_networks, network_table
from eval.networks_section import networks_section


def _params(net) -> tuple[int, int]:
    params = list(net.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def test_builtin_student_and_segmenter_teacher():
    student = build_backbone("resnet_narrow", 1)
    row = describe_network(student, "student")
    assert row["arch"] == "resnet_narrow" and row["head"] is None and row["role"] == "student"
    assert [t["module"] for t in row["taps"]] == ["layer1", "layer2", "layer3"]
    assert [t["channels"] for t in row["taps"]] == student.out_channels
    assert [t["stride"] for t in row["taps"]] == student.strides
    assert (row["params_total"], row["params_trainable"]) == _params(student)
    teacher = build_teacher("resnet_narrow", 3, 5)
    row = describe_network(teacher, "teacher", "resnet_narrow")
    assert [t["module"] for t in row["taps"]] == ["layer1", "layer2", "layer3"]  # the Segmenter's backbone
    assert row["head"].startswith("SegHead") and row["params_total"] == _params(teacher)[0]


def test_torchvision_deeplab_teacher_lists_its_taps():
    teacher = build_teacher("torchvision:deeplabv3_mobilenet_v3_large", 3, 5)
    row = describe_network(teacher, "teacher", "torchvision:deeplabv3_mobilenet_v3_large")
    deepest = row["taps"][-1]
    assert deepest == {"module": "backbone.16", "channels": 960, "stride": 16}
    assert [t["stride"] for t in row["taps"]] == teacher.strides and "DeepLabHead" in row["head"]
    assert (row["params_total"], row["params_trainable"]) == _params(teacher)
    student = describe_network(build_backbone("resnet_narrow", 1), "student")
    table = network_table([row, student])
    assert "| teacher | 3 (-1) | `backbone.16` | 960 | 16 |" in table
    assert "| student | 2 (-1) | `layer3` | 64 | 8 |" in table
    assert f"teacher `torchvision:deeplabv3_mobilenet_v3_large`: {row['params_total']:,} parameters" in table


def test_a_frozen_teacher_counts_no_trainable_parameters():
    teacher = build_teacher("resnet_narrow", 3, 5)
    for p in teacher.parameters():
        p.requires_grad_(False)
    row = describe_network(teacher, "teacher")
    assert row["params_trainable"] == 0 and row["params_total"] == _params(teacher)[0] > 0


def test_log_lines_and_report_section(caplog):
    rows = [describe_network(build_backbone("resnet_narrow", 1), "student")]
    with caplog.at_level(logging.INFO, logger="summary-test"):
        log_networks(logging.getLogger("summary-test"), rows)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "student resnet_narrow stage 0 (-3): layer1, 16 channels, stride 2" and len(lines) == 4
    section = networks_section(rows)
    assert section[:2] == ["", "## Networks"] and network_table(rows) in section
    assert networks_section(None) == [] and networks_section([]) == []
