"""The baseline distillers: losses against numpy, gradients, state, checks and the registry.

The numpy references are computed from each method's definition.
"""
import math

import numpy as np
import pytest
import torch

from crossmodal.config.distillers import (
    ATConfig,
    CCConfig,
    CRDConfig,
    CRDKDConfig,
    FitNetConfig,
    KDConfig,
    NSTConfig,
    PKTConfig,
    RKDConfig,
    SPConfig,
    VIDConfig,
    fill_num_classes,
)
from crossmodal.distill import DISTILLERS
from crossmodal.distill.kd import pixel_kd
from crossmodal.errors import ConfigError

MINE = ["kd", "fitnet", "at", "sp", "cc", "vid", "rkd", "pkt", "nst", "crd+kd", "crd_dense+kd"]


def rand(*shape, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def build(name, s_ch, t_ch, cfg=None, num_samples=64, seed=0):
    cfg = cfg or DISTILLERS[name].Config()
    if name == "crd+kd" and cfg.crd.num_negatives >= num_samples:
        cfg.crd.num_negatives = num_samples // 2
    fill_num_classes(cfg, 3)
    return DISTILLERS[name](s_ch, t_ch, num_samples, cfg, seed=seed)


def close(loss, expected):
    assert abs(loss.item() - expected) <= 1e-5 * max(1.0, abs(expected)), (loss.item(), expected)


def np_pool(x, h, w):
    """Average pooling of (B, C, H, W) by integer factors to (h, w)."""
    b, c, hh, ww = x.shape
    return x.reshape(b, c, h, hh // h, w, ww // w).mean(axis=(3, 5))


def smooth_l1(a, b):
    d = np.abs(a - b)
    return np.mean(np.where(d < 1, 0.5 * d ** 2, d - 0.5))


# ---------------------------------------------------------------- losses by hand
def test_kd_by_hand():
    s, t, temp = rand(2, 3, 1, 2, seed=1), rand(2, 3, 1, 2, seed=2), 4.0
    total = 0.0
    for b in range(2):
        for x in range(2):
            ps = np.exp(s[b, :, 0, x].numpy() / temp)
            ps /= ps.sum()
            pt = np.exp(t[b, :, 0, x].numpy() / temp)
            pt /= pt.sum()
            total += float(np.sum(pt * (np.log(pt) - np.log(ps))))
    close(pixel_kd(s, t, temp), total / 4 * temp ** 2)


def test_kd_class_balance_by_hand():
    """Each pixel's KL weighted by 1 / n_c^p, scaled to mean 1 per frame.

    n_c counts the pixels of its frame the teacher labels with its class; p = 0 and a frame of one class are the
    plain average.
    """
    s, t, temp = rand(2, 3, 2, 3, seed=1), rand(2, 3, 2, 3, seed=2), 2.0
    kl = np.zeros((2, 2, 3))
    for b in range(2):
        for y in range(2):
            for x in range(3):
                ps = np.exp(s[b, :, y, x].numpy() / temp)
                ps /= ps.sum()
                pt = np.exp(t[b, :, y, x].numpy() / temp)
                pt /= pt.sum()
                kl[b, y, x] = np.sum(pt * (np.log(pt) - np.log(ps)))
    for power in (1.0, 0.5):
        total = 0.0
        for b in range(2):
            cls = t[b].numpy().argmax(0)
            w = np.array([[np.sum(cls == cls[y, x]) ** -power for x in range(3)] for y in range(2)])
            total += np.sum(kl[b] * w / w.mean())
        close(pixel_kd(s, t, temp, class_balance=power), total / 12 * temp ** 2)
    close(pixel_kd(s, t, temp, class_balance=0.0), kl.mean() * temp ** 2)
    one = t.clone()
    one[:, 0] += 100.0  # the teacher says class 0 everywhere: every weight is 1
    close(pixel_kd(s, one, temp, class_balance=1.0), pixel_kd(s, one, temp).item())


def test_kd_class_balance_lifts_the_small_class_of_a_frame():
    from crossmodal.distill.kd import teacher_class_weights
    logits = torch.zeros(1, 3, 4, 4)
    logits[0, 0] = 1.0
    logits[0, 2, 0, 0] = 5.0  # one pixel of class 2, fifteen of class 0
    w = teacher_class_weights(logits, 1.0)
    assert torch.allclose(w.mean(), torch.tensor(1.0)) and w[0, 0, 0] == pytest.approx(15 * w[0, 1, 1].item())
    assert float((w[0, 0, 0] * 1 + w[0, 1, 1] * 15) / 16) == pytest.approx(1.0)  # each class half of the frame


def test_kd_distiller_trains_its_head_against_the_teacher_logits():
    d = build("kd", [4, 6], [5, 7], KDConfig(num_classes=3, hidden=8, skip_stage=0))
    s = [rand(2, 4, 4, 4, seed=1), rand(2, 6, 2, 2, seed=2)]
    logits = rand(2, 3, 8, 8, seed=3)
    close(d(s, [rand(2, 5, 4, 4), rand(2, 7, 2, 2)], torch.arange(2), logits),
          pixel_kd(d.head(s, (8, 8)), logits, 4.0).item())
    with pytest.raises(ValueError, match="teacher_logits"):
        d(s, s, torch.arange(2), rand(2, 5, 8, 8))


def test_fitnet_by_hand():
    d = build("fitnet", [2], [3], FitNetConfig(weight=1.0))
    s, t = rand(2, 2, 2, 2, seed=1), rand(2, 3, 1, 1, seed=2)  # teacher coarser: resampled to the student's grid
    conv = d.regressor[0]
    w, bias = conv.weight.detach().numpy()[:, :, 0, 0], conv.bias.detach().numpy()
    y = np.einsum("oc,bchw->bohw", w, s.numpy()) + bias[None, :, None, None]
    y = (y - y.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(y.var(axis=(0, 2, 3), keepdims=True) + 1e-5)
    y = np.maximum(y, 0)  # bilinear upsampling of a 1x1 map repeats its value
    close(d([s], [t], torch.arange(2)), float(np.mean((y - np.broadcast_to(t.numpy(), y.shape)) ** 2)))


def test_at_by_hand_over_two_stages_with_pooling():
    d = build("at", [2, 2], [3, 3], ATConfig(weight=1.0))
    s = [rand(2, 2, 2, 2, seed=1), rand(2, 2, 2, 2, seed=2)]
    t = [rand(2, 3, 2, 2, seed=3), rand(2, 3, 4, 4, seed=4)]
    total = 0.0
    for fs, ft in zip(s, t):
        fs, ft = fs.numpy(), np_pool(ft.numpy(), 2, 2)
        a_s = (fs ** 2).mean(1).reshape(2, -1)
        a_s /= np.linalg.norm(a_s, axis=1, keepdims=True)
        a_t = (ft ** 2).mean(1).reshape(2, -1)
        a_t /= np.linalg.norm(a_t, axis=1, keepdims=True)
        total += float(np.mean((a_s - a_t) ** 2))
    close(d(s, t, torch.arange(2)), total)


def test_sp_by_hand():
    d = build("sp", [2], [3], SPConfig(weight=1.0))
    s, t = rand(2, 2, 2, 2, seed=1), rand(2, 3, 1, 1, seed=2)

    def gram(f):
        f = f.numpy().reshape(2, -1)
        g = f @ f.T
        return g / np.linalg.norm(g, axis=1, keepdims=True)

    close(d([s], [t], torch.arange(2)), float(np.sum((gram(t) - gram(s)) ** 2) / 4))


@pytest.mark.parametrize("kernel", ["repdistiller", "taylor"])
def test_cc_by_hand(kernel):
    d = build("cc", [2], [3], CCConfig(weight=1.0, feat_dim=2, kernel=kernel))
    s, t = rand(3, 2, 2, 2, seed=1), rand(3, 3, 2, 2, seed=2)
    es = s.numpy().mean(axis=(2, 3)) @ d.embed_student.weight.detach().numpy().T + d.embed_student.bias.detach().numpy()
    et = t.numpy().mean(axis=(2, 3)) @ d.embed_teacher.weight.detach().numpy().T + d.embed_teacher.bias.detach().numpy()
    if kernel == "repdistiller":
        delta = np.abs(es - et)
        expected = float(np.mean([np.dot(delta[i], delta[i + 1]) for i in range(2)]))
    else:
        def corr(e):
            e = e / np.linalg.norm(e, axis=1, keepdims=True)
            sim = e @ e.T
            return sum(math.exp(-0.8) * 0.8 ** p / math.factorial(p) * sim ** p for p in range(3))
        expected = float(np.mean((corr(es) - corr(et)) ** 2))
    close(d([s], [t], torch.arange(3)), expected)


def test_vid_by_hand():
    d = build("vid", [2], [3], VIDConfig(mid_channels=2))
    head = d.heads[0]
    assert torch.allclose(head.variance(), torch.full((3,), 5.0))
    with torch.no_grad():
        head.log_scale.copy_(torch.tensor([0.1, -0.3, 1.2]))
    s, t = rand(2, 2, 2, 2, seed=1), rand(2, 3, 2, 2, seed=2)
    w = [head.regressor[i].weight.detach().numpy()[:, :, 0, 0] for i in (0, 2, 4)]
    h = np.maximum(np.einsum("oc,bchw->bohw", w[0], s.numpy()), 0)
    h = np.maximum(np.einsum("oc,bchw->bohw", w[1], h), 0)
    mu = np.einsum("oc,bchw->bohw", w[2], h)
    var = (np.log1p(np.exp(np.array([0.1, -0.3, 1.2]))) + 1e-5)[None, :, None, None]
    expected = float(np.mean(0.5 * ((mu - t.numpy()) ** 2 / var + np.log(var))))
    close(d([s], [t], torch.arange(2)), expected)


def test_rkd_by_hand():
    d = build("rkd", [2], [3])
    s, t = rand(3, 2, 2, 2, seed=1), rand(3, 3, 2, 2, seed=2)

    def relations(f):
        e = f.numpy().mean(axis=(2, 3))
        dist = np.array([[np.linalg.norm(e[i] - e[j]) for j in range(3)] for i in range(3)])
        dist /= dist[~np.eye(3, dtype=bool)].mean()
        ang = []
        for j in range(3):
            for i in range(3):
                for k in range(3):
                    u, v = e[i] - e[j], e[k] - e[j]
                    u = u / np.linalg.norm(u) if i != j else u * 0
                    v = v / np.linalg.norm(v) if k != j else v * 0
                    ang.append(np.dot(u, v))
        return dist, np.array(ang)

    (ds, as_), (dt, at_) = relations(s), relations(t)
    close(d([s], [t], torch.arange(3)), 25 * smooth_l1(ds, dt) + 50 * smooth_l1(as_, at_))


def test_pkt_by_hand():
    d = build("pkt", [2], [3], PKTConfig(weight=1.0))
    s, t = rand(3, 2, 2, 2, seed=1), rand(3, 3, 2, 2, seed=2)

    def probs(f):
        e = f.numpy().mean(axis=(2, 3)).astype(np.float64)
        e = e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-7)
        sim = (e @ e.T + 1) / 2
        return sim / sim.sum(axis=1, keepdims=True)

    ps, pt = probs(s), probs(t)
    close(d([s], [t], torch.arange(3)), float(np.mean(pt * np.log((pt + 1e-7) / (ps + 1e-7)))))


def test_nst_by_hand():
    d = build("nst", [2], [3], NSTConfig(weight=1.0))
    s, t = rand(2, 2, 2, 2, seed=1), rand(2, 3, 4, 4, seed=2)
    fs = s.numpy().reshape(2, 2, -1)
    ft = np_pool(t.numpy(), 2, 2).reshape(2, 3, -1)
    fs = fs / np.linalg.norm(fs, axis=2, keepdims=True)
    ft = ft / np.linalg.norm(ft, axis=2, keepdims=True)

    def k(a, b):
        return np.mean([np.dot(a[n, i], b[n, j]) ** 2 for n in range(2) for i in range(a.shape[1])
                        for j in range(b.shape[1])])

    close(d([s], [t], torch.arange(2)), k(ft, ft) + k(fs, fs) - 2 * k(fs, ft))


def test_crd_kd_is_the_weighted_sum_of_its_parts():
    cfg = CRDKDConfig(crd=CRDConfig(weight=0.8, feat_dim=4, num_negatives=8), kd=KDConfig(num_classes=3, hidden=4))
    d = DISTILLERS["crd+kd"]([4, 6], [5, 7], 16, cfg, seed=3)
    crd = DISTILLERS["crd"]([4, 6], [5, 7], 16, cfg.crd, seed=3)
    kd = DISTILLERS["kd"]([4, 6], [5, 7], 16, cfg.kd, seed=3)
    kd.load_state_dict(d.kd.state_dict())
    s, t = [rand(2, 4, 4, 4, seed=1), rand(2, 6, 2, 2, seed=2)], [rand(2, 5, 4, 4, seed=3), rand(2, 7, 2, 2, seed=4)]
    logits, index = rand(2, 3, 8, 8, seed=5), torch.tensor([3, 9])
    expected = crd(s, t, index) + kd(s, t, index, logits)
    close(d(s, t, index, logits), expected.item())
    assert cfg.crd.weight == 0.8 and cfg.kd.weight == 1.0 == CRDKDConfig().kd.weight
    assert CRDKDConfig().crd.weight == 0.8


def test_crd_dense_kd_is_the_weighted_sum_of_its_parts():
    from crossmodal.config.distillers import DenseCRDConfig, DenseCRDKDConfig

    cfg = DenseCRDKDConfig(weight=0.5, crd_dense=DenseCRDConfig(weight=2.0, feat_dim=4, num_locations=3),
                           kd=KDConfig(weight=0.7, num_classes=3, hidden=4))
    d = DISTILLERS["crd_dense+kd"]([4, 6], [5, 7], 16, cfg, seed=3)
    crd = DISTILLERS["crd_dense"]([4, 6], [5, 7], 16, cfg.crd_dense, seed=3)
    kd = DISTILLERS["kd"]([4, 6], [5, 7], 16, cfg.kd, seed=3)
    crd.load_state_dict(d.crd_dense.state_dict())
    kd.load_state_dict(d.kd.state_dict())
    s, t = [rand(2, 4, 4, 4, seed=1), rand(2, 6, 2, 2, seed=2)], [rand(2, 5, 4, 4, seed=3), rand(2, 7, 2, 2, seed=4)]
    logits, index = rand(2, 3, 8, 8, seed=5), torch.tensor([3, 9])
    expected = 0.5 * (crd(s, t, index) + kd(s, t, index, logits))  # the parts' own weights are inside them
    close(d(s, t, index, logits), expected.item())
    with pytest.raises(ConfigError, match="transfer.crd_dense_kd.crd_dense.temperature"):
        DenseCRDKDConfig(crd_dense=DenseCRDConfig(temperature=0)).check("transfer.crd_dense_kd")


# ---------------------------------------------------------------- gradients, state, checks, registry
def feats(channels, sizes, batch=3, seed=0, grad=False):
    return [rand(batch, c, h, w, seed=seed + i).requires_grad_(grad) for i, (c, (h, w)) in
            enumerate(zip(channels, sizes))]


@pytest.mark.parametrize("name", MINE)
def test_gradients_reach_student_and_own_modules_not_teacher(name):
    d = build(name, [4, 6], [5, 7])
    s = feats([4, 6], [(4, 4), (2, 2)], grad=True)
    t = feats([5, 7], [(6, 6), (3, 3)], seed=5, grad=True)
    logits = rand(3, 3, 8, 8).requires_grad_(True)
    d(s, t, torch.arange(3), logits if d.needs_teacher_logits else None).backward()
    assert s[-1].grad is not None and s[-1].grad.abs().sum() > 0
    assert all(f.grad is None for f in t) and logits.grad is None
    for pname, p in d.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", MINE)
def test_state_dict_round_trip(name):
    a, b = build(name, [4, 6], [5, 7], seed=1), build(name, [4, 6], [5, 7], seed=2)
    with torch.no_grad():
        for p in a.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    b.load_state_dict(a.state_dict())
    s, t = feats([4, 6], [(4, 4), (2, 2)]), feats([5, 7], [(4, 4), (2, 2)], seed=5)
    logits = rand(3, 3, 8, 8) if a.needs_teacher_logits else None
    assert torch.equal(a(s, t, torch.arange(3), logits), b(s, t, torch.arange(3), logits))


def test_kd_on_the_stride_grid_pools_the_teacher_logits_and_predicts_at_that_size():
    d = build("kd", [4, 6], [5, 7], KDConfig(num_classes=3, hidden=8, skip_stage=0, stride=4))
    s = [rand(2, 4, 4, 4, seed=1), rand(2, 6, 2, 2, seed=2)]
    logits = rand(2, 3, 8, 12, seed=3)
    pooled = torch.from_numpy(np_pool(logits.numpy(), 2, 3))
    close(d(s, [rand(2, 5, 4, 4), rand(2, 7, 2, 2)], torch.arange(2), logits),
          pixel_kd(d.head(s, (2, 3)), pooled, 4.0).item())
    # logits that are a stride-4 map upsampled by block repetition are recovered exactly by the pooling
    from crossmodal.distill.kd import kd_grid
    coarse = rand(2, 3, 2, 3, seed=4)
    assert torch.allclose(kd_grid(coarse.repeat_interleave(4, 2).repeat_interleave(4, 3), 4), coarse, atol=1e-6)
    assert kd_grid(logits, 1) is logits
    assert kd_grid(rand(1, 3, 3, 2), 4).shape[-2:] == (1, 1)  # never an empty grid


@pytest.mark.parametrize("cfg,section,field", [
    (KDConfig(temperature=0), "transfer.kd", "temperature"), (KDConfig(stride=0), "transfer.kd", "stride"),
    (CRDKDConfig(kd=KDConfig(stride=0)), "transfer.crd_kd", "kd.stride"),
    (KDConfig(num_classes=-1), "transfer.kd", "num_classes"),
    (KDConfig(class_balance=-0.5), "transfer.kd", "class_balance"),
    (FitNetConfig(weight=0), "transfer.fitnet", "weight"), (ATConfig(p=0), "transfer.at", "p"),
    (CCConfig(kernel="rbf"), "transfer.cc", "kernel"), (CCConfig(feat_dim=0), "transfer.cc", "feat_dim"),
    (VIDConfig(init_pred_var=0), "transfer.vid", "init_pred_var"), (VIDConfig(eps=0), "transfer.vid", "eps"),
    (RKDConfig(distance_weight=-1), "transfer.rkd", "distance_weight"), (PKTConfig(eps=0), "transfer.pkt", "eps"),
    (NSTConfig(weight=-1), "transfer.nst", "weight"), (SPConfig(weight=0), "transfer.sp", "weight"),
    (CRDKDConfig(kd=KDConfig(temperature=-1)), "transfer.crd_kd", "kd.temperature"),
    (CRDKDConfig(crd=CRDConfig(momentum=1.0)), "transfer.crd_kd", "crd.momentum"),
])
def test_check_names_the_key(cfg, section, field):
    with pytest.raises(ConfigError, match=f"'{section}.{field}'"):
        cfg.check(section)


@pytest.mark.parametrize("value", ["2.5", "true"])
def test_kd_stride_must_be_an_integer_in_a_config(value):
    """The config loader's type check (one for every int key) rejects a float or a bool stride, naming the key."""
    from crossmodal.config import load_config
    with pytest.raises(ConfigError, match="'transfer.crd_dense_kd.kd.stride' must be an integer"):
        load_config(None, [f"transfer.crd_dense_kd.kd.stride={value}"])


def test_construction_errors_name_the_key():
    with pytest.raises(ConfigError, match="'transfer.kd.num_classes'"):
        DISTILLERS["kd"]([4], [4], 8, KDConfig())
    with pytest.raises(ConfigError, match="'transfer.crd_kd.kd.num_classes'"):
        DISTILLERS["crd+kd"]([4], [4], 64, CRDKDConfig(crd=CRDConfig(num_negatives=8)))
    with pytest.raises(ConfigError, match="'transfer.crd_kd.crd.num_negatives'"):
        DISTILLERS["crd+kd"]([4], [4], 8, CRDKDConfig(kd=KDConfig(num_classes=2)))
    with pytest.raises(ConfigError, match="'transfer.at.layers'"):
        DISTILLERS["at"]([4, 8], [4, 8, 16], 8, ATConfig(layers=[2]))
    assert DISTILLERS["at"]([4, 8], [4, 8, 16], 8, ATConfig()).layers == [-2, -1]  # the deepest of each
    with pytest.raises(ConfigError, match="'transfer.fitnet.layer'"):
        DISTILLERS["fitnet"]([4, 8], [4, 8], 8, FitNetConfig(layer=2))
    with pytest.raises(ConfigError, match="'transfer.kd.num_classes'"):
        fill_num_classes(KDConfig(num_classes=4), 3, "transfer.kd")
    d = DISTILLERS["at"]([4, 8], [4, 8, 16], 8, ATConfig(layers=[-1]))  # deepest stage of each network
    assert d(feats([4, 8], [(4, 4), (2, 2)]), feats([4, 8, 16], [(4, 4), (2, 2), (1, 1)]), torch.arange(3)) >= 0


def test_registry_holds_every_method():
    assert set(DISTILLERS) == {"kd", "fitnet", "at", "sp", "cc", "vid", "rkd", "pkt", "nst", "crd", "crd_dense",
                               "crd+kd", "crd_dense+kd", "crd_dense_logits"}
    assert "none" not in DISTILLERS
    assert {n for n, c in DISTILLERS.items() if c.needs_teacher_logits} == {"kd", "crd+kd", "crd_dense+kd",
                                                                          "crd_dense_logits"}


TEACHERS = {"same": ([16, 32, 64], [(16, 16), (8, 8), (4, 4)]),
            "mismatched": ([32, 64, 128], [(12, 10), (6, 5), (3, 3)])}


@pytest.mark.parametrize("teacher", sorted(TEACHERS))
@pytest.mark.parametrize("name", sorted(DISTILLERS))
def test_every_distiller_from_defaults_on_realistic_stages(name, teacher):
    t_ch, t_sizes = TEACHERS[teacher]
    cfg = DISTILLERS[name].Config()
    fill_num_classes(cfg, 5)
    d = DISTILLERS[name]([16, 32, 64], t_ch, 2048, cfg, seed=0)
    s = feats([16, 32, 64], [(16, 16), (8, 8), (4, 4)], batch=4, grad=True)
    t = feats(t_ch, t_sizes, batch=4, seed=7)
    logits = rand(4, 5, 32, 32) if d.needs_teacher_logits else None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = d([f.bfloat16() for f in s], [f.bfloat16() for f in t], torch.arange(4), logits)
    assert loss.dtype == torch.float32 and loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert any(f.grad is not None and f.grad.abs().sum() > 0 for f in s)
