"""Pooling finished runs: shared seeds and differing configs refused unless allowed, and the report says so."""
import pytest

from crossmodal.errors import UserError


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
    from eval.compare import compare_runs
    from eval.report import main

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
