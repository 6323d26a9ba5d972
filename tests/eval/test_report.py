"""Aggregation over seeds and the verdict: numbers computed, sentences chosen from them."""
import pytest

from crossmodal.errors import UserError
from eval.report import aggregate, verdict


def _m(miou, std=None, seeds=(0, 1, 2)):
    return {"miou": miou, "miou_std": std, "seeds": list(seeds)}


def test_aggregate_mean_std_per_class_and_lists():
    per_seed = {0: {"miou": 0.4, "pixel_acc": 0.8, "per_class_iou": {"a": 0.5, "b": None}, "time_s": 10.0,
                    "top1_per_stage": [0.1, 0.3], "probe": {"miou": 0.2}},
                1: {"miou": 0.6, "pixel_acc": 0.9, "per_class_iou": {"a": 0.7, "b": 0.2}, "time_s": 12.0,
                    "top1_per_stage": [0.3, 0.5], "probe": {"miou": 0.4}}}
    out = aggregate(per_seed, ["a", "b"])
    assert out["seeds"] == [0, 1]
    assert out["miou"] == pytest.approx(0.5) and out["miou_std"] == pytest.approx(0.2 / 2 ** 0.5)
    assert out["per_class_iou"] == {"a": pytest.approx(0.6), "b": pytest.approx(0.2)}  # only where defined
    assert out["top1_per_stage"] == pytest.approx([0.2, 0.4])
    assert out["probe_miou"] == pytest.approx(0.3) and out["time_s"] == 22.0
    assert out["per_seed"]["1"]["miou"] == 0.6
    one = aggregate({3: per_seed[0]}, ["a", "b"])
    assert one["miou"] == 0.4 and one["miou_std"] is None and one["top1_per_stage_std"] is None


def test_verdict_names_the_leader_and_compares_the_gap_to_the_spread():
    ahead = verdict({"none": _m(0.40, 0.01), "kd": _m(0.43, 0.01), "crd_dense": _m(0.47, 0.02), "teacher_rgb": _m(0.9)})
    assert ahead[0] == ("A CRD variant is ahead: `crd_dense` (47.0 ± 2.0) leads the best other distiller, `kd` "
                        "(43.0 ± 1.0), by 4.0 mIoU points.")
    assert "`crd_dense` +7.0 points" in ahead[1] and "larger than the seed-to-seed spread" in ahead[2]
    behind = verdict({"none": _m(0.40, 0.03), "sp": _m(0.45, 0.03), "crd": _m(0.44, 0.03)})
    assert behind[0] == ("No CRD variant is ahead: `crd` (44.0 ± 3.0) is behind the best other distiller, `sp` "
                         "(45.0 ± 3.0), by 1.0 mIoU points.")
    assert "within the seed-to-seed spread" in behind[-1]
    single = verdict({"none": _m(0.4, None, (0,)), "crd": _m(0.5, None, (0,))})
    assert single[0].startswith("A CRD variant is ahead: `crd` (50.0) leads `none` (40.0, random initialisation)")
    assert "One seed only" in single[-1]
    assert verdict({"none": _m(0.4), "kd": _m(0.5)}) == []  # no CRD variant: nothing to say


def test_verdict_says_a_tie_is_level_and_never_minus_zero():
    tie = verdict({"none": _m(0.40, 0.01), "kd": _m(0.45, 0.01), "crd": _m(0.45, 0.01)})
    assert tie[0] == ("No CRD variant is ahead: `crd` (45.0 ± 1.0) is level with the best other distiller, `kd` "
                      "(45.0 ± 1.0) (less than 0.05 mIoU points apart).")
    near = verdict({"kd": _m(0.45004, 0.01), "crd": _m(0.45, 0.01), "none": _m(0.45001)})
    assert "is level with" in near[0] and "Against `none` (random initialisation, same downstream protocol): " \
        "`crd` level with it." == near[1]
    assert not any("-0.0" in line or "+0.0" in line for line in tie + near)


