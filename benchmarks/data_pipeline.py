"""Data tool speed: NYU labeled conversion (frames/s) and the paired loader vs the default transfer step (samples/s).

1. data_tools.nyu_labeled on generated .mat files in the real v7.3 layout at 480x640 (gzip with per-frame chunks,
   gzip with h5py's automatic chunks, contiguous), --all --classes 40.
2. crossmodal.data.loaders.make_loader (rgb + logdepth_valid, train=True augmentation, 2 workers, batch 32) over
   generated paired files at 240x320 and at configs/default.yaml's own size, full epochs (worker start-up included),
   each against one transfer step of that config's models at batch 32 on inputs of the same size (teacher forward +
   student forward/backward + AdamW, no loss, and with the crd_dense loss), all in the same process.
    python benchmarks/data_pipeline.py [--frames 60] [--write docs/benchmarks.md]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import h5py
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "benchmarks"))  # the shared section writer (appended: shadows no package)

from markdown_section import replace_section  # noqa: E402
from smooth_field import smooth  # noqa: E402

from crossmodal.config import load_config  # noqa: E402
from crossmodal.data import PairedWriter, read_info  # noqa: E402
from crossmodal.data.loaders import make_loader, set_loader_epoch  # noqa: E402
from crossmodal.distill import DISTILLERS  # noqa: E402
from crossmodal.modalities import InputSpec  # noqa: E402
from crossmodal.models import Segmenter, build_backbone  # noqa: E402
from crossmodal.runtime import cpu_name  # noqa: E402
from data_tools import nyu_labeled, nyu_raw, nyu_tables  # noqa: E402

SECTION = "## Data tools"


LAYOUTS = {"gzip-frame": "gzip, one frame per chunk", "gzip-auto": "gzip, h5py's automatic chunks (8 or 4 frames x "
           "small tiles)", "contiguous": "uncompressed, contiguous"}


def write_labeled_mat(path: Path, frames: int, layout: str, seed: int = 0) -> Path:
    """A labeled .mat in NYU's v7.3 layout (axes reversed, names as refs to uint16 codes) at 480x640."""
    rng = np.random.default_rng(seed)
    h, w = 480, 640

    def create(f: h5py.File, key: str, shape: tuple[int, ...], dtype: type) -> h5py.Dataset:
        """One dataset in the chosen storage layout."""
        kw: dict = {}
        if layout == "gzip-frame":
            kw = {"chunks": (1, *shape[1:]), "compression": "gzip"}
        elif layout == "gzip-auto":
            kw = {"chunks": True, "compression": "gzip"}
        return f.create_dataset(key, shape, dtype, **kw)

    with h5py.File(path, "w", userblock_size=512) as f:
        ims = create(f, "images", (frames, 3, w, h), np.uint8)
        dep = create(f, "depths", (frames, w, h), np.float32)
        raw = create(f, "rawDepths", (frames, w, h), np.float32)
        lab = create(f, "labels", (frames, w, h), np.uint16)
        for i in range(frames):
            rgb = (smooth(rng, (h, w), 3) * 256).astype(np.uint8)
            d = (0.5 + 9 * smooth(rng, (h, w), 1)[..., 0]).astype(np.float32)
            labels = cv2.resize(rng.integers(0, 895, (12, 16)).astype(np.uint16), (w, h),
                                interpolation=cv2.INTER_NEAREST)
            ims[i] = rgb.transpose(2, 1, 0)
            dep[i] = d.T
            raw[i] = np.where(rng.random((h, w)) < 0.15, 0, d).T
            lab[i] = labels.T
        refs = f.create_group("#refs#")
        names = f.create_dataset("names", (1, 894), dtype=h5py.ref_dtype)
        for k, text in enumerate(nyu_tables.NAMES_894):
            names[0, k] = refs.create_dataset(f"n{k}", data=np.array([ord(c) for c in text], np.uint16)[:, None]).ref
    return path


def bench_labeled(tmp: Path, frames: int) -> dict[str, float]:
    """Frames per second of the labeled conversion, per source layout."""
    out = {}
    for layout in LAYOUTS:
        mat = write_labeled_mat(tmp / f"labeled_{layout}.mat", frames, layout)
        os.sync()
        t0 = time.perf_counter()
        code = nyu_labeled.main(["--mat", str(mat), "--all", "--classes", "40", "--out", str(tmp / "out"),
                                 "--overwrite", "--quiet"])
        dt = time.perf_counter() - t0
        assert code == 0
        out[layout] = frames / dt
        mat.unlink()
    return out


