"""docs/openapi.json is generated from the routes (python -m functions.api.openapi); the
committed copy must be exactly what the code generates now."""

from __future__ import annotations

import json
from pathlib import Path

from functions.api import openapi

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_committed_openapi_document_matches_the_code() -> None:
    assert DOCUMENT.read_text() == openapi.render(openapi.generate()), (
        "docs/openapi.json drifted from the routes: run `python -m functions.api.openapi`"
    )


def test_check_mode_fails_on_a_drifted_copy(tmp_path: Path) -> None:
    drifted = json.loads(DOCUMENT.read_text())
    del drifted["paths"]["/health"]
    copy = tmp_path / "openapi.json"
    copy.write_text(json.dumps(drifted))
    assert openapi.main(["--check", "--output", str(copy)]) == 1
    copy.write_text(DOCUMENT.read_text())
    assert openapi.main(["--check", "--output", str(copy)]) == 0


def test_document_lists_every_endpoint_and_promises_no_422() -> None:
    document = json.loads(DOCUMENT.read_text())
    assert set(document["paths"]) == {
        "/health",
        "/videos",
        "/videos/lookup",
        "/videos/{video_id}",
        "/videos/{video_id}/appearances",
        "/videos/{video_id}/appearances.vtt",
        "/videos/{video_id}/appearances.csv",
        "/videos/{video_id}/at/{ms}",
        "/videos/{video_id}/cast",
        "/videos/{video_id}/media",
        "/celebrities/{celebrity_id}/videos",
        "/celebrities",
    }
    for path, item in document["paths"].items():
        responses = item["get"]["responses"]
        assert "422" not in responses, path  # invalid input is 400 with the error body
        assert "200" in responses, path
    errors = document["paths"]["/videos/{video_id}/cast"]["get"]["responses"]
    assert {"400", "404", "409"} <= set(errors)
    assert errors["409"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
