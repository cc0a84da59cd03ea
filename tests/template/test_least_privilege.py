"""Least privilege, checked: each function's role (as SAM expands it, policy templates included)
against the AWS calls its code makes (tests/template/aws_calls.py).

It fails when the code calls something the role lacks, when the role grants a write the code
never makes, and when it grants a read nobody calls and no rule below justifies."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.template.aws_calls import Calls, function_calls
from tests.template.sam_transform import function_roles, transformed

# An API operation -> the IAM actions it is authorized by (Service Authorization Reference).
AUTHORIZED_BY = {
    "s3:ListObjectsV2": {"s3:ListBucket"},
    "s3:HeadObject": {"s3:GetObject"},
    "s3:DeleteObjects": {"s3:DeleteObject"},  # checked per key
    # Rekognition reads the video with the caller's permissions (the exact version), and the
    # notification channel's role is passed to it.
    "rekognition:StartCelebrityRecognition": {
        "rekognition:StartCelebrityRecognition",
        "iam:PassRole",
        "s3:GetObject",
        "s3:GetObjectVersion",
    },
}
# Reads granted beyond the calls, each for a reason, and only next to the call it serves.
JUSTIFIED_READS = {
    # A versioned read (VersionId, a presigned URL of one version) is authorized by this one.
    "s3:GetObjectVersion": "s3:GetObject",
    # Without it, a missing key answers 403 instead of 404, and "gone" looks like "denied".
    "s3:ListBucket": "s3:GetObject",
}
WRITE_VERBS = (
    "Put", "Update", "Delete", "BatchWrite", "TransactWrite", "Create", "Start", "Publish",
    "Pass", "Send", "Invoke", "Restore", "Tag", "Untag", "Copy", "Abort",
)  # fmt: skip
# Managed policies SAM attaches to every function: CloudWatch Logs and X-Ray (Tracing: Active).
PLATFORM_MANAGED = {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"}


def is_write(action: str) -> bool:
    return action.split(":", 1)[1].startswith(WRITE_VERBS)


def needed_actions(calls: Calls) -> set[str]:
    return {a for op in calls.operations for a in AUTHORIZED_BY.get(op, {op})}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def granted_actions(role: dict[str, Any], on_failure: Any) -> tuple[set[str], list[str]]:
    """(actions the role's own statements allow, problems with what the platform added)."""
    problems = []
    for arn in role.get("ManagedPolicyArns", []):
        if arn.rsplit("/", 1)[-1] not in PLATFORM_MANAGED:
            problems.append(f"managed policy {arn}")
    granted: set[str] = set()
    for policy in role.get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            actions = set(as_list(statement["Action"]))
            if policy["PolicyName"].endswith("EventInvokeConfigOnFailureSQSPolicy"):
                # Lambda sends the failure record with the function's role: the platform's
                # write, allowed on the function's own destination only.
                if actions != {"sqs:SendMessage"} or statement["Resource"] != on_failure:
                    problems.append(f"destination statement {statement}")
                continue
            granted |= actions
    return granted, problems


def compare(calls: Calls, granted: set[str]) -> list[str]:
    needed = needed_actions(calls)
    problems = [f"code calls {a}, the role lacks it" for a in sorted(needed - granted)]
    for action in sorted(granted - needed):
        if is_write(action):
            problems.append(f"the role grants {action}, a write the code never makes")
        elif JUSTIFIED_READS.get(action) not in needed:
            problems.append(f"the role grants {action}, a read the code never makes")
    problems += [
        f"{name!r} is read on an untyped receiver in {where}: an adapter call the walk "
        "cannot follow (give the receiver its type)"
        for name, where in sorted(calls.unresolved)
    ]
    return problems


@pytest.fixture(scope="module")
def deployed() -> dict[str, Any]:
    return transformed()


def function_code(deployed: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """Function logical id -> (functions/<dir>, its OnFailure destination or None)."""
    found = {}
    for logical, resource in deployed["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        key = resource["Properties"]["Code"]["S3Key"]  # "functions/<dir>" (sam_transform.py)
        configs = [
            r["Properties"]
            for r in deployed["Resources"].values()
            if r["Type"] == "AWS::Lambda::EventInvokeConfig"
            and r["Properties"]["FunctionName"] == {"Ref": logical}
        ]
        on_failure = (
            configs[0]["DestinationConfig"]["OnFailure"]["Destination"] if configs else None
        )
        found[logical] = (key.removeprefix("functions/"), on_failure)
    return found


def test_every_function_is_checked(deployed: dict[str, Any]) -> None:
    assert sorted(function_code(deployed)) == [
        "ApiFunction",
        "EraseResultsFunction",
        "ProcessResultsFunction",
        "StartRecognitionFunction",
    ]


@pytest.mark.parametrize(
    "logical",
    [
        "StartRecognitionFunction",
        "ProcessResultsFunction",
        "EraseResultsFunction",
        "ApiFunction",
    ],
)
def test_each_role_grants_exactly_what_its_code_calls(
    deployed: dict[str, Any], logical: str
) -> None:
    code_dir, on_failure = function_code(deployed)[logical]
    granted, platform_problems = granted_actions(function_roles(deployed)[logical], on_failure)
    assert platform_problems == []
    assert compare(function_calls(code_dir), granted) == []


def test_the_walk_follows_types_not_names() -> None:
    # routes.py calls str/regex methods named like adapter methods (start, read, pages); the
    # API reaches reads only.
    assert needed_actions(function_calls("api")) == {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "s3:GetObject",
    }
    start = function_calls("start_recognition").operations
    assert start["rekognition:StartCelebrityRecognition"] == {
        "cameo_core.adapters.rekognition.CelebrityJobs.start"
    }
    # Bound methods passed as callables count: ResultsTable passes put_item to its retry helper.
    assert "dynamodb:PutItem" in start


# -- the comparison fails when it should ------------------------------------------------------


def test_a_missing_grant_is_reported(deployed: dict[str, Any]) -> None:
    code_dir, on_failure = function_code(deployed)["EraseResultsFunction"]
    granted, _ = granted_actions(function_roles(deployed)["EraseResultsFunction"], on_failure)
    # The erase function before #8's fix: no way to read a video an undo brought back.
    problems = compare(function_calls(code_dir), granted - {"s3:GetObject", "dynamodb:PutItem"})
    assert problems == [
        "code calls dynamodb:PutItem, the role lacks it",
        "code calls s3:GetObject, the role lacks it",
    ]


def test_a_write_never_made_is_reported(deployed: dict[str, Any]) -> None:
    role = copy.deepcopy(function_roles(deployed)["ProcessResultsFunction"])
    # What DynamoDBCrudPolicy added: a SAM policy template, expanded by SAM.
    role["Policies"].append(
        {
            "PolicyName": "Crud",
            "PolicyDocument": {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Scan"],
                        "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/t",
                    }
                ]
            },
        }
    )
    code_dir, on_failure = function_code(deployed)["ProcessResultsFunction"]
    granted, _ = granted_actions(role, on_failure)
    assert compare(function_calls(code_dir), granted) == [
        "the role grants dynamodb:DeleteItem, a write the code never makes",
        "the role grants dynamodb:PutItem, a write the code never makes",
        "the role grants dynamodb:Scan, a read the code never makes",
    ]


def test_sam_policy_templates_are_expanded_not_skipped(tmp_path: Any) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        """
Transform: AWS::Serverless-2016-10-31
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      BillingMode: PAY_PER_REQUEST
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: app.lambda_handler
      CodeUri: functions/api/
      Policies:
        - DynamoDBCrudPolicy:
            TableName: !Ref Table
"""
    )
    role = function_roles(transformed(template))["Fn"]
    granted, problems = granted_actions(role, None)
    assert problems == []
    assert {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Scan"} <= granted


def test_an_unknown_managed_policy_is_reported() -> None:
    role = {"ManagedPolicyArns": ["arn:aws:iam::aws:policy/AmazonS3FullAccess"], "Policies": []}
    assert granted_actions(role, None)[1] == [
        "managed policy arn:aws:iam::aws:policy/AmazonS3FullAccess"
    ]
