"""Cross-modal transfer with CRD: frozen teacher -> student trained on unlabeled pairs -> downstream evaluation.

`accelerate launch run_transfer.py` (or `python run_transfer.py`) runs configs/default.yaml on the embedded
procedural RGB-D data; `--config FILE key.sub=value ...` runs any experiment (several seeds with `seeds:`);
`--resume runs/<name>` continues a killed run from its last checkpoints. Writes runs/<name>/.
"""
from __future__ import annotations

import os
import sys
import time

import yaml

from crossmodal.cli import check_outputs, check_resume_data, check_reuse, parse_args, run_config, save_run_records
from crossmodal.config import resolve_config
from crossmodal.data.files import data_ready, ensure_synthetic, open_data
from crossmodal.data.plausibility import log_data_warnings
from crossmodal.errors import UserError


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = run_config(args)  # a config file plus overrides, or the saved config of the run in --resume
    check_outputs(cfg)  # the run folder and the teacher cache can be written, with room on their disk
    reuse = check_reuse(args, cfg)  # --reuse-cells (or the one a resumed run started with): cells to take over
    # data already in place are checked against the config here too, before torch is loaded
    data = open_data(cfg) if data_ready(cfg) else None
    # what a run needs (torch, Accelerate) loads here
    from crossmodal.deploy.card import run_card
    from crossmodal.diskspace import check_run_space
    from crossmodal.downstream import check_head_init
    from crossmodal.models.summary import log_networks
    from crossmodal.runtime import check_join, make_accelerator, save_config, start_run
    from crossmodal.stages.cells import run_cells
    from crossmodal.stages.context import RunContext
    from crossmodal.stages.dry_run import dry_run, network_rows
    from crossmodal.stages.teacher import get_teacher, random_teacher, resolve_teacher_input, teacher_network
    from crossmodal.stages.teacher_reference import teacher_references
    from crossmodal.stages.transfer import build_student
    from crossmodal.stages.tuning import tune_methods
    from eval.report import write_run_report

    accelerator = make_accelerator(cfg)
    check_join(args.join, accelerator.num_processes)  # --join: one more process on the run's cells, alone
    t0 = time.time()

    # data: the embedded procedural scenes are generated on first use (main process); real data comes from
    # data_tools. Checked against the config before the run folder is touched.
    if data is None:
        ensure_synthetic(cfg, accelerator.is_main_process)
    accelerator.wait_for_everyone()  # every process, whichever branch it took (a late one may find the data made)
    if data is None:
        data = open_data(cfg)
    cfg = resolve_config(cfg, data)
    check_resume_data(args, data)  # --resume: the data the run started on (content fingerprints), before any work
    teacher_input = resolve_teacher_input(cfg, data)  # its size, and its own pretrained normalisation if it has one

    # networks: the student is built once now, so a wrong name, tap or weights file (or a distiller head that
    # cannot start the fine-tuning, finetune.head_init) fails before any training
    student = build_student(cfg, data)
    check_head_init(cfg, student)
    if args.dry_run:  # both networks (the teacher untrained if it would be trained) and every distiller, one forward
        print(f"{teacher_input}\n\n{dry_run(cfg, data, teacher_network(cfg, data), student)}")
        return 0
    check_run_space(cfg, student)  # room on the run folder's disk for the checkpoints this run will write
    run_dir, log = start_run(cfg, accelerator, resume=args.resume is not None,
                             log_file=f"log.join-{os.getpid()}.txt" if args.join else "log.txt")
    if args.join is None:  # a joined process leaves the run's own files to the run
        save_config(cfg, run_dir, accelerator)
        save_run_records(run_dir, data, reuse, accelerator.is_main_process)  # what --resume compares and reuses
    log.info(teacher_input)
    log_data_warnings(data, (cfg.data.source, cfg.data.target), log.warning)  # suspicious frames (cached check)

    # teacher: frozen, loaded (strictly), trained once and cached, or a head-less feature backbone
    ctx = RunContext(cfg, data, accelerator, log, run_dir, reuse=reuse)  # what every stage below reads
    teacher, teacher_info = get_teacher(ctx)
    ctx = ctx.with_teacher(teacher)
    networks = network_rows(cfg, teacher, student)  # each tapped module, its channels and stride; parameters
    log_networks(log, networks)

    # choices: every setting listed in tune.trials is tried with the tune seeds and scored on the validation split
    # (test is not read); each tuned method then runs with its best setting
    chosen, tuning = tune_methods(ctx)
    cell_cfg = {m: chosen.get(m, cfg) for m in cfg.methods}

    # each (method, seed) cell: transfer on unlabeled pairs (none = random init), then the downstream protocol,
    # measured once on val and once on test
    results = run_cells(ctx, cell_cfg, cfg.methods)

    # controls: the listed methods again against a frozen teacher with untrained weights (what the teacher knows
    # is then the difference)
    controls: dict[str, dict] = {}
    if cfg.controls.random_teacher:
        control = ctx.with_teacher(random_teacher(ctx), control="random_teacher")
        controls["random_teacher"] = run_cells(control, cell_cfg, cfg.controls.random_teacher, "random_teacher")
    if args.join is not None:  # every cell is finished, by this process or another: the run writes the report
        print(f"joined {run_dir}: every cell is finished; the run started there writes its report.md")
        return 0

    # the teacher on its own sensor: the reference the student is measured against (its head on the data's classes,
    # and a frozen probe of its features, which a head-less teacher or one of another vocabulary also gets)
    results.update(teacher_references(ctx, teacher_info["curve"]))

    if accelerator.is_main_process:
        # the model card of the reported student (the best method on val, its first seed): parameters, GFLOPs,
        # onnxruntime CPU latency and file size in fp32, fp16 and int8; a one-line reason where the run has none
        card = run_card(run_dir, cfg, data, results)
        table = write_run_report(run_dir, cfg, data, results, teacher_info["source"], accelerator, time.time() - t0,
                                 resumed=args.resume is not None, controls=controls, tuning=tuning,
                                 networks=networks, teacher_input=teacher_input, log=log, card=card)
        headline = cfg.task_spec.headline
        log.info("%s: %s", headline, table)
        print(f"\nrun finished in {(time.time() - t0) / 60:.1f} min: {run_dir}/report.md\n"
              f"{headline} {yaml.safe_dump(table, default_flow_style=True).strip()}")
    accelerator.end_training()
    return 0


if __name__ == "__main__":
    from crossmodal.errors import Preempted

    try:
        sys.exit(main())
    except (UserError, FileNotFoundError, FileExistsError, NotADirectoryError, PermissionError) as err:  # bad input
        runtime = sys.modules.get("crossmodal.runtime")  # loaded once the run is under way: log.txt records it
        print(runtime.log_failure(err) if runtime else f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except (OSError, RuntimeError) as err:  # a full disk met by a library's own write (a bug otherwise: re-raised)
        from crossmodal.diskspace import as_disk_full

        full = as_disk_full(err, getattr(err, "filename", None) or "a file of this run", removed=False)
        if full is None:
            raise
        runtime = sys.modules.get("crossmodal.runtime")
        print(runtime.log_failure(full) if runtime else f"error: {full}", file=sys.stderr)
        sys.exit(2)
    except Preempted as stop:  # SIGTERM/SIGUSR1: a step checkpoint is written; 128 + signal, as if killed by it
        print(str(stop), file=sys.stderr)
        sys.exit(stop.exit_status)
