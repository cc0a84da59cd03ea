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


def _failure_destination(function: dict[str, Any]) -> str | None:
    config = function["Properties"].get("EventInvokeConfig")
    if not config:
        return None
    return str(config["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0])


def _completion_queues(doc: dict[str, Any]) -> set[str]:
    """Queues that hold completions: the results function's failures, and what SNS could not
    deliver (each subscription's redrive policy)."""
    resources = doc["Resources"]
    held = {_failure_destination(resources["ProcessResultsFunction"])}
    for function in resources.values():
        for event in (function.get("Properties") or {}).get("Events", {}).values():
            if event["Type"] == "SNS" and "RedrivePolicy" in event["Properties"]:
                held.add(
                    event["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
                )
    return {q for q in held if q}


def test_each_alarm_describes_its_own_queue_or_function(doc) -> None:
    """No copy-paste: a description names what its alarm watches and nothing else of the
    stack's, and speaks of Rekognition forgetting a job only where a completion can be parked."""
    resources = doc["Resources"]
    queues = logical_ids(doc, "AWS::SQS::Queue")
    functions = logical_ids(doc, "AWS::Serverless::Function")
    completion_queues = _completion_queues(doc)
    assert completion_queues == {"ProcessFailuresQueue", "CompletionDeliveryDLQ"}
    checked = 0
    for logical, resource in resources.items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        alarm = resource["Properties"]
        text = alarm["AlarmDescription"]
        named = {name for name in queues | functions if re.search(rf"\b{name}\b", text)}
        if alarm["Namespace"] == "AWS/SQS":
            (queue,) = {d["Value"]["Fn::GetAtt"][0] for d in alarm["Dimensions"]}
            assert named == {queue}, (logical, named)
            parked = "Rekognition forgets" in text
            if parked or alarm["MetricName"] == "ApproximateAgeOfOldestMessage":
                assert parked == (queue in completion_queues), logical
            if queue == "EraseFailuresQueue":
                assert "face-derived data" in text, logical
        elif alarm["Namespace"] == "AWS/Lambda":
            (function,) = {d["Value"]["Ref"] for d in alarm["Dimensions"]}
            queue = _failure_destination(resources[function])
            assert named == {function} | ({queue} if queue else set()), (logical, named)
            if queue is None:  # synchronous (the API): no retries, no failure queue
                assert "retries" not in text and "queue" not in text, logical
        else:
            assert named == {"StartRecognitionFunction"}, (logical, named)  # the sweep's metric
        checked += 1
    assert checked == len(logical_ids(doc, "AWS::CloudWatch::Alarm"))


def test_a_late_sweep_never_fires_the_backlog_alarm(doc, alarms) -> None:
    """Missing data breaches (a stopped sweep must page), so the sweep must report in every
    period, and one late or skipped sweep must not page on its own."""
    (alarm,) = [a for a in alarms if a["MetricName"] == "OldestQueuedAgeSeconds"]
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["EvaluationPeriods"] >= 3
    assert alarm.get("DatapointsToAlarm", alarm["EvaluationPeriods"]) == alarm["EvaluationPeriods"]
    pattern = re.compile(doc["Parameters"]["SweepSchedule"]["AllowedPattern"])
    longest = {"rate(1 hour)": 3600, "rate(59 minutes)": 59 * 60, "rate(1 minute)": 60}
    for schedule, interval in longest.items():
        assert pattern.fullmatch(schedule), schedule
        assert interval <= alarm["Period"]  # every period gets a datapoint
    for schedule in ("rate(2 hours)", "rate(90 minutes)", "rate(1 day)", "rate(0 minutes)"):
        assert not pattern.fullmatch(schedule), schedule
    assert "at least once an hour" in doc["Parameters"]["SweepSchedule"]["Description"]


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
