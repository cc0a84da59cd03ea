"""Read template.yaml into what the offline stack needs: buckets, topics, queues, tables, functions.

The template is the single source of truth: physical names, key schemas, GSIs, TTL, handlers,
code locations, timeouts, environment variables and event wiring (S3, SNS, SQS, schedules)
all come from it, with
CloudFormation intrinsics (``!Ref``, ``!Sub``, ``!GetAtt``, ``!Join``, ``!If``, ...) resolved
against local names and parameter defaults. Nothing here talks to a service.

Local physical names follow CloudFormation's rule for unnamed resources minus the random suffix:
``{stack}-{LogicalId}`` (lower-cased for buckets). Explicit names in the template win.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account: ARNs must agree with what moto generates
DEFAULT_STACK_NAME = "cameo-local"


class TemplateError(ValueError):
    pass


# -- YAML with CloudFormation short tags ------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    pass


def _construct_tag(loader: yaml.Loader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        logical, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [logical, attribute]}
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_yaml(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        document = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 (SafeLoader subclass)
    if not isinstance(document, dict) or "Resources" not in document:
        raise TemplateError(f"{path} is not a CloudFormation/SAM template")
    return document


# -- the model ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Trigger:
    """The bucket notifies the function (directly, as SAM's Events: Type: S3 configures)."""

    bucket: str  # logical id
    events: tuple[str, ...]  # e.g. ("s3:ObjectCreated:*",)
    filter_rules: tuple[tuple[str, str], ...] = ()  # (("prefix", "videos/"), ("suffix", ".mp4"))


@dataclass(frozen=True)
class SnsTrigger:
    topic: str  # logical id
    filter_policy: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class SqsTrigger:
    """An event source mapping: the function polls this queue."""

    queue: str  # logical id
    batch_size: int = 10
    report_batch_item_failures: bool = False


@dataclass(frozen=True)
class ScheduleTrigger:
    """A schedule invokes the function (SAM Schedule/ScheduleV2, Events::Rule, Scheduler).

    ``input`` is the target's Input (a JSON text) when the template gives one; without it an
    EventBridge rule sends its "Scheduled Event" (cameo_stack.events.scheduled_event).
    Offline the period is the stack's, not ``expression``'s: a sweep every few seconds.
    """

    name: str  # the rule's / schedule's physical name
    expression: str  # rate(5 minutes) | cron(...)
    input: str | None = None
    enabled: bool = True
    scheduler: bool = False  # EventBridge Scheduler (ScheduleV2) rather than a rule

    @property
    def arn(self) -> str:
        if self.scheduler:
            return f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{self.name}"
        return f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{self.name}"


@dataclass(frozen=True)
class Function:
    logical_id: str
    name: str
    handler: str  # "app.lambda_handler"
    code_uri: Path
    layer_dirs: tuple[Path, ...]
    timeout: int
    memory: int
    environment: Mapping[str, str]
    reserved_concurrency: int | None
    max_retry_attempts: int  # async invocations: Lambda's default is 2
    max_event_age: int  # seconds; Lambda's default is 6 hours
    on_failure_queue: str | None  # logical id of an SQS queue (DLQ or OnFailure destination)
    on_failure_is_destination: bool  # destination records wrap the event; a DLQ gets it bare
    s3: tuple[S3Trigger, ...] = ()
    sns: tuple[SnsTrigger, ...] = ()
    sqs: tuple[SqsTrigger, ...] = ()
    schedules: tuple[ScheduleTrigger, ...] = ()

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.name}"

    @property
    def module_file(self) -> Path:
        module, _, _ = self.handler.rpartition(".")
        return self.code_uri / (module.replace(".", "/") + ".py")

    @property
    def handler_name(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass(frozen=True)
class Table:
    logical_id: str
    name: str
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]
    global_secondary_indexes: list[dict[str, Any]]
    local_secondary_indexes: list[dict[str, Any]]
    ttl_attribute: str | None


