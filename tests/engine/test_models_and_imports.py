"""The engine finds its model files offline and keeps heavy imports out of the package root."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.engine


def _run(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout


def test_model_files_are_located_without_importing_face_recognition_models() -> None:
    # Given a fresh interpreter, when the models directory is resolved
    out = _run(
        "import sys\n"
        "from cameo_engine.models import models_dir, RECOGNITION_MODEL_FILE\n"
        "d = models_dir()\n"
        "print((d / RECOGNITION_MODEL_FILE).is_file())\n"
        "print('face_recognition_models' in sys.modules)\n"
    )
    # Then the file exists and the package (whose __init__ needs pkg_resources) was not imported
    assert out.split() == ["True", "False"]


def test_importing_the_package_root_loads_no_heavy_dependency() -> None:
    out = _run(
        "import sys, cameo_engine\n"
        "print(sorted(m for m in ('dlib', 'av', 'numpy', '_dlib_pybind11') if m in sys.modules))\n"
    )
    assert out.strip() == "[]"


def test_one_model_set_per_thread() -> None:
    # dlib's detector gives wrong results when shared across threads
    import threading

    from cameo_engine.models import local_models

    mine = local_models()
    seen = []
    thread = threading.Thread(target=lambda: seen.append(local_models()))
    thread.start()
    thread.join()
    assert local_models() is mine
    assert seen[0] is not mine
