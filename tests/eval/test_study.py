"""eval.study: several seeds of one config, resumable per seed, aggregated into one report."""
import json

from conftest import REPO

from eval import study


def test_study_runs_each_seed_once_and_aggregates(smoke_run, tmp_path, capsys):
    _, _, overrides = smoke_run
    args = ["--config", str(REPO / "configs" / "smoke.yaml"), "--seeds", "0,1", "--out", str(tmp_path / "cmp"),
            *[o for o in overrides if o.startswith("data.")], f"output_dir={tmp_path / 'runs'}",
            f"teacher.cache_dir={tmp_path / 'cache'}",
            "methods=[none,crd_dense]"]
    assert study.main(args) == 0
    summary = json.loads((tmp_path / "cmp" / "metrics.json").read_text())
    assert summary["methods"]["crd_dense"]["seeds"] == [0, 1]
    runs = [json.loads((tmp_path / "runs" / f"smoke-seed{s}" / "metrics.json").read_text()) for s in (0, 1)]
    assert [r["seed"] for r in runs] == [0, 1]
    mean = sum(r["methods"]["none"]["miou"] for r in runs) / 2
    assert abs(summary["methods"]["none"]["miou"] - mean) < 1e-12
    capsys.readouterr()
    assert study.main(args) == 0  # both seeds are finished: nothing is run again
    assert capsys.readouterr().out.count("finished earlier") == 2