def test_verdict_with_two_crd_variants_compares_the_best_of_each_side():
    """Two CRD variants: the best of them against the best of the other distillers (not `none`, not the other CRD
    variant), both chosen on val when every student has a val mIoU, as the paired verdict chooses them."""
    def m(test, val):
        return {**_m(test, 0.01), "val_miou": val}

    methods = {"none": m(0.30, 0.30), "crd": m(0.46, 0.41), "crd_dense": m(0.44, 0.45), "kd": m(0.47, 0.36),
               "nst": m(0.42, 0.40)}
    said = verdict(methods)
    assert said[0] == ("A CRD variant is ahead: `crd_dense` (44.0 ± 1.0), the best of the 2 CRD variants by val "
                       "mIoU, leads the best other distiller by val mIoU, `nst` (42.0 ± 1.0), by 2.0 mIoU points.")
    assert "`crd_dense` +14.0 points" in said[1]
    no_val = verdict({k: _m(v["miou"], 0.01) for k, v in methods.items()})
    assert no_val[0].startswith("No CRD variant is ahead: `crd` (46.0 ± 1.0), the best of the 2 CRD variants, is "
                                "behind the best other distiller, `kd` (47.0 ± 1.0), by 1.0")


def _finished_run(folder, seed, **config):
    """A finished run's metrics.json, as small as compare_runs reads it."""
    import json

    from crossmodal.config import load_config, to_dict

    cfg = to_dict(load_config(None, [f"seed={seed}", f"name={folder.name}", f"output_dir={folder.parent}",
                                     *(f"{k}={v}" for k, v in config.items())]))
    entry = {"miou": 0.4 + seed / 100, "pixel_acc": 0.8, "mean_acc": 0.5, "per_class_iou": {"a": 0.4, "b": None}}
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"task": "segmentation", "class_names": ["a", "b"], "seed": seed,
                                                     "seeds": [seed], "config": cfg,
                                                     "methods": {"none": entry, "crd_dense": entry}}))
    return folder


def test_pooling_refuses_shared_seeds_and_differing_configs_unless_allowed(tmp_path, capsys):
    from eval.report import compare_runs, main

    a, b = _finished_run(tmp_path / "s0", 0), _finished_run(tmp_path / "s1", 1)
    assert compare_runs([a, b], tmp_path / "ok")["mixed"] == []  # names, output folders and seeds may differ
    assert "Mixed runs" not in (tmp_path / "ok" / "report.md").read_text()
    again = _finished_run(tmp_path / "again", 0)
    with pytest.raises(UserError, match=f"not pooled: {a} and {again} both ran seed 0.*--allow-mixed"):
        compare_runs([a, b, again], tmp_path / "x")
    other = _finished_run(tmp_path / "other", 2, **{"transfer.epochs": 3, "finetune.lr": 0.1})
    with pytest.raises(UserError, match="not pooled: their configs differ in finetune.lr, transfer.epochs. "):
        compare_runs([a, other], tmp_path / "x")
    assert not (tmp_path / "x").exists()
    assert main([str(a), str(again), str(other), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "both ran seed 0; their configs differ in finetune.lr, transfer.epochs" in err
    assert main([str(a), str(again), str(other), "--out", str(tmp_path / "mixed"), "--allow-mixed"]) == 0
    assert "pooled mixed runs (--allow-mixed)" in capsys.readouterr().err
    report = (tmp_path / "mixed" / "report.md").read_text()
    assert (f"Mixed runs pooled (--allow-mixed): {a} and {again} both ran seed 0; their configs differ in "
            f"finetune.lr, transfer.epochs.") in report


def test_pooling_output_that_is_a_file_is_refused(tmp_path, capsys):
    from eval.report import main

    a, b = _finished_run(tmp_path / "s0", 0), _finished_run(tmp_path / "s1", 1)
    (tmp_path / "out").write_text("")
    assert main([str(a), str(b), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"error: --out {tmp_path / 'out'}: it is a file, not a folder; name a folder " \
                                      f"(or move the file away)\n"
