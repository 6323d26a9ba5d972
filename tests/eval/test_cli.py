"""The eval commands on a finished smoke run: re-evaluation reproduces the run's numbers; comparison aggregates."""
import json

from eval import report, segmentation


def test_eval_segmentation_reproduces_the_run(smoke_run, tmp_path, capsys):
    run_dir, metrics, _ = smoke_run
    test_file = metrics["data"]["test"]
    out = tmp_path / "eval.json"
    assert segmentation.main(["--run", str(run_dir), "--data", test_file, "--out", str(out)]) == 0
    again = json.loads(out.read_text())["methods"]
    assert set(again) == {"none", "crd_dense", "crd"}
    for method, m in again.items():
        assert m["miou"] == metrics["methods"][method]["miou"], method
        assert m["per_class_iou"] == metrics["methods"][method]["per_class_iou"], method


def test_eval_segmentation_errors(smoke_run, tmp_path, capsys):
    run_dir, metrics, _ = smoke_run
    assert segmentation.main(["--run", str(run_dir), "--data", str(tmp_path / "nope.h5")]) == 2
    assert "nope.h5" in capsys.readouterr().err
    assert segmentation.main(["--run", str(run_dir), "--data", metrics["data"]["unlabeled"]]) == 2
    assert "lacks modality 'label'" in capsys.readouterr().err
    assert segmentation.main(["--run", str(run_dir), "--data", metrics["data"]["test"], "--method", "fitnet"]) == 2
    assert "fitnet_finetuned.pt" in capsys.readouterr().err


def test_eval_segmentation_on_something_that_is_not_a_run_says_so(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    for run, what in ((tmp_path, "has no config.yaml"), (tmp_path / "file", "is a file"),
                      (tmp_path / "nope", "does not exist")):
        assert segmentation.main(["--run", str(run), "--data", str(tmp_path / "test.h5")]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: --run {run} {what}: it is not a run folder; name a folder written by "
                              f"run_transfer.py") and "configs/" not in err, err


def test_compare_runs_mean_and_spread(smoke_run, tmp_path):
    run_dir, metrics, _ = smoke_run
    assert report.main([str(run_dir), str(run_dir), "--out", str(tmp_path / "cmp")]) == 2  # seed 0 twice
    assert report.main([str(run_dir), str(run_dir), "--out", str(tmp_path / "cmp"), "--allow-mixed"]) == 0
    summary = json.loads((tmp_path / "cmp" / "metrics.json").read_text())
    for method, m in metrics["methods"].items():
        agg = summary["methods"][method]
        assert agg["miou"] == m["miou"] and agg["miou_std"] == 0.0 and len(agg["runs"]) == 2
    text = (tmp_path / "cmp" / "report.md").read_text()
    assert (tmp_path / "cmp" / "miou.png").is_file() and "| crd_dense | 2 |" in text
    assert f"Mixed runs pooled (--allow-mixed): {run_dir} and {run_dir} both ran seed 0." in text
    assert report.main([str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
