"""Cross-modal transfer with CRD: frozen teacher -> student trained on unlabeled pairs -> downstream segmentation.

`accelerate launch run_transfer.py` (or `python run_transfer.py`) runs configs/default.yaml on the embedded
procedural RGB-D data; `--config FILE key.sub=value ...` runs any experiment. Writes runs/<name>/.
"""
from __future__ import annotations

import sys
import time

import yaml

from crossmodal.config import ConfigError, load_config, to_dict
from crossmodal.data.loaders import ensure_synthetic, input_spec, open_data, resolve_config
from crossmodal.runtime import DEFAULT_CONFIG, make_accelerator, parse_args, save_config, start_run
from crossmodal.checkpoint import save_checkpoint
from crossmodal.stages.teacher import get_teacher
from crossmodal.stages.transfer import build_student, run_transfer
from eval.report import write_run_report
from eval.segmentation import MethodResult, evaluate_model, finetune_and_evaluate


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.config or DEFAULT_CONFIG, args.overrides)
    accelerator = make_accelerator(cfg)
    run_dir, log = start_run(cfg, accelerator)
    t0 = time.time()

    # data: the embedded procedural scenes are generated on first use; real data comes from data_tools
    ensure_synthetic(cfg, accelerator.is_main_process)
    accelerator.wait_for_everyone()
    data = open_data(cfg)
    resolve_config(cfg, data)
    save_config(cfg, run_dir, accelerator)

    # teacher: frozen, loaded or trained once and cached
    teacher, teacher_info = get_teacher(cfg, data, accelerator, log, run_dir)

    # each method: transfer on unlabeled pairs (none = random init), then the downstream protocol
    results: dict[str, MethodResult] = {}
    for method in cfg.methods:
        t_method = time.time()
        if method == "none":
            student, curves = build_student(cfg, data), {}
        else:
            student, transfer_curve = run_transfer(cfg, method, data, teacher, accelerator, log, run_dir)
            curves = {"transfer": transfer_curve}
        result, model = finetune_and_evaluate(cfg, method, student, data, accelerator, log)
        if accelerator.is_main_process:
            save_checkpoint({"model": model.state_dict(), "method": method, "class_names": list(data.class_names),
                             "config": to_dict(cfg)}, run_dir / "checkpoints" / f"{method}_finetuned.pt")
        result.curves.update(curves)
        result.metrics["time_s"] = round(time.time() - t_method, 1)
        results[method] = result

    # the teacher on its own sensor: the reference the student is measured against
    metrics, confusion, examples = evaluate_model(cfg, teacher, data.test, data.class_names, cfg.data.source,
                                                  input_spec(cfg, "source"), accelerator, "test[teacher]")
    results[f"teacher_{cfg.data.source}"] = MethodResult(metrics, confusion, {"teacher": teacher_info["curve"]}, examples)

    if accelerator.is_main_process:
        table = write_run_report(run_dir, cfg, data, results, teacher_info["source"], accelerator, time.time() - t0)
        log.info("mIoU: %s", table)
        print(f"\nrun finished in {(time.time() - t0) / 60:.1f} min: {run_dir}/report.md\n"
              f"mIoU {yaml.safe_dump(table, default_flow_style=True).strip()}")
    accelerator.end_training()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ConfigError, FileNotFoundError, FileExistsError, ValueError) as err:  # bad input: one clear line
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
