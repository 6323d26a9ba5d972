"""Procedural indoor RGB-D frames with NYU-40 labels: the project's embedded default data (no downloads).

Rooms are boxes with furniture built from a few boxes (scene, furniture, room), rendered by vectorised numpy ray
casting (raycast) through a pinhole camera with the NYU Kinect RGB intrinsics, shaded with procedural textures and
a point light (shading). Depth gets a Kinect-like sensor model (sensor: noise growing with z^2, disparity
quantisation, parallax shadows, dropouts, no reading on glass or out of range). generate renders frames and splits;
cli is the command line.

    python -m data_tools.synthetic --out data/synthetic --num 2000 --size 120x160 --seed 0
"""
from data_tools.synthetic.cli import main
from data_tools.synthetic.generate import SPLITS, generate_frame, generate_split, worker_pool
from data_tools.synthetic.raycast import intrinsics
from data_tools.synthetic.room import build_scene, camera_rotation
from data_tools.synthetic.scene import (
    BED,
    BOOKSHELF,
    CABINET,
    CEILING,
    CHAIR,
    CLASS_NAMES,
    CLASSES,
    DOOR,
    FLOOR,
    NYU40_IDS,
    PICTURE,
    SOFA,
    TABLE,
    WALL,
    WINDOW,
    Material,
    Obj,
    Opening,
    Scene,
)
from data_tools.synthetic.sensor import KINECT_BASELINE, KINECT_FB, MAX_DEPTH, MIN_DEPTH, kinect_depth

__all__ = [
    "BED", "BOOKSHELF", "CABINET", "CEILING", "CHAIR", "CLASSES", "CLASS_NAMES", "DOOR", "FLOOR", "KINECT_BASELINE",
    "KINECT_FB", "MAX_DEPTH", "MIN_DEPTH", "NYU40_IDS", "PICTURE", "SOFA", "SPLITS", "TABLE", "WALL", "WINDOW",
    "Material", "Obj", "Opening", "Scene", "build_scene", "camera_rotation", "generate_frame", "generate_split",
    "intrinsics", "kinect_depth", "main", "worker_pool",
]