def bench_raw(tmp: Path, frames: int) -> float:
    """Frames per second of data_tools.nyu_raw on one generated scene folder of 640x480 dumps (every frame kept)."""
    rng = np.random.default_rng(1)
    scene = tmp / "raw" / "office_0001"
    scene.mkdir(parents=True)
    for i in range(frames):
        raw = (650 + 400 * smooth(rng, (480, 640), 1)[..., 0]).astype("<u2")
        raw[rng.random((480, 640)) < 0.1] = 2047
        (scene / f"d-{1000 + i / 20:.6f}-{i}.pgm").write_bytes(b"P5 640 480 65535\n" + raw.tobytes())
        rgb = (smooth(rng, (480, 640), 3) * 256).astype(np.uint8)
        (scene / f"r-{1000.01 + i / 20:.6f}-{i}.ppm").write_bytes(b"P6 640 480 255\n" + rgb.tobytes())
    t0 = time.perf_counter()
    code = nyu_raw.main(["--scenes", str(tmp / "raw"), "--out", str(tmp / "raw.h5"), "--quiet"])
    dt = time.perf_counter() - t0
    assert code == 0
    return frames / dt


def write_paired_file(path: Path, num: int, h: int, w: int, seed: int = 0) -> Path:
    """A generated rgb + depth paired file (smooth content, 10 % holes)."""
    rng = np.random.default_rng(seed)
    specs = {"rgb": ((h, w, 3), np.uint8), "depth": ((h, w), np.float32)}
    with PairedWriter(path, num, specs, class_names=None, source="benchmarks/data_pipeline.py",
                      overwrite=True) as wr:
        for i in range(num):
            d = (0.5 + 9 * smooth(rng, (h, w), 1)[..., 0]).astype(np.float32)
            wr.write(i, {"rgb": (smooth(rng, (h, w), 3) * 256).astype(np.uint8),
                         "depth": np.where(rng.random((h, w)) < 0.1, 0, d).astype(np.float32)})
    return path


def bench_loader(path: Path, epochs: int, workers: int, batch: int) -> dict[str, float]:
    """Samples/s of make_loader: whole epochs (fresh workers each epoch, as in training) and after the first batch."""
    info = read_info(path)
    loader = make_loader(info, {"rgb": InputSpec("rgb"), "depth": InputSpec("logdepth_valid")}, train=True,
                         batch_size=batch, num_workers=workers, seed=0)
    for _ in loader:   # warm-up epoch (page cache, imports in workers)
        pass
    whole_n, whole_t, steady_n, steady_t = 0, 0.0, 0, 0.0
    for epoch in range(epochs):
        set_loader_epoch(loader, epoch + 1)
        t0 = time.perf_counter()
        first = None
        for b in loader:
            n = b["rgb"].shape[0]
            whole_n += n
            if first is None:
                first = time.perf_counter()
            else:
                steady_n += n
        end = time.perf_counter()
        whole_t += end - t0
        steady_t += end - first
    return {"whole epochs": whole_n / whole_t, "after the first batch": steady_n / steady_t}