@dataclass(frozen=True)
class Bucket:
    logical_id: str
    name: str
    versioned: bool


@dataclass(frozen=True)
class Queue:
    logical_id: str
    name: str
    fifo: bool
    visibility_timeout: int | None
    redrive_target: str | None  # logical id
    max_receive_count: int | None


@dataclass(frozen=True)
class Topic:
    logical_id: str
    name: str

    @property
    def arn(self) -> str:
        return f"arn:aws:sns:{REGION}:{ACCOUNT}:{self.name}"


@dataclass
class StackModel:
    stack_name: str
    template_path: Path
    parameters: dict[str, str]
    buckets: dict[str, Bucket] = field(default_factory=dict)
    topics: dict[str, Topic] = field(default_factory=dict)
    queues: dict[str, Queue] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)
    functions: dict[str, Function] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)  # logical id -> ARN
    outputs: dict[str, Any] = field(default_factory=dict)

    def function(self, name_or_id: str) -> Function:
        """By logical id, physical name, or the code dir name (start_recognition)."""
        for fn in self.functions.values():
            if name_or_id in (fn.logical_id, fn.name, fn.code_uri.name):
                return fn
        known = ", ".join(sorted(self.functions))
        raise TemplateError(f"no function {name_or_id!r} in the template (known: {known})")

    @property
    def video_bucket(self) -> Bucket:
        """The bucket that triggers the functions (where users drop videos)."""
        for fn in self.functions.values():
            for trigger in fn.s3:
                return self.buckets[trigger.bucket]
        raise TemplateError("no function is triggered by an S3 bucket")

    @property
    def table(self) -> Table:
        if len(self.tables) != 1:
            raise TemplateError(f"expected one DynamoDB table, found {sorted(self.tables)}")
        return next(iter(self.tables.values()))


# -- intrinsic functions -------------------------------------------------------------------------


