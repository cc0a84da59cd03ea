"""dlib face models: HOG detector, 5-point landmarks, ResNet embedding.

The model files ship in the `face_recognition_models` package. We locate them with
`importlib.util.find_spec` instead of importing the package, because its `__init__` imports
`pkg_resources` (gone from setuptools>=81). Nothing is downloaded at run time.

dlib's detector and networks keep per-call scratch state: one instance shared by several threads
gives wrong results. `local_models()` therefore hands each thread (and so each worker process)
its own instance.
"""

from __future__ import annotations

import importlib.util
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
EMBEDDING_MODEL_ID = "dlib_face_recognition_resnet_model_v1+shape_predictor_5"

Gray = npt.NDArray[np.uint8]
RGB = npt.NDArray[np.uint8]
Embedding = npt.NDArray[np.float64]


class ModelFilesMissingError(RuntimeError):
    pass


@cache
def models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFilesMissingError(
            "the face_recognition_models package is not installed; "
            "install the engine with `pip install -e ./engine`"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "models"
        if (candidate / RECOGNITION_MODEL_FILE).is_file():
            return candidate
    raise ModelFilesMissingError(
        f"{RECOGNITION_MODEL_FILE} not found in {list(spec.submodule_search_locations)}"
    )


@dataclass(frozen=True)
class Detection:
    """One detector hit, in pixel coordinates of the image it was found in."""

    left: float
    top: float
    right: float
    bottom: float
    score: float  # HOG SVM margin; 0 is the detector's own threshold

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    def rect(self) -> Any:
        return dlib.rectangle(
            round(self.left), round(self.top), round(self.right), round(self.bottom)
        )

    def iou(self, other: Detection) -> float:
        ix = max(0.0, min(self.right, other.right) - max(self.left, other.left))
        iy = max(0.0, min(self.bottom, other.bottom) - max(self.top, other.top))
        inter = ix * iy
        union = self.width * self.height + other.width * other.height - inter
        return inter / union if union > 0 else 0.0


class FaceModels:
    """One set of dlib models. Not thread-safe: use `local_models()`."""

    def __init__(self) -> None:
        root = models_dir()
        self.detector = dlib.get_frontal_face_detector()
        self.shape_predictor = dlib.shape_predictor(str(root / SHAPE_PREDICTOR_FILE))
        self.encoder = dlib.face_recognition_model_v1(str(root / RECOGNITION_MODEL_FILE))

    def detect(
        self,
        image: Gray | RGB,
        upsample: int = 0,
        *,
        offset: tuple[float, float] = (0.0, 0.0),
        scale: float = 1.0,
    ) -> list[Detection]:
        """HOG detections; `offset`/`scale` map an ROI crop back to frame pixels."""
        rects, scores, _ = self.detector.run(image, upsample, 0.0)
        ox, oy = offset
        return [
            Detection(
                left=ox + r.left() / scale,
                top=oy + r.top() / scale,
                right=ox + (r.right() + 1) / scale,
                bottom=oy + (r.bottom() + 1) / scale,
                score=float(s),
            )
            for r, s in zip(rects, scores, strict=True)
        ]

    def landmarks(self, image: Gray | RGB, det: Detection) -> Any:
        """dlib full_object_detection with 5 points: 0-1 and 2-3 eye corners, 4 nose base."""
        return self.shape_predictor(image, det.rect())

    def embed(self, rgb: RGB, shape: Any, jitters: int = 0) -> Embedding:
        return np.asarray(
            self.encoder.compute_face_descriptor(rgb, shape, jitters, 0.25), dtype=np.float64
        )


_local = threading.local()


def local_models() -> FaceModels:
    """This thread's models, loaded on first use (about 0.3 s)."""
    models: FaceModels | None = getattr(_local, "models", None)
    if models is None:
        models = FaceModels()
        _local.models = models
    return models


def shape_points(shape: Any) -> npt.NDArray[np.float64]:
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