def bench_step(h: int, w: int, batch: int, repeats: int) -> dict[str, float]:
    """Median seconds of one default-config transfer step (no loss, and with crd_dense) at h x w."""
    cfg = load_config(ROOT / "configs" / "default.yaml")
    torch.manual_seed(0)
    teacher = Segmenter(build_backbone(cfg.teacher.net.arch, 3), 12).eval()
    student = build_backbone(cfg.student.arch, 2)
    dist = DISTILLERS["crd_dense"](student.out_channels, teacher.backbone.out_channels, 1500, cfg.transfer.crd_dense)
    opt = torch.optim.AdamW([*student.parameters(), *dist.parameters()], lr=1e-4)
    rgb, depth = torch.randn(batch, 3, h, w), torch.randn(batch, 2, h, w)
    index = torch.randint(0, 1500, (batch,))

    def step(with_loss: bool) -> float:
        """One timed step."""
        t0 = time.perf_counter()
        with torch.no_grad():
            t_feats = teacher.backbone(rgb)
        s_feats = student(depth)
        loss = dist(s_feats, t_feats, index) if with_loss else s_feats[-1].mean() * 0
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return time.perf_counter() - t0

    for _ in range(2):
        step(False), step(True)
    times: dict[str, list[float]] = {"no loss": [], "crd_dense": []}
    for _ in range(repeats):
        times["no loss"].append(step(False))
        times["crd_dense"].append(step(True))
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    """Run the three measurements and print (and optionally write) the markdown section."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=60, help="frames of the generated labeled .mat (480x640)")
    p.add_argument("--raw-frames", type=int, default=30, help="generated raw depth/RGB dumps (640x480)")
    p.add_argument("--loader-samples", type=int, default=512, help="samples of the generated 240x320 file")
    p.add_argument("--epochs", type=int, default=3, help="timed loader epochs (after one warm-up epoch)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--repeats", type=int, default=7, help="timed transfer steps per variant")
    p.add_argument("--write", default="", help=f"replace (or append) the '{SECTION}' section of this markdown file")
    args = p.parse_args()
    torch.set_num_threads(2)
    batch = 32
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="dt_bench_", dir="/tmp") as tmpdir:
        tmp = Path(tmpdir)
        fps = bench_labeled(tmp, args.frames)
        print(f"labeled conversion: {fps}", flush=True)
        raw_fps = bench_raw(tmp, args.raw_frames)
        print(f"raw conversion: {raw_fps:.1f} frames/s", flush=True)
        cfg = load_config(ROOT / "configs" / "default.yaml")
        ch, cw = (int(v) for v in cfg.data.synthetic.size.split("x"))
        loaders = {}
        for h, w in ((240, 320), (ch, cw)):
            paired = write_paired_file(tmp / f"pairs_{h}x{w}.h5", args.loader_samples, h, w)
            loaders[(h, w)] = bench_loader(paired, args.epochs, args.workers, batch)
            print(f"loader {h}x{w}: {loaders[(h, w)]}", flush=True)
    steps = {(h, w): bench_step(h, w, batch, args.repeats) for h, w in loaders}
    load_after = os.getloadavg()[0]
    print(f"steps: {steps}", flush=True)
    text = _section(args, cfg, batch, fps, raw_fps, (load_before, load_after)) + _step_table(loaders, steps, batch, cfg)
    print(text)
    if args.write:
        replace_section(Path(args.write), text, SECTION)


def _section(args: argparse.Namespace, cfg, batch: int, fps: dict, raw_fps: float, loads: tuple[float, float]) -> str:
    """The section up to the loader table: the machine, both conversions, and how loader and step were timed."""
    load_before, load_after = loads
    lines = [SECTION, "",
             f"`python benchmarks/data_pipeline.py`: machine {cpu_name()}, {os.cpu_count()} logical CPUs, "
             f"torch.set_num_threads(2), torch {torch.__version__}, h5py {h5py.__version__} (HDF5 "
             f"{h5py.version.hdf5_version}); everything below measured in one run; 1-minute load average "
             f"{load_before:.1f} before, {load_after:.1f} after (2.0 means both cores busy with this script or "
             f"others).",
             "",
             "### NYU labeled conversion", "",
             f"`python -m data_tools.nyu_labeled --mat M --all --classes 40` on a generated {args.frames}-frame .mat "
             f"in the real v7.3 layout at 480x640 (smooth random content; rgb, depths, rawDepths, labels, 894 names). "
             f"Time from start to the renamed output, validation included; the output is uncompressed.", "",
             "| source layout | frames/s |", "|---|---|"]
    for k, v in fps.items():
        lines.append(f"| {LAYOUTS[k]} | {v:.1f} |")
    lines += ["", f"At these rates the 1449 real frames take about {1449 / min(fps.values()) / 60:.1f} min "
                  f"(the real file's storage layout could not be checked here: MATLAB -v7.3 compresses, in chunks "
                  f"of its own choosing; the converter reads with a {nyu_labeled.CHUNK_CACHE_BYTES // 2**20} MiB "
                  f"chunk cache per dataset).", "",
              "### NYU raw conversion", "",
              f"`python -m data_tools.nyu_raw --scenes DIR` on one generated scene folder of {args.raw_frames} "
              f"640x480 depth (.pgm) and RGB (.ppm) dumps, every pair kept at 480x640: sync, metres, undistortion, "
              f"registration and writing: **{raw_fps:.1f} frames/s** (one process).", "",
              "### Paired loader vs the default transfer step", "",
              f"Loader: `make_loader` with InputSpec('rgb') and InputSpec('logdepth_valid'), train=True "
              f"(random resized crop + flip), batch {batch}, {args.workers} DataLoader workers, over generated "
              f"{args.loader_samples}-sample paired files at each size; {args.epochs} full epochs after a warm-up "
              f"epoch, worker start-up included (workers are not persistent). 'Steady' leaves out each epoch's "
              f"first batch.", "",
              f"Step: configs/default.yaml's models ({cfg.teacher.net.arch} teacher on RGB, {cfg.student.arch} student "
              f"on 2-channel depth) at batch {batch} on inputs of the same size: teacher forward (no grad) + student "
              f"forward + backward + AdamW, with a zero loss ('no loss') and with the crd_dense loss; median of "
              f"{args.repeats} steps each. The ratio is loader samples/s (whole epochs) over step samples/s.", ""]
    return "\n".join(lines) + "\n"


def _step_table(loaders: dict, steps: dict, batch: int, cfg) -> str:
    """The loader's samples/s against each step variant's at each size, and whether it meets the 3x target."""
    config_size = tuple(int(v) for v in cfg.data.synthetic.size.split("x"))
    lines = ["| size | loader samples/s (whole, steady) | step variant | step s | step samples/s | loader / step |",
             "|---|---|---|---|---|---|"]
    ratios = []
    for (h, w), st in steps.items():
        ld = loaders[(h, w)]
        for name, sec in st.items():
            sps = batch / sec
            ratios.append(ld["whole epochs"] / sps)
            lines.append(f"| {h}x{w}{' (config size)' if (h, w) == config_size else ''} | {ld['whole epochs']:.1f}, "
                         f"{ld['after the first batch']:.1f} | {name} | {sec:.3f} | {sps:.1f} | "
                         f"{ld['whole epochs'] / sps:.1f}x |")
    verdict = "meets" if min(ratios) >= 3 else "does NOT meet"
    lines += ["", f"Smallest ratio {min(ratios):.1f}x: the loader {verdict} the 3x target against every step timed "
                  f"here. Loader and step were timed one after the other; in real training on this 2-core machine "
                  f"the two workers and the step's 2 threads share the same cores."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
