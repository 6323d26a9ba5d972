"""The verdict's sentences: chosen from the numbers, the gap compared with the spread over seeds."""
from eval.verdict import verdict


def _m(miou, std=None, seeds=(0, 1, 2)):
    return {"miou": miou, "miou_std": std, "seeds": list(seeds)}


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
    """Two CRD variants: the best of them against the best of the other distillers.

    Neither `none` nor the other CRD variant is the comparison. Both are chosen on val when every student has a val
    mIoU, as the paired verdict chooses them.
    """
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


def test_a_lead_on_the_mean_whose_paired_interval_reaches_zero_is_not_called_ahead():
    methods = {"none": _m(0.40, 0.01), "kd": _m(0.45, 0.006), "crd_dense": _m(0.451, 0.005)}
    unsure = {"best": "crd_dense", "best_baseline": "kd", "diff": 0.001, "ci95": [-0.009, 0.012], "seeds": 3}
    said = verdict(methods, paired=unsure)
    assert said[0] == ("No CRD variant is shown ahead: `crd_dense` (45.1 ± 0.5) leads the best other distiller, "
                       "`kd` (45.0 ± 0.6) by 0.1 mIoU points on the mean, but the paired interval below reaches 0.")
    assert verdict(methods, paired={**unsure, "ci95": [0.001, 0.002]})[0].startswith("A CRD variant is ahead:")
    # a paired verdict of other methods, or of one seed, says nothing about this pair
    assert verdict(methods, paired={**unsure, "best_baseline": "nst"})[0].startswith("A CRD variant is ahead:")
    assert verdict(methods, paired={**unsure, "ci95": None})[0].startswith("A CRD variant is ahead:")
