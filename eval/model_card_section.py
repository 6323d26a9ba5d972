"""The "Model card" section of report.md: the reported student's size, compute, latency and file size per precision.

It renders the dict crossmodal.deploy.card.run_card returns (metrics.json `model_card`): a card, or a one-line
reason where the run has none (an image-level task, a student the exporter cannot wrap).
"""
from __future__ import annotations

from typing import Any, Mapping


def _size(h_w: list[int]) -> str:
    """[480, 640] -> '480x640'."""
    return "x".join(str(v) for v in h_w)


def _megabytes(n: int) -> str:
    """A byte count as MB with its exact value: '1.35 MB (1,351,234 bytes)'."""
    return f"{n / 1e6:.3g} MB ({n:,} bytes)"


def _student_lines(card: Mapping[str, Any]) -> list[str]:
    """Which student the card describes, its parameters and its GFLOPs."""
    s = card.get("student")
    said = (f"The fine-tuned `{s['method']}` student, seed {s['seed']}: {s['chosen']}. Every method of the run shares "
            f"the architecture (`{s['network']}`)." if s else "The exported student.")
    gflops = "; ".join(f"{c['gflops']:.4g} at {_size(c['size'])} ({c['what']})" for c in card["compute"])
    return [said, "", f"- parameters: {card['parameters']:,} ({card['parameters_counted']})",
            f"- GFLOPs per frame: {gflops}. {card['flops_counted']}."]


def _onnx_lines(onnx: Mapping[str, Any]) -> list[str]:
    """The table of file size and latency per precision, what the latency was measured on, how files were made."""
    if "precisions" not in onnx:
        return ["", f"File sizes and latency: {onnx['not_measured']}"]
    lines = ["", "| precision | ONNX file | CPU latency, batch 1 (ms, median) |", "|---|---|---|"]
    for p, row in onnx["precisions"].items():
        size = _megabytes(row["bytes"]) if "bytes" in row else "-"
        latency = f"{row['latency_ms']:.3g}" if "latency_ms" in row else "-"
        note = f" (not measured: {row['not_measured']})" if "not_measured" in row else ""
        lines.append(f"| {p} | {size} | {latency}{note} |")
    lines += ["", f"Latency: {onnx['runtime']} on {onnx['cpu']} ({onnx['logical_cpus']} logical CPUs, shared with "
                  f"whatever else ran), intra_op_num_threads {onnx['intra_op_num_threads']}, batch {onnx['batch']} "
                  f"at {_size(onnx['size'])}, the {onnx['statistic']} of {onnx['runs']} runs after "
                  f"{onnx['warmup']} warm-up runs. The fp32 file is what crossmodal-export writes"]
    made = _conversions(onnx)
    if made:
        lines[-1] += "; the others are its conversions by crossmodal.deploy.quantize:"
        return lines + [""] + made
    lines[-1] += "."
    return lines


def _conversions(onnx: Mapping[str, Any]) -> list[str]:
    """'- int8: QDQ; ...': how each converted file was made, as quantize reported it."""
    said = []
    for p, row in onnx["precisions"].items():
        c = row.get("conversion")
        if not c:
            continue
        if p.startswith("int8"):
            frames = onnx.get("calibration") or f"{c.get('calibration_frames')} sensor frames"
            parts = [c.get("format"), f"weights {c.get('weights')}", f"activations {c.get('activations')}",
                     f"{c.get('calibration_method')} calibration on {frames}",
                     f"{c.get('quantised_convs')} convolutions quantised"]
        else:
            parts = [f"weights and activations {c.get('weights')}", c.get("io")]
        kept = ", ".join(x.replace("_", " ") for x in c.get("float32_parts", []))
        said.append(f"- {p}: " + "; ".join(str(x) for x in parts if x) + (f"; float32 kept for: {kept}" if kept
                                                                         else ""))
    return said


def model_card_section(card: Mapping[str, Any] | None) -> list[str]:
    """The section's markdown lines ('## Model card' first, a blank line last); none without a card."""
    if not card:
        return []
    lines = ["## Model card", ""]
    if "reason" in card:
        return lines + [str(card["reason"]), ""]
    return lines + _student_lines(card) + _onnx_lines(card["onnx"]) + [""]


def with_model_card(report: str, card: Mapping[str, Any] | None) -> str:
    """report.md's text with the model card section placed before its closing '## Software' section (else at the end).
    """
    section = model_card_section(card)
    if not section:
        return report
    head, sep, tail = report.rpartition("\n## Software\n")
    if not sep:
        return report.rstrip("\n") + "\n\n" + "\n".join(section)
    return head.rstrip("\n") + "\n\n" + "\n".join(section) + sep + tail