class _Resolver:
    def __init__(self, doc: dict[str, Any], stack_name: str, parameters: dict[str, str]) -> None:
        self.doc = doc
        self.stack_name = stack_name
        self.parameters = parameters
        self.resources: dict[str, Any] = doc.get("Resources", {})
        self.conditions: dict[str, bool] = {}
        for name in doc.get("Conditions", {}) or {}:
            self.condition(name)

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = bool(self._cond(self.doc["Conditions"][name]))
        return self.conditions[name]

    def _cond(self, expr: Any) -> bool:
        if isinstance(expr, dict) and len(expr) == 1:
            ((key, value),) = expr.items()
            if key == "Fn::Equals":
                left, right = (self.resolve(v) for v in value)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self._cond(value[0])
            if key == "Fn::And":
                return all(self._cond(v) for v in value)
            if key == "Fn::Or":
                return any(self._cond(v) for v in value)
            if key == "Condition":
                return self.condition(value)
        return bool(self.resolve(expr))

    def pseudo(self, name: str) -> Any:
        return {
            "AWS::StackName": self.stack_name,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": (
                f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{self.stack_name}/local"
            ),
            "AWS::NoValue": None,
        }[name]

    def physical_name(self, logical: str) -> str:
        resource = self.resources[logical]
        kind = resource.get("Type", "")
        props = resource.get("Properties", {}) or {}
        explicit = {
            "AWS::S3::Bucket": "BucketName",
            "AWS::SNS::Topic": "TopicName",
            "AWS::SQS::Queue": "QueueName",
            "AWS::DynamoDB::Table": "TableName",
            "AWS::Serverless::SimpleTable": "TableName",
            "AWS::Serverless::Function": "FunctionName",
            "AWS::Lambda::Function": "FunctionName",
            "AWS::IAM::Role": "RoleName",
        }.get(kind)
        if explicit and props.get(explicit) is not None:
            return str(self.resolve(props[explicit]))
        name = f"{self.stack_name}-{logical}"
        if kind == "AWS::S3::Bucket":
            return name.lower()[:63]
        if kind == "AWS::SQS::Queue" and props.get("FifoQueue"):
            return name[:75] + ".fifo"
        return name[:64] if kind.endswith("Function") else name

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        if name not in self.resources:
            raise TemplateError(f"!Ref {name}: no such parameter or resource")
        kind = self.resources[name].get("Type", "")
        physical = self.physical_name(name)
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{REGION}:{ACCOUNT}:{physical}"
        if kind == "AWS::SQS::Queue":
            return f"http://sqs.{REGION}.localhost/{ACCOUNT}/{physical}"  # replaced at run time
        return physical

    def get_att(self, logical: str, attribute: str) -> Any:
        if logical not in self.resources:
            raise TemplateError(f"!GetAtt {logical}.{attribute}: no such resource")
        kind = self.resources[logical].get("Type", "")
        physical = self.physical_name(logical)
        arns = {
            "AWS::S3::Bucket": f"arn:aws:s3:::{physical}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{physical}",
            "AWS::SNS::Topic": f"arn:aws:sns:{REGION}:{ACCOUNT}:{physical}",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{physical}",
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{physical}",
            "AWS::Serverless::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{physical}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{physical}",
        }
        if attribute == "Arn":
            return arns.get(kind, f"arn:aws:local:{REGION}:{ACCOUNT}:{physical}")
        if attribute in ("QueueName", "TopicName"):
            return physical
        if attribute == "QueueUrl":
            return self.ref(logical)
        if attribute in ("DomainName", "RegionalDomainName"):
            return f"{physical}.s3.amazonaws.com"
        return f"{physical}.{attribute}"

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value if not _is_no_value(v)]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.get_att(str(parts[0]), str(self.resolve(parts[1])))
            if key == "Fn::Sub":
                return self.sub(arg)
            if key == "Fn::Join":
                sep, items = arg
                return str(sep).join(str(self.resolve(i)) for i in self.resolve(items))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(name) else no)
            if key == "Fn::FindInMap":
                mapping, top, second = (self.resolve(a) for a in arg)
                return self.doc["Mappings"][mapping][top][second]
            if key == "Fn::Base64":
                return self.resolve(arg)
            if key == "Fn::ImportValue":
                raise TemplateError("Fn::ImportValue cannot be resolved offline")
        return {k: self.resolve(v) for k, v in value.items() if not _is_no_value(v)}

    def sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in arg[1].items()}
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical, _, attribute = name.partition(".")
                return str(self.get_att(logical, attribute))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, str(text))


