"""template.yaml's API block says what issue 10 promises: IAM authorization by default, CORS
off unless a parameter enables it, throttling on the stage, a read-only least-privilege
function, and the ByRecency index the list reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cameo_core.adapters.recency import RECENCY_INDEX
from cameo_stack import template as cfn

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return cfn.load_yaml(ROOT / "template.yaml")


def test_the_api_route_is_iam_authorized_unless_the_parameter_says_otherwise(
    doc: dict[str, Any],
) -> None:
    parameter = doc["Parameters"]["ApiAuthorization"]
    assert parameter["Default"] == "AWS_IAM"
    assert set(parameter["AllowedValues"]) == {"AWS_IAM", "NONE"}
    route = doc["Resources"]["HttpApiRoute"]["Properties"]
    assert route["AuthorizationType"] == {"Ref": "ApiAuthorization"}
    assert route["RouteKey"] == "GET /{proxy+}"  # read-only: GET is the only method routed


def test_cors_is_off_unless_an_origin_is_given(doc: dict[str, Any]) -> None:
    assert doc["Parameters"]["ApiCorsAllowOrigin"]["Default"] == ""
    assert doc["Conditions"]["ApiCorsEnabled"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ApiCorsAllowOrigin"}, ""]}]
    }
    cors = doc["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]["Fn::If"]
    assert cors[0] == "ApiCorsEnabled"
    assert cors[1]["AllowMethods"] == ["GET"]
    assert cors[2] == {"Ref": "AWS::NoValue"}


def test_the_stage_throttles_and_keeps_access_logs(doc: dict[str, Any]) -> None:
    stage = doc["Resources"]["HttpApiStage"]["Properties"]
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == {
        "Ref": "ApiThrottlingBurstLimit"
    }
    log_group = stage["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
    assert doc["Resources"][log_group]["Properties"]["RetentionInDays"] == {
        "Ref": "LogRetentionDays"
    }
    # Query strings name objects (personal data): the access log format leaves them out.
    assert "querystring" not in stage["AccessLogSettings"]["Format"].lower()


def test_the_api_function_may_only_read(doc: dict[str, Any]) -> None:
    statements = [
        statement
        for policy in doc["Resources"]["ApiFunction"]["Properties"]["Policies"]
        for statement in policy["Statement"]
    ]
    actions = {
        a
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert actions == {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "s3:GetObject",
        "s3:GetObjectVersion",
    }
    assert all(s["Effect"] == "Allow" and s["Resource"] != "*" for s in statements)


def test_the_offline_model_knows_the_function_and_the_recency_index() -> None:
    model = cfn.load(ROOT / "template.yaml")
    fn = model.function("ApiFunction")
    assert fn.module_file == ROOT / "functions" / "api" / "app.py"
    assert fn.environment["TABLE_NAME"] == model.table.name
    assert fn.timeout <= 29  # inside API Gateway's integration timeout
    indexes = {i["IndexName"]: i for i in model.table.global_secondary_indexes}
    assert indexes[RECENCY_INDEX]["KeySchema"] == [
        {"AttributeName": "gsi4pk", "KeyType": "HASH"},
        {"AttributeName": "gsi4sk", "KeyType": "RANGE"},
    ]
