"""The paired verdict picks its comparison on val mIoU when every student has one, never on test."""
from eval.verdict import paired_verdict, verdict_lines


def _entry(test, val=None):
    per_seed = {str(s): {"miou": t, **({"val_miou": v} if val else {})}
                for s, (t, v) in enumerate(zip(test, val or test))}
    return {"miou": sum(test) / len(test), **({"val_miou": sum(val) / len(val)} if val else {}),
            "per_seed": per_seed}


def test_best_is_chosen_on_val_when_every_student_has_it():
    # crd_dense+kd is better on test, crd_dense on val; kd better on test, nst on val
    methods = {"none": _entry([0.30, 0.31], [0.30, 0.30]),
               "crd_dense": _entry([0.40, 0.41], [0.45, 0.45]), "crd_dense+kd": _entry([0.44, 0.45], [0.40, 0.40]),
               "kd": _entry([0.43, 0.43], [0.35, 0.35]), "nst": _entry([0.38, 0.39], [0.38, 0.38]),
               "teacher_rgb": {"miou": 0.5, "per_seed": {"0": {"miou": 0.5}}}}
    v = paired_verdict({m: e for m, e in methods.items() if m != "teacher_rgb"}
                       | {"teacher_rgb": methods["teacher_rgb"]}, {})
    assert (v["best"], v["best_baseline"], v["chosen_on"]) == ("crd_dense", "nst", "val")
    assert abs(v["diff"] - 0.02) < 1e-9  # paired on test: (0.40-0.38 + 0.41-0.39) / 2
    assert "by val mIoU" in verdict_lines(v)[0]


def test_without_val_the_reported_metric_decides():
    methods = {"crd_dense": _entry([0.40, 0.41]), "crd_dense+kd": _entry([0.44, 0.45]), "kd": _entry([0.43, 0.43])}
    v = paired_verdict(methods, {})
    assert (v["best"], v["best_baseline"], v["chosen_on"]) == ("crd_dense+kd", "kd", "test")


def test_label_sentence_warns_when_the_baseline_does_not_rise_with_labels():
    from eval.label_efficiency import matches_sentence

    rising = {"none": {"50": {"miou": 0.25}, "150": {"miou": 0.30}}, "crd_dense": {"50": {"miou": 0.31},
                                                                                 "150": {"miou": 0.36}}}
    said = matches_sentence(rising, "crd_dense")
    assert said.startswith("`crd_dense` with 50 labels (31.0) matches `none` with 150 (30.0)") and "But" not in said
    flat = {"none": {"50": {"miou": 0.32}, "150": {"miou": 0.29}}, "crd_dense": {"50": {"miou": 0.38},
                                                                               "150": {"miou": 0.38}}}
    said = matches_sentence(flat, "crd_dense")
    assert "`none` itself scores 32.0 with 50 labels" in said and "not a measured saving" in said
    assert matches_sentence({"none": rising["none"]}, "crd_dense") is None


def test_paired_sentences_never_say_minus_zero():
    methods = {"crd_dense": _entry([0.40, 0.41]), "kd": _entry([0.40002, 0.41001])}
    v = paired_verdict(methods, {"random_teacher": {"crd_dense": _entry([0.39999, 0.41])}})
    lines = verdict_lines(v)
    assert "`crd_dense` minus `kd` = 0.0 mIoU points" in lines[0]
    assert "random teacher = 0.0 points" in lines[1]
    assert not any("-0.0" in line or "+0.0" in line for line in lines)
