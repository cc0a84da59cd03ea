"""template.yaml says what the issue and the data model promise: keys, failure paths, least
privilege, names, wiring. Read with the offline stack's CloudFormation-aware YAML loader, so
`!Sub`/`!Ref`/`!GetAtt` arrive as their long forms ({"Fn::Sub": ...}, {"Ref": ...})."""

from __future__ import annotations

import ast
import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cameo_core import config, keys, results
from cameo_stack import template as cfn
from tests.template.sam_transform import function_roles, transformed

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

FUNCTIONS = ("StartRecognitionFunction", "ProcessResultsFunction", "EraseResultsFunction")
# Rekognition's celebrity actions have no resource types in the Service Authorization Reference,
# so IAM accepts only Resource "*" for them. Nothing else may use "*".
ACTIONS_WITHOUT_RESOURCE_TYPES = {
    "rekognition:StartCelebrityRecognition",
    "rekognition:GetCelebrityRecognition",
}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return cfn.load_yaml(TEMPLATE)


@pytest.fixture(scope="module")
def resources(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["Resources"]


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in resources.items() if v["Type"] == kind}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_statements(resources: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every statement of every identity and resource policy written in the template."""
    for logical, res in resources.items():
        props = res.get("Properties", {})
        documents = []
        if res["Type"] == "AWS::IAM::Role":
            documents += [p["PolicyDocument"] for p in props.get("Policies", [])]
        if res["Type"] in (
            "AWS::S3::BucketPolicy",
            "AWS::SQS::QueuePolicy",
            "AWS::SNS::TopicPolicy",
        ):
            documents.append(props["PolicyDocument"])
        if res["Type"] == "AWS::Serverless::Function":
            # The role as SAM expands it: policy templates and SAM's own grants included.
            role = function_roles(transformed())[logical]
            documents += [p["PolicyDocument"] for p in role.get("Policies", [])]
        for document in documents:
            for statement in document["Statement"]:
                yield logical, statement


# -- data model ----------------------------------------------------------------------------------


def test_table_keys_and_indexes_match_the_data_model(resources: dict[str, Any]) -> None:
    (props,) = [r["Properties"] for r in of_type(resources, "AWS::DynamoDB::Table").values()]
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert sorted(
        (a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]
    ) == [
        (name, "S")
        for name in sorted(
            [
                *("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"),
                *("gsi3pk", "gsi3sk", "gsi4pk", "gsi4sk"),
            ]
        )
    ]
    indexes = {i["IndexName"]: i for i in props["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"ByCelebrity", "ByName", "ByBacklog", "ByRecency"}
    for name, (hash_key, range_key) in {
        "ByCelebrity": ("gsi1pk", "gsi1sk"),
        "ByName": ("gsi2pk", "gsi2sk"),
        "ByBacklog": ("gsi3pk", "gsi3sk"),
        "ByRecency": ("gsi4pk", "gsi4sk"),
    }.items():
        assert indexes[name]["KeySchema"] == [
            {"AttributeName": hash_key, "KeyType": "HASH"},
            {"AttributeName": range_key, "KeyType": "RANGE"},
        ]
    assert indexes["ByCelebrity"]["Projection"] == {"ProjectionType": "ALL"}
    assert indexes["ByName"]["Projection"] == {"ProjectionType": "ALL"}
    # The backlog is read for keys and counts only; the item itself is read consistently.
    assert indexes["ByBacklog"]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert keys.BACKLOG_INDEX == "ByBacklog"
    # TTL on the attribute only results items carry, and only with ResultsRetentionDays.
    assert props["TimeToLiveSpecification"] == {
        "AttributeName": results.EXPIRES_AT,
        "Enabled": True,
    }


def test_table_is_on_demand_with_pitr_and_encryption(resources: dict[str, Any]) -> None:
    (props,) = [r["Properties"] for r in of_type(resources, "AWS::DynamoDB::Table").values()]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": True,
        # How long an erased or expired item stays restorable (docs/aws.md), at most AWS's 35.
        "RecoveryPeriodInDays": {"Ref": "PitrRecoveryDays"},
    }
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert "DeletionProtectionEnabled" in props


# -- Lambda settings -------------------------------------------------------------------------------


def test_functions_run_python313_on_arm64_with_tracing(doc: dict[str, Any]) -> None:
    fn_globals = doc["Globals"]["Function"]
    assert fn_globals["Runtime"] == "python3.13"
    assert fn_globals["Architectures"] == ["arm64"]
    assert fn_globals["Tracing"] == "Active"
    for logical in FUNCTIONS:
        props = doc["Resources"][logical]["Properties"]
        assert props.get("Runtime", "python3.13") == "python3.13", logical
        assert props.get("Architectures", ["arm64"]) == ["arm64"], logical


def test_layer_is_built_by_sam_for_the_same_runtime_and_architecture(
    resources: dict[str, Any],
) -> None:
    (layer,) = of_type(resources, "AWS::Serverless::LayerVersion").values()
    assert layer["Metadata"] == {"BuildMethod": "python3.13", "BuildArchitecture": "arm64"}
    content = ROOT / layer["Properties"]["ContentUri"]
    assert (content / "cameo_core" / "__init__.py").is_file()
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]


def test_layer_pins_the_same_powertools_as_the_project() -> None:
    def pin(lines: list[str]) -> str:
        (found,) = [
            re.sub(r"\[.*?\]", "", line)
            for line in lines
            if line.startswith("aws-lambda-powertools")
        ]
        return found.strip()

    layer_lines = (ROOT / "layers/cameo_core/requirements.txt").read_text().splitlines()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert pin(layer_lines) == pin(project)
    assert re.fullmatch(r"aws-lambda-powertools==3\.\d+\.\d+", pin(layer_lines))
    # No Tracer (cold start), so nothing may drag a second botocore into /opt/python.
    assert not any(line.startswith(("aws-xray-sdk", "botocore", "boto3")) for line in layer_lines)


def test_every_function_handler_file_exists_and_defines_the_handler(
    resources: dict[str, Any],
) -> None:
    for logical in FUNCTIONS:
        props = resources[logical]["Properties"]
        module, _, name = props["Handler"].rpartition(".")
        source = ROOT / props["CodeUri"] / f"{module}.py"
        tree = ast.parse(source.read_text(), filename=str(source))
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert name in defined, f"{source} has no {name}()"


def test_every_function_logs_to_its_own_log_group_with_retention(
    resources: dict[str, Any],
) -> None:
    groups = []
    for logical in FUNCTIONS:
        ref = resources[logical]["Properties"]["LoggingConfig"]["LogGroup"]
        group = resources[ref["Ref"]]
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        groups.append(ref["Ref"])
    assert len(set(groups)) == len(FUNCTIONS)


def test_every_asynchronous_path_ends_in_an_encrypted_failure_queue(
    resources: dict[str, Any],
) -> None:
    for logical in FUNCTIONS:
        props = resources[logical]["Properties"]
        kinds = {event["Type"] for event in props["Events"].values()}
        assert kinds <= {"S3", "SNS", "Schedule"}, "S3, SNS, EventBridge invoke asynchronously"
        invoke = props["EventInvokeConfig"]
        assert invoke["MaximumRetryAttempts"] == 2
        on_failure = invoke["DestinationConfig"]["OnFailure"]
        assert on_failure["Type"] == "SQS"
        queue_id, attribute = on_failure["Destination"]["Fn::GetAtt"]
        assert attribute == "Arn"
        queue = resources[queue_id]
        assert queue["Type"] == "AWS::SQS::Queue"
        assert queue["Properties"]["SqsManagedSseEnabled"] is True


@pytest.mark.parametrize("logical", ["ProcessResultsFunction", "StartRecognitionFunction"])
def test_sns_subscription_redrives_to_a_queue_sns_may_write(
    resources: dict[str, Any], logical: str
) -> None:
    props = resources[logical]["Properties"]
    (event,) = [e["Properties"] for e in props["Events"].values() if e["Type"] == "SNS"]
    assert event["Topic"] == {"Ref": "CompletionTopic"}
    dlq_id, _ = event["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"]
    policies = [
        r["Properties"]
        for r in of_type(resources, "AWS::SQS::QueuePolicy").values()
        if {"Ref": dlq_id} in r["Properties"]["Queues"]
    ]
    (statement,) = policies[0]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == event["Topic"]


# -- wiring ------------------------------------------------------------------------------------


def test_video_bucket_events_reach_start_and_erase(resources: dict[str, Any]) -> None:
    def s3_events(logical: str) -> list[tuple[Any, str]]:
        events = resources[logical]["Properties"]["Events"].values()
        return [
            (e["Properties"]["Bucket"], e["Properties"]["Events"])
            for e in events
            if e["Type"] == "S3"
        ]

    # The bucket lives in this template: SAM requires that for S3 events.
    assert s3_events("StartRecognitionFunction") == [
        ({"Ref": "VideosBucket"}, "s3:ObjectCreated:*")
    ]
    assert s3_events("EraseResultsFunction") == [({"Ref": "VideosBucket"}, "s3:ObjectRemoved:*")]
    versioning = resources["VideosBucket"]["Properties"]["VersioningConfiguration"]
    assert versioning == {"Status": "Enabled"}


def test_the_start_function_also_drains_on_completions_and_on_the_sweep_schedule(
    resources: dict[str, Any], doc: dict[str, Any]
) -> None:
    events = resources["StartRecognitionFunction"]["Properties"]["Events"]
    by_type = {e["Type"]: e["Properties"] for e in events.values()}
    assert set(by_type) == {"S3", "SNS", "Schedule"}
    assert by_type["Schedule"]["Schedule"] == {"Ref": "SweepSchedule"}
    sweep = doc["Parameters"]["SweepSchedule"]
    assert sweep["Default"] == "rate(5 minutes)"
    assert re.fullmatch(sweep["AllowedPattern"], sweep["Default"])
    assert re.fullmatch(sweep["AllowedPattern"], "cron(0/2 * * * ? *)")
    assert not re.fullmatch(sweep["AllowedPattern"], "every 5 minutes")


def test_functions_get_the_configuration_contract() -> None:
    model = cfn.load(TEMPLATE)
    common = {
        "TABLE_NAME",
        "MIN_CONFIDENCE",
        "MERGE_GAP_MS",
        "MAX_VIDEO_BYTES",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
    }
    expected = {
        "StartRecognitionFunction": common
        | {
            "SNS_TOPIC_ARN",
            "REKOGNITION_ROLE_ARN",
            "MAX_CONCURRENT_JOBS",
            "RECONCILE_AFTER_MINUTES",
            "MAX_VIDEO_MINUTES",
            "PRICE_PER_MINUTE",
        },
        "ProcessResultsFunction": common | {"ARCHIVE_BUCKET"},
        # A restored object is queued with the upload's limits and cost estimate.
        "EraseResultsFunction": common
        | {"ARCHIVE_BUCKET", "MAX_VIDEO_MINUTES", "PRICE_PER_MINUTE"},
    }
    for logical, names in expected.items():
        env = model.function(logical).environment
        assert names <= set(env), f"{logical} lacks {names - set(env)}"
        assert env["POWERTOOLS_SERVICE_NAME"] == "cameo"
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Cameo"
        assert env["TABLE_NAME"] == model.table.name
    start = model.function("StartRecognitionFunction").environment
    assert start["SNS_TOPIC_ARN"] == model.topics["CompletionTopic"].arn
    assert start["REKOGNITION_ROLE_ARN"] == model.roles["RekognitionPublishRole"]


def test_parameter_defaults_equal_the_code_defaults(doc: dict[str, Any]) -> None:
    params = doc["Parameters"]
    assert params["MinConfidence"]["Default"] == config.DEFAULT_MIN_CONFIDENCE
    assert params["MergeGapMs"]["Default"] == config.DEFAULT_MERGE_GAP_MS
    assert params["MaxVideoBytes"]["Default"] == config.DEFAULT_MAX_VIDEO_BYTES == 10 * 1024**3
    assert params["MaxConcurrentJobs"]["Default"] == config.DEFAULT_MAX_CONCURRENT_JOBS == 20
    assert params["ReconcileAfterMinutes"]["Default"] == config.DEFAULT_RECONCILE_AFTER_MINUTES
    assert params["MaxVideoMinutes"]["Default"] == config.DEFAULT_MAX_VIDEO_MINUTES == 360
    assert params["PricePerMinute"]["Default"] == config.DEFAULT_PRICE_PER_MINUTE
    # The environment carries the parameters, so a deployed function sees what was deployed.
    start = cfn.load(TEMPLATE).function("StartRecognitionFunction").environment
    assert float(start["MAX_CONCURRENT_JOBS"]) == params["MaxConcurrentJobs"]["Default"]
    assert float(start["RECONCILE_AFTER_MINUTES"]) == params["ReconcileAfterMinutes"]["Default"]


# -- names ---------------------------------------------------------------------------------------


def test_topic_name_starts_with_amazon_rekognition_and_is_encrypted(
    resources: dict[str, Any],
) -> None:
    topic = resources["CompletionTopic"]
    assert topic["Properties"]["TopicName"]["Fn::Sub"].startswith("AmazonRekognition-")
    assert topic["Properties"]["KmsMasterKeyId"]


NAME_PROPERTIES = (
    "BucketName",
    "TopicName",
    "TableName",
    "QueueName",
    "FunctionName",
    "RoleName",
    "LogGroupName",
    "LayerName",
)


def test_physical_names_derive_from_the_stack(resources: dict[str, Any]) -> None:
    for logical, res in resources.items():
        for prop in NAME_PROPERTIES:
            value = res.get("Properties", {}).get(prop)
            # A reference to another resource (a Lambda permission's function) names nothing.
            if value is not None and not (isinstance(value, dict) and "Ref" in value):
                text = json.dumps(value)
                assert "AWS::StackName" in text or "AWS::StackId" in text, (logical, prop)


def test_video_bucket_policy_arns_use_the_bucket_name_expression(
    resources: dict[str, Any],
) -> None:
    # The start function cannot !Ref the bucket (circular dependency through the notification),
    # so it repeats the name expression; both copies must stay identical.
    template, variables = resources["VideosBucket"]["Properties"]["BucketName"]["Fn::Sub"]
    arns = [
        resource["Fn::Sub"]
        for logical, statement in policy_statements(resources)
        if logical == "StartRecognitionFunction"
        for resource in as_list(statement["Resource"])
        if isinstance(resource, dict) and "Fn::Sub" in resource and "s3:::" in json.dumps(resource)
    ]
    assert sorted(a[0] for a in arns) == [
        f"arn:${{AWS::Partition}}:s3:::{template}",
        f"arn:${{AWS::Partition}}:s3:::{template}/*",
    ]
    assert all(a[1] == variables for a in arns)


# -- least privilege -------------------------------------------------------------------------------


def test_no_wildcard_actions_and_star_resources_only_where_iam_requires(
    resources: dict[str, Any],
) -> None:
    statements = list(policy_statements(resources))
    assert len(statements) > 10
    for logical, statement in statements:
        actions = as_list(statement["Action"])
        for action in actions:
            assert action != "*" and not action.startswith("rekognition:*"), (logical, action)
            if statement["Effect"] == "Allow":
                assert not action.endswith("*"), (logical, action)
        if statement["Effect"] == "Allow" and "*" in as_list(statement["Resource"]):
            assert set(actions) <= ACTIONS_WITHOUT_RESOURCE_TYPES, (logical, actions)


def test_functions_write_their_permissions_inline(resources: dict[str, Any]) -> None:
    # No SAM policy templates: what each function may do is listed where it is reviewed.
    for logical, res in of_type(resources, "AWS::Serverless::Function").items():
        for policy in as_list(res["Properties"].get("Policies", [])):
            assert set(policy) <= {"Version", "Statement"}, (logical, sorted(policy))


def test_the_policy_walker_sees_sam_policy_templates_and_sams_own_grants(
    resources: dict[str, Any],
) -> None:
    statements = [s for logical, s in policy_statements(resources) if logical == "ApiFunction"]
    assert statements and all(s["Effect"] == "Allow" for s in statements)
    erase = [s for logical, s in policy_statements(resources) if logical == "EraseResultsFunction"]
    # SAM's statement for the OnFailure destination is walked like the inline ones.
    assert {
        "Action": "sqs:SendMessage",
        "Effect": "Allow",
        "Resource": {"Fn::GetAtt": ["EraseFailuresQueue", "Arn"]},
    } in erase


def test_rekognition_role_may_only_publish_to_the_completion_topic(
    resources: dict[str, Any],
) -> None:
    props = resources["RekognitionPublishRole"]["Properties"]
    (trust,) = props["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "rekognition.amazonaws.com"}
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert "ManagedPolicyArns" not in props
    statements = [s for p in props["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert statements == [
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": {"Ref": "CompletionTopic"}}
    ]


def test_only_the_start_function_may_pass_the_rekognition_role(resources: dict[str, Any]) -> None:
    passers = [
        (logical, statement)
        for logical, statement in policy_statements(resources)
        if "iam:PassRole" in as_list(statement["Action"])
    ]
    assert [p[0] for p in passers] == ["StartRecognitionFunction"]
    statement = passers[0][1]
    assert statement["Resource"] == {"Fn::GetAtt": ["RekognitionPublishRole", "Arn"]}
    assert statement["Condition"]["StringEquals"]["iam:PassedToService"] == (
        "rekognition.amazonaws.com"
    )


def test_each_function_gets_only_its_own_rekognition_action(resources: dict[str, Any]) -> None:
    granted: dict[str, set[str]] = {logical: set() for logical in FUNCTIONS}
    for logical, statement in policy_statements(resources):
        if logical in granted:
            granted[logical] |= {
                a for a in as_list(statement["Action"]) if a.startswith("rekognition:")
            }
    assert granted == {
        # Get: the sweep asks for a stuck job's status.
        "StartRecognitionFunction": {
            "rekognition:StartCelebrityRecognition",
            "rekognition:GetCelebrityRecognition",
        },
        "ProcessResultsFunction": {"rekognition:GetCelebrityRecognition"},
        "EraseResultsFunction": set(),
    }


def test_buckets_are_private_encrypted_and_tls_only(resources: dict[str, Any]) -> None:
    bucket_policies = {
        r["Properties"]["Bucket"]["Ref"]: r["Properties"]["PolicyDocument"]
        for r in of_type(resources, "AWS::S3::BucketPolicy").values()
    }
    for logical, bucket in of_type(resources, "AWS::S3::Bucket").items():
        props = bucket["Properties"]
        assert set(props["PublicAccessBlockConfiguration"].values()) == {True}, logical
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"], logical
        denies = [s for s in bucket_policies[logical]["Statement"] if s["Effect"] == "Deny"]
        assert any(
            s["Condition"] == {"Bool": {"aws:SecureTransport": False}} and s["Principal"] == "*"
            for s in denies
        ), logical


def test_archive_pages_expire_after_the_retention_parameter(resources: dict[str, Any]) -> None:
    rules = resources["ArchiveBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert {"Ref": "ArchiveRetentionDays"} in [r.get("ExpirationInDays") for r in rules]


def test_results_retention_expires_items_and_pages_together(doc: dict[str, Any]) -> None:
    resources = doc["Resources"]
    parameter = doc["Parameters"]["ResultsRetentionDays"]
    assert int(parameter["Default"]) == 0 == config.Tuning().retention_days  # off unless set
    assert doc["Conditions"]["ResultsExpire"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ResultsRetentionDays"}, "0"]}]
    }
    # The items: the results function stamps expires_at from RESULTS_RETENTION_DAYS.
    process = resources["ProcessResultsFunction"]["Properties"]["Environment"]["Variables"]
    assert process["RESULTS_RETENTION_DAYS"] == {"Ref": "ResultsRetentionDays"}
    assert config.Tuning.from_env({"RESULTS_RETENTION_DAYS": "7"}).retention_days == 7
    # The pages: a second lifecycle rule on raw/, only when the parameter is set.
    rules = resources["ArchiveBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (conditional,) = [r["Fn::If"] for r in rules if "Fn::If" in r]
    condition, rule, otherwise = conditional
    assert condition == "ResultsExpire"
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert rule["Prefix"] == "raw/"
    assert rule["ExpirationInDays"] == {"Ref": "ResultsRetentionDays"}
    assert rule["Status"] == "Enabled"


@pytest.mark.parametrize("value", ["0", "1", "30", "3650"])
def test_results_retention_takes_whole_days(doc: dict[str, Any], value: str) -> None:
    parameter = doc["Parameters"]["ResultsRetentionDays"]
    assert parameter["Type"] == "String"
    assert re.fullmatch(parameter["AllowedPattern"], value)
    assert config.Tuning.from_env({"RESULTS_RETENTION_DAYS": value}).retention_days == int(value)


@pytest.mark.parametrize("value", ["1.5", "0.0", "-1", "01", " 7x", "1e3", "\N{SUPERSCRIPT TWO}"])
def test_results_retention_refuses_what_s3_lifecycle_cannot_take(
    doc: dict[str, Any], value: str
) -> None:
    # S3's ExpirationInDays takes a positive whole number; the function must agree with it.
    assert not re.fullmatch(doc["Parameters"]["ResultsRetentionDays"]["AllowedPattern"], value)
    if value != "01":  # a leading zero is still a whole number to the function
        with pytest.raises(config.ConfigError, match="RESULTS_RETENTION_DAYS"):
            config.Tuning.from_env({"RESULTS_RETENTION_DAYS": value})


# -- checks, outputs, local invoke ------------------------------------------------------------


def test_every_checkov_skip_has_a_written_reason(resources: dict[str, Any]) -> None:
    skips = [
        (logical, skip)
        for logical, res in resources.items()
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    for logical, skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (logical, skip)
        assert len(skip.get("comment", "").split()) >= 8, (logical, skip)


def test_outputs_name_everything_the_cli_and_operators_need(doc: dict[str, Any]) -> None:
    outputs = doc["Outputs"]
    refs = {json.dumps(o["Value"]) for o in outputs.values()}
    for logical in (
        "VideosBucket",
        "ArchiveBucket",
        "ResultsTable",
        "CompletionTopic",
        *FUNCTIONS,
        "StartFailuresQueue",
        "ProcessFailuresQueue",
        "EraseFailuresQueue",
        "CompletionDeliveryDLQ",
    ):
        assert json.dumps({"Ref": logical}) in refs, logical
    assert json.dumps({"Fn::GetAtt": ["RekognitionPublishRole", "Arn"]}) in refs


def test_env_vars_file_sets_only_variables_the_template_declares(doc: dict[str, Any]) -> None:
    # sam local invoke silently ignores variables a function does not declare.
    env_file = json.loads((ROOT / "events/env.json").read_text())
    model = cfn.load(TEMPLATE)
    for section, values in env_file.items():
        targets = FUNCTIONS if section == "Parameters" else (section,)
        for logical in targets:
            declared = set(model.function(logical).environment)
            assert set(values) <= declared, (section, logical, set(values) - declared)


def test_deployment_docs_and_samconfig_point_at_existing_files() -> None:
    docs = (ROOT / "docs/aws.md").read_text()
    named = set(re.findall(r"events/[\w.-]+\.json", docs))
    assert len(named) >= 10
    missing = sorted(name for name in named if not (ROOT / name).is_file())
    assert not missing
    samconfig = tomllib.loads((ROOT / "samconfig.toml").read_text())
    invoke = samconfig["default"]["local_invoke"]["parameters"]
    assert (ROOT / invoke["env_vars"]).is_file()
    deploy = samconfig["default"]["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_s3"] is True
    # Functions named in the docs' commands exist in the template.
    template_functions = set(FUNCTIONS)
    assert set(re.findall(r"sam local invoke (\w+)", docs)) <= template_functions


def test_the_start_function_may_query_only_the_backlog_and_publish_only_completions(
    resources: dict[str, Any],
) -> None:
    statements = [
        s for logical, s in policy_statements(resources) if logical == "StartRecognitionFunction"
    ]
    queries = [s for s in statements if "dynamodb:Query" in as_list(s["Action"])]
    resources_queried = sorted(json.dumps(s["Resource"]) for s in queries)
    assert resources_queried == sorted(
        [
            json.dumps({"Fn::GetAtt": ["ResultsTable", "Arn"]}),
            json.dumps({"Fn::Sub": "${ResultsTable.Arn}/index/ByBacklog"}),
        ]
    )
    (on_table,) = [s for s in queries if "Fn::GetAtt" in s["Resource"]]
    # The table's Query is limited to the slot items' partition.
    assert on_table["Condition"] == {
        "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [keys.BACKLOG_PK]}
    }
    (publish,) = [s for s in statements if "sns:Publish" in as_list(s["Action"])]
    assert publish["Resource"] == {"Ref": "CompletionTopic"}
    reads = {a for s in statements for a in as_list(s["Action"]) if a.startswith("s3:Get")}
    assert reads == {"s3:GetObject", "s3:GetObjectVersion"}
