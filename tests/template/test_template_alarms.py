"""Operators find out before users do: every failure queue, every function and the backlog have
an alarm, and the alarms notify whatever AlarmEmail / AlarmTopicArn name (issue 8)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from cameo_stack import template as cfn

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
# Rekognition keeps a job's results for about 7 days; a parked completion must page within hours.
MAX_AGE_BEFORE_PAGING_S = 6 * 3600

NOTIFY = [
    {"Fn::If": ["AlarmEmailSet", {"Ref": "AlarmTopic"}, {"Ref": "AWS::NoValue"}]},
    {"Fn::If": ["AlarmTopicSet", {"Ref": "AlarmTopicArn"}, {"Ref": "AWS::NoValue"}]},
]


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return cfn.load_yaml(TEMPLATE)


@pytest.fixture(scope="module")
def alarms(doc: dict[str, Any]) -> list[dict[str, Any]]:
    found = [
        r["Properties"] for r in doc["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"
    ]
    assert found
    return found


def logical_ids(doc: dict[str, Any], kind: str) -> set[str]:
    return {k for k, r in doc["Resources"].items() if r["Type"] == kind}


def watching(alarms: list[dict[str, Any]], namespace: str, metric: str) -> list[dict[str, Any]]:
    return [a for a in alarms if a["Namespace"] == namespace and a["MetricName"] == metric]


def test_every_queue_alarms_on_a_visible_message(doc, alarms) -> None:
    # All the stack's queues are failure or dead-letter queues: nothing else should sit in one.
    queues = logical_ids(doc, "AWS::SQS::Queue")
    assert len(queues) == 4
    watched = {}
    for alarm in watching(alarms, "AWS/SQS", "ApproximateNumberOfMessagesVisible"):
        (dimension,) = alarm["Dimensions"]
        assert dimension["Name"] == "QueueName"
        queue, attribute = dimension["Value"]["Fn::GetAtt"]
        assert attribute == "QueueName"
        watched[queue] = alarm
    assert set(watched) == queues
    for alarm in watched.values():
        # One message is enough, and an empty queue (no datapoints) is fine.
        assert alarm["Threshold"] == 1
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["Period"] * alarm["EvaluationPeriods"] <= 900
        assert alarm["TreatMissingData"] == "notBreaching"


def test_every_queue_alarms_on_the_age_of_its_oldest_message_within_hours(doc, alarms) -> None:
    queues = logical_ids(doc, "AWS::SQS::Queue")
    watched = {}
    for alarm in watching(alarms, "AWS/SQS", "ApproximateAgeOfOldestMessage"):
        (dimension,) = alarm["Dimensions"]
        watched[dimension["Value"]["Fn::GetAtt"][0]] = alarm
    assert set(watched) == queues
    for alarm in watched.values():
        delay = alarm["Threshold"] + alarm["Period"] * alarm["EvaluationPeriods"]
        assert delay <= MAX_AGE_BEFORE_PAGING_S
        assert alarm["ComparisonOperator"].startswith("GreaterThan")


def test_every_function_alarms_on_its_errors(doc, alarms) -> None:
    functions = logical_ids(doc, "AWS::Serverless::Function")
    assert {"StartRecognitionFunction", "ProcessResultsFunction", "EraseResultsFunction"} <= (
        functions
    )
    watched = {}
    for alarm in watching(alarms, "AWS/Lambda", "Errors"):
        (dimension,) = alarm["Dimensions"]
        assert dimension["Name"] == "FunctionName"
        watched[dimension["Value"]["Ref"]] = alarm
    assert set(watched) == functions
    for alarm in watched.values():
        assert (alarm["Statistic"], alarm["Threshold"]) == ("Sum", 1)
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def published_metric_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        kw.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "add_metric"
        for kw in node.keywords
        if kw.arg == "name" and isinstance(kw.value, ast.Constant)
    }


def test_the_backlog_alarm_watches_the_metric_the_sweep_publishes(doc, alarms) -> None:
    env = doc["Globals"]["Function"]["Environment"]["Variables"]
    (alarm,) = [a for a in alarms if a["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]]
    assert alarm["MetricName"] == "OldestQueuedAgeSeconds"
    assert alarm["MetricName"] in published_metric_names(
        ROOT / "layers/cameo_core/cameo_core/backlog.py"
    )
    # Powertools' default dimension is the service name.
    assert alarm["Dimensions"] == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}]
    assert alarm["Threshold"] == {"Ref": "BacklogAlarmAgeSeconds"}
    assert alarm["Statistic"] == "Maximum"
    # The sweep reports 0 when nothing waits, so silence means the sweep stopped.
    assert alarm["TreatMissingData"] == "breaching"
    assert doc["Parameters"]["BacklogAlarmAgeSeconds"]["Type"] == "Number"


def test_every_alarm_notifies_the_optional_email_topic_and_topic_arn(doc, alarms) -> None:
    for alarm in alarms:
        assert alarm["AlarmActions"] == NOTIFY, alarm["MetricName"]
        assert alarm["OKActions"] == NOTIFY, alarm["MetricName"]
        assert len(alarm["AlarmDescription"].split()) >= 8
    resources = doc["Resources"]
    assert resources["AlarmTopic"]["Condition"] == "AlarmEmailSet"
    subscription = resources["AlarmEmailSubscription"]
    assert subscription["Condition"] == "AlarmEmailSet"
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }
    conditions = doc["Conditions"]
    assert conditions["AlarmEmailSet"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    assert conditions["AlarmTopicSet"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]
    }


@pytest.mark.parametrize(
    ("parameter", "good", "bad"),
    [
        ("AlarmEmail", ["", "ops@example.org"], ["ops", "ops@", "a b@example.org"]),
        (
            "AlarmTopicArn",
            [
                "",
                "arn:aws:sns:eu-west-1:123456789012:pager",
                "arn:aws-cn:sns:cn-north-1:123456789012:x",
            ],
            ["pager", "arn:aws:sqs:eu-west-1:123456789012:q", "arn:aws:sns:eu-west-1:12345:p"],
        ),
    ],
)
def test_alarm_destinations_are_optional_and_checked(doc, parameter, good, bad) -> None:
    spec = doc["Parameters"][parameter]
    assert spec["Default"] == ""
    pattern = re.compile(spec["AllowedPattern"])
    assert all(pattern.fullmatch(value) for value in good)
    assert not any(pattern.fullmatch(value) for value in bad)


def test_docs_list_every_alarm_parameter_and_the_redrive_commands(doc) -> None:
    docs = (ROOT / "docs/aws.md").read_text()
    for parameter in ("AlarmEmail", "AlarmTopicArn", "BacklogAlarmAgeSeconds"):
        assert f"| `{parameter}` |" in docs, parameter
    for family in ("MessagesAlarm", "AgeAlarm", "ErrorsAlarm", "BacklogOldestUploadAlarm"):
        assert family in docs, family
    names = {k for k, r in doc["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    families = {"MessagesAlarm", "AgeAlarm", "ErrorsAlarm"}
    assert all(n.endswith(tuple(families)) or n == "BacklogOldestUploadAlarm" for n in names)
    for queue in logical_ids(doc, "AWS::SQS::Queue"):
        assert f"`{queue}`" in docs, queue
    assert "cameo dlq redrive --stack" in docs
    assert "cameo dlq redrive --stack cameo --queue CompletionDeliveryDLQ" in docs
