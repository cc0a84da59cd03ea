"""The template passes the tools CI runs on it: `sam validate --lint` (cfn-lint), checkov, and
`sam build` for python3.13/arm64 without Docker. The tools live in their own venvs (SAM CLI and
checkov pin incompatible boto3 versions); `make pytest` creates them first via `make sam-venv`."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAM = ROOT / ".venv-sam" / "bin" / "sam"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
# pyenv exposes python3.13 (which sam build needs for BuildMethod python3.13) next to 3.11.
SAM_PYENV = os.environ.get("SAM_PYENV", "3.11.7:3.13.0")

needs_sam = pytest.mark.skipif(
    not SAM.exists(), reason="SAM CLI venv missing: run `make sam-venv` (make pytest does)"
)
needs_checkov = pytest.mark.skipif(
    not CHECKOV.exists(), reason="checkov venv missing: run `make sam-venv` (make pytest does)"
)


def run(*args: str | Path, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0", **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@needs_sam
def test_sam_validate_lint_passes() -> None:
    result = run(SAM, "validate", "--lint", "--template", ROOT / "template.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


@needs_sam
def test_sam_validate_lint_rejects_a_broken_template(tmp_path: Path) -> None:
    # Control for the test above: the lint step really runs cfn-lint's rules.
    broken = (ROOT / "template.yaml").read_text().replace("Timeout: 900", "Timeout: 90000", 1)
    (tmp_path / "template.yaml").write_text(broken)
    result = run(SAM, "validate", "--lint", "--template", tmp_path / "template.yaml", cwd=tmp_path)
    assert result.returncode != 0
    assert "E3034" in result.stdout + result.stderr


@needs_checkov
def test_checkov_reports_no_failed_checks_and_every_skip_has_a_reason() -> None:
    result = run(
        CHECKOV,
        "--skip-download",
        "--framework",
        "cloudformation",
        "-f",
        "template.yaml",
        "-o",
        "json",
    )
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert summary["failed"] == 0, failed
    assert summary["parsing_errors"] == 0
    assert summary["passed"] >= 40
    for check in report["results"]["skipped_checks"]:
        assert check["check_result"].get("suppress_comment"), check["check_id"]


def _python313_available() -> bool:
    try:
        probe = run("python3.13", "--version", PYENV_VERSION=SAM_PYENV)
    except OSError:
        return False
    return probe.returncode == 0


@pytest.mark.slow
@needs_sam
def test_sam_build_makes_arm64_artifacts_without_engine_code(tmp_path: Path) -> None:
    if not _python313_available():
        pytest.skip(f"no python3.13 on PATH (PYENV_VERSION={SAM_PYENV}); sam build needs it")
    build = tmp_path / "build"
    result = run(
        SAM,
        "build",
        "--template",
        ROOT / "template.yaml",
        "--build-dir",
        build,
        "--no-cached",
        "--cache-dir",
        tmp_path / "cache",
        PYENV_VERSION=SAM_PYENV,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    layer = build / "CoreLayer" / "python"
    for package in ("cameo_core", "aws_lambda_powertools"):
        assert (layer / package / "__init__.py").is_file(), package
    # boto3/botocore come from the runtime; a copy in the layer would shadow it.
    assert not (layer / "botocore").exists()
    # Any native extension must be built for the functions' architecture.
    native = list(build.rglob("*.so"))
    assert all(re.search(r"aarch64", so.name) for so in native), native

    for function in ("StartRecognitionFunction", "ProcessResultsFunction", "EraseResultsFunction"):
        assert (build / function / "app.py").is_file()
        # Shared code reaches the functions only through the layer.
        assert not (build / function / "cameo_core").exists()
    # The local Rekognition engine and its heavy dependencies never reach a Lambda artifact.
    forbidden = {"cameo_engine", "dlib", "av", "numpy", "cameo_cli", "cameo_stack", "moto"}
    shipped = {p.name for p in build.rglob("*") if p.is_dir()}
    assert not forbidden & shipped, forbidden & shipped