def _is_no_value(value: Any) -> bool:
    return isinstance(value, dict) and value == {"Ref": "AWS::NoValue"}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _logical_from(value: Any, resolver: _Resolver) -> str:
    """The logical id behind !Ref X / !GetAtt X.Arn / an ARN or name string."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            arg = value["Fn::GetAtt"]
            return str(arg[0] if isinstance(arg, list) else str(arg).split(".")[0])
    resolved = str(resolver.resolve(value))
    for logical in resolver.resources:
        physical = resolver.physical_name(logical)
        if resolved in (physical, resolver.get_att(logical, "Arn")):
            return logical
    raise TemplateError(f"cannot tell which resource {value!r} refers to")


# -- parsing -------------------------------------------------------------------------------------


def load(
    path: Path,
    *,
    stack_name: str = DEFAULT_STACK_NAME,
    parameter_overrides: Mapping[str, str] | None = None,
) -> StackModel:
    doc = load_yaml(path)
    parameters: dict[str, str] = {}
    for name, spec in (doc.get("Parameters") or {}).items():
        if parameter_overrides and name in parameter_overrides:
            parameters[name] = str(parameter_overrides[name])
        elif "Default" in (spec or {}):
            parameters[name] = str(spec["Default"])
        else:
            raise TemplateError(f"parameter {name} has no Default; pass an override")
    resolver = _Resolver(doc, stack_name, parameters)
    model = StackModel(stack_name, path, parameters)
    base = path.parent
    globals_fn = (doc.get("Globals") or {}).get("Function") or {}

    for logical, resource in resolver.resources.items():
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        kind = resource.get("Type", "")
        props = resource.get("Properties") or {}
        if kind == "AWS::S3::Bucket":
            versioning = resolver.resolve(props.get("VersioningConfiguration") or {})
            model.buckets[logical] = Bucket(
                logical, resolver.physical_name(logical), versioning.get("Status") == "Enabled"
            )
        elif kind == "AWS::SNS::Topic":
            model.topics[logical] = Topic(logical, resolver.physical_name(logical))
        elif kind == "AWS::SQS::Queue":
            redrive = resolver.resolve(props.get("RedrivePolicy") or {})
            target = props.get("RedrivePolicy", {}).get("deadLetterTargetArn") if redrive else None
            model.queues[logical] = Queue(
                logical,
                resolver.physical_name(logical),
                bool(props.get("FifoQueue")),
                int(resolver.resolve(props["VisibilityTimeout"]))
                if "VisibilityTimeout" in props
                else None,
                _logical_from(target, resolver) if target is not None else None,
                int(redrive["maxReceiveCount"]) if redrive.get("maxReceiveCount") else None,
            )
        elif kind in ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"):
            model.tables[logical] = _table(logical, props, resolver)
        elif kind == "AWS::IAM::Role":
            model.roles[logical] = resolver.get_att(logical, "Arn")

    layers = {
        logical: base / str(resolver.resolve((res.get("Properties") or {}).get("ContentUri", ".")))
        for logical, res in resolver.resources.items()
        if res.get("Type") in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
    }
    for logical, resource in resolver.resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        model.functions[logical] = _function(
            logical, resource.get("Properties") or {}, globals_fn, resolver, base, layers
        )
    _bucket_notifications(model, resolver)
    _topic_subscriptions(model, resolver)
    _schedule_targets(model, resolver)
    model.outputs = {
        name: resolver.resolve(out.get("Value"))
        for name, out in (doc.get("Outputs") or {}).items()
        if "Condition" not in out or resolver.condition(out["Condition"])
    }
    return model


def _table(logical: str, props: dict[str, Any], resolver: _Resolver) -> Table:
    props = resolver.resolve(props)
    ttl = props.get("TimeToLiveSpecification") or {}
    if "KeySchema" not in props:  # AWS::Serverless::SimpleTable
        primary = props.get("PrimaryKey") or {"Name": "id", "Type": "String"}
        kind = {"String": "S", "Number": "N", "Binary": "B"}[primary["Type"]]
        props = {
            "KeySchema": [{"AttributeName": primary["Name"], "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": primary["Name"], "AttributeType": kind}],
        }
    return Table(
        logical_id=logical,
        name=resolver.physical_name(logical),
        key_schema=props["KeySchema"],
        attribute_definitions=props["AttributeDefinitions"],
        global_secondary_indexes=props.get("GlobalSecondaryIndexes") or [],
        local_secondary_indexes=props.get("LocalSecondaryIndexes") or [],
        ttl_attribute=ttl.get("AttributeName") if ttl.get("Enabled") in (True, "true") else None,
    )


def _merged(global_value: Any, local_value: Any) -> Any:
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = _merged(global_value.get(key), value)
        return merged
    return local_value if local_value is not None else global_value


def _function(
    logical: str,
    props: dict[str, Any],
    globals_fn: dict[str, Any],
    resolver: _Resolver,
    base: Path,
    layers: dict[str, Path],
) -> Function:
    def prop(name: str, default: Any = None) -> Any:
        value = _merged(globals_fn.get(name), props.get(name))
        return resolver.resolve(value) if value is not None else default

    env = (prop("Environment") or {}).get("Variables") or {}
    layer_dirs = tuple(
        layers[_logical_from(layer, resolver)]
        for layer in _as_list(props.get("Layers") or globals_fn.get("Layers"))
        if isinstance(layer, dict)
    )
    async_config = prop("EventInvokeConfig") or {}
    on_failure_raw = ((props.get("EventInvokeConfig") or {}).get("DestinationConfig") or {}).get(
        "OnFailure"
    ) or {}
    dlq_raw = props.get("DeadLetterQueue") or globals_fn.get("DeadLetterQueue") or {}
    on_failure: str | None = None
    is_destination = False
    if on_failure_raw.get("Type") == "SQS" and on_failure_raw.get("Destination") is not None:
        on_failure, is_destination = _logical_from(on_failure_raw["Destination"], resolver), True
    elif dlq_raw.get("Type") == "SQS":
        on_failure = _logical_from(dlq_raw["TargetArn"], resolver)

    s3: list[S3Trigger] = []
    sns: list[SnsTrigger] = []
    sqs: list[SqsTrigger] = []
    schedules: list[ScheduleTrigger] = []
    for event_name, event in (props.get("Events") or {}).items():
        kind = event.get("Type")
        eprops = event.get("Properties") or {}
        if kind == "S3":
            rules = ((resolver.resolve(eprops.get("Filter")) or {}).get("S3Key") or {}).get("Rules")
            s3.append(
                S3Trigger(
                    _logical_from(eprops["Bucket"], resolver),
                    tuple(str(e) for e in _as_list(resolver.resolve(eprops["Events"]))),
                    tuple((r["Name"].lower(), r["Value"]) for r in rules or []),
                )
            )
        elif kind == "SNS":
            sns.append(
                SnsTrigger(
                    _logical_from(eprops["Topic"], resolver),
                    resolver.resolve(eprops.get("FilterPolicy")),
                )
            )
        elif kind == "SQS":
            sqs.append(
                SqsTrigger(
                    _logical_from(eprops["Queue"], resolver),
                    int(resolver.resolve(eprops.get("BatchSize", 10))),
                    "ReportBatchItemFailures"
                    in _as_list(resolver.resolve(eprops.get("FunctionResponseTypes"))),
                )
            )
        elif kind in ("Schedule", "ScheduleV2"):
            v2 = kind == "ScheduleV2"
            eprops = resolver.resolve(eprops)
            # SAM names the generated rule/schedule after the function and the event.
            default_name = f"{resolver.stack_name}-{logical}{event_name}"
            state = eprops.get("State")
            enabled = eprops.get("Enabled", True) if state is None else state == "ENABLED"
            schedules.append(
                ScheduleTrigger(
                    name=str(eprops.get("Name") or default_name),
                    expression=str(eprops["ScheduleExpression" if v2 else "Schedule"]),
                    input=eprops.get("Input"),
                    enabled=enabled not in (False, "false", "False"),
                    scheduler=v2,
                )
            )

    reserved = prop("ReservedConcurrentExecutions")
    return Function(
        logical_id=logical,
        name=resolver.physical_name(logical),
        handler=str(prop("Handler")),
        code_uri=(base / str(prop("CodeUri", "."))).resolve(),
        layer_dirs=tuple(d.resolve() for d in layer_dirs),
        timeout=int(prop("Timeout", 3)),
        memory=int(prop("MemorySize", 128)),
        environment={k: "" if v is None else str(v) for k, v in env.items()},
        reserved_concurrency=int(reserved) if reserved is not None else None,
        max_retry_attempts=int(async_config.get("MaximumRetryAttempts", 2)),
        max_event_age=int(async_config.get("MaximumEventAgeInSeconds", 21600)),
        on_failure_queue=on_failure,
        on_failure_is_destination=is_destination,
        s3=tuple(s3),
        sns=tuple(sns),
        sqs=tuple(sqs),
        schedules=tuple(schedules),
    )


def _replace_function(model: StackModel, logical: str, **changes: Any) -> None:
    from dataclasses import replace

    model.functions[logical] = replace(model.functions[logical], **changes)


def _bucket_notifications(model: StackModel, resolver: _Resolver) -> None:
    """Plain CloudFormation wiring: Bucket.NotificationConfiguration.LambdaConfigurations."""
    for logical, resource in resolver.resources.items():
        if resource.get("Type") != "AWS::S3::Bucket":
            continue
        config = (resource.get("Properties") or {}).get("NotificationConfiguration") or {}
        for entry in config.get("LambdaConfigurations") or []:
            fn_logical = _logical_from(entry["Function"], resolver)
            if fn_logical not in model.functions:
                continue
            rules = ((resolver.resolve(entry.get("Filter")) or {}).get("S3Key") or {}).get("Rules")
            trigger = S3Trigger(
                logical,
                (str(resolver.resolve(entry["Event"])),),
                tuple((r["Name"].lower(), r["Value"]) for r in rules or []),
            )
            fn = model.functions[fn_logical]
            _replace_function(model, fn_logical, s3=(*fn.s3, trigger))


def _topic_subscriptions(model: StackModel, resolver: _Resolver) -> None:
    """Plain CloudFormation wiring: AWS::SNS::Subscription / Topic.Subscription with lambda."""
    pairs: list[tuple[str, Any, Any]] = []
    for logical, resource in resolver.resources.items():
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::SNS::Subscription" and props.get("Protocol") == "lambda":
            pairs.append(
                (
                    _logical_from(props["TopicArn"], resolver),
                    props["Endpoint"],
                    props.get("FilterPolicy"),
                )
            )
        if resource.get("Type") == "AWS::SNS::Topic":
            for sub in props.get("Subscription") or []:
                if sub.get("Protocol") == "lambda":
                    pairs.append((logical, sub["Endpoint"], None))
    for topic, endpoint, policy in pairs:
        fn_logical = _logical_from(endpoint, resolver)
        if fn_logical in model.functions:
            fn = model.functions[fn_logical]
            trigger = SnsTrigger(topic, resolver.resolve(policy) if policy else None)
            _replace_function(model, fn_logical, sns=(*fn.sns, trigger))


def _schedule_targets(model: StackModel, resolver: _Resolver) -> None:
    """Plain CloudFormation wiring: AWS::Events::Rule targets and AWS::Scheduler::Schedule."""
    for logical, resource in resolver.resources.items():
        kind = resource.get("Type")
        props = resource.get("Properties") or {}
        if kind == "AWS::Events::Rule" and props.get("ScheduleExpression"):
            targets = [(t.get("Arn"), t.get("Input")) for t in props.get("Targets") or []]
            enabled = resolver.resolve(props.get("State", "ENABLED")) == "ENABLED"
            scheduler = False
        elif kind == "AWS::Scheduler::Schedule":
            target = props.get("Target") or {}
            targets = [(target.get("Arn"), target.get("Input"))]
            enabled = resolver.resolve(props.get("State", "ENABLED")) == "ENABLED"
            scheduler = True
        else:
            continue
        name = str(resolver.resolve(props.get("Name") or f"{resolver.stack_name}-{logical}"))
        for arn, payload in targets:
            if arn is None:
                continue
            try:
                fn_logical = _logical_from(arn, resolver)
            except TemplateError:
                continue  # a target that is not one of our functions
            if fn_logical not in model.functions:
                continue
            trigger = ScheduleTrigger(
                name=name,
                expression=str(resolver.resolve(props["ScheduleExpression"])),
                input=resolver.resolve(payload) if payload is not None else None,
                enabled=enabled,
                scheduler=scheduler,
            )
            fn = model.functions[fn_logical]
            _replace_function(model, fn_logical, schedules=(*fn.schedules, trigger))
