"""Create the template's resources in moto and DynamoDB Local, plus the router's wiring.

Everything is idempotent (a restart re-runs it against surviving state). The wiring that
Lambda's service integrations do in AWS is done here with queues the router polls:

* bucket notification -> function  ==>  bucket QueueConfiguration -> ``{stack}-router-{Fn}-s3``
* topic subscription  -> function  ==>  SQS subscription (SNS envelope) -> ``...-router-{Fn}-sns``
* async Invoke API / DLQ redrive   ==>  ``{stack}-router-{Fn}-invoke`` (body = the Lambda event)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cameo_stack.template import Function, StackModel


@dataclass(frozen=True)
class RouterQueue:
    function: str  # logical id
    source: str  # "s3" | "sns" | "invoke"
    name: str


def router_queues(model: StackModel) -> list[RouterQueue]:
    queues: list[RouterQueue] = []
    for fn in model.functions.values():
        sources = ["invoke"]
        if fn.s3:
            sources.append("s3")
        if fn.sns:
            sources.append("sns")
        queues += [
            RouterQueue(
                fn.logical_id, source, f"{model.stack_name}-router-{fn.logical_id}-{source}"
            )
            for source in sources
        ]
    return queues


def router_queue(model: StackModel, fn: Function, source: str) -> str:
    return f"{model.stack_name}-router-{fn.logical_id}-{source}"


def fallback_dlq_name(model: StackModel) -> str:
    """Where failures go for a function whose template has no DLQ / OnFailure destination."""
    return f"{model.stack_name}-router-dlq"


def _queue_arn(sqs: Any, url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attrs["Attributes"]["QueueArn"])


def provision(model: StackModel, *, s3: Any, sqs: Any, sns: Any, dynamodb: Any) -> dict[str, Any]:
    """Create everything; return the physical names/URLs the CLI and the router need."""
    queue_urls: dict[str, str] = {}
    for queue in model.queues.values():
        attributes = {"FifoQueue": "true"} if queue.fifo else {}
        if queue.visibility_timeout is not None:
            attributes["VisibilityTimeout"] = str(queue.visibility_timeout)
        queue_urls[queue.logical_id] = sqs.create_queue(
            QueueName=queue.name, Attributes=attributes
        )["QueueUrl"]
    for queue in model.queues.values():
        if queue.redrive_target and queue.max_receive_count:
            import json

            target = _queue_arn(sqs, queue_urls[queue.redrive_target])
            sqs.set_queue_attributes(
                QueueUrl=queue_urls[queue.logical_id],
                Attributes={
                    "RedrivePolicy": json.dumps(
                        {
                            "deadLetterTargetArn": target,
                            "maxReceiveCount": str(queue.max_receive_count),
                        }
                    ),
                },
            )
    fallback = sqs.create_queue(QueueName=fallback_dlq_name(model))["QueueUrl"]

    router: dict[str, str] = {}
    for rq in router_queues(model):
        router[rq.name] = sqs.create_queue(QueueName=rq.name)["QueueUrl"]

    for bucket in model.buckets.values():
        s3.create_bucket(Bucket=bucket.name)
        if bucket.versioned:
            s3.put_bucket_versioning(
                Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"}
            )

    topic_arns = {
        topic.logical_id: sns.create_topic(Name=topic.name)["TopicArn"]
        for topic in model.topics.values()
    }

    notifications: dict[str, list[dict[str, Any]]] = {}
    for fn in model.functions.values():
        for trigger in fn.s3:
            url = router[router_queue(model, fn, "s3")]
            config: dict[str, Any] = {
                "QueueArn": _queue_arn(sqs, url),
                "Events": list(trigger.events),
            }
            if trigger.filter_rules:
                config["Filter"] = {
                    "Key": {
                        "FilterRules": [
                            {"Name": name, "Value": value} for name, value in trigger.filter_rules
                        ]
                    }
                }
            notifications.setdefault(model.buckets[trigger.bucket].name, []).append(config)
        for sub in fn.sns:
            url = router[router_queue(model, fn, "sns")]
            attributes = {}
            if sub.filter_policy:
                import json

                attributes["FilterPolicy"] = json.dumps(sub.filter_policy)
            arn = _queue_arn(sqs, url)
            existing = sns.list_subscriptions_by_topic(TopicArn=topic_arns[sub.topic])
            if not any(s["Endpoint"] == arn for s in existing.get("Subscriptions", [])):
                sns.subscribe(
                    TopicArn=topic_arns[sub.topic],
                    Protocol="sqs",
                    Endpoint=arn,
                    Attributes=attributes,
                )
    for bucket_name, configs in notifications.items():
        s3.put_bucket_notification_configuration(
            Bucket=bucket_name, NotificationConfiguration={"QueueConfigurations": configs}
        )

    existing_tables = set(dynamodb.list_tables().get("TableNames", []))
    for table in model.tables.values():
        if table.name in existing_tables:
            continue
        request: dict[str, Any] = {
            "TableName": table.name,
            "KeySchema": table.key_schema,
            "AttributeDefinitions": table.attribute_definitions,
            "BillingMode": "PAY_PER_REQUEST",
        }
        if table.global_secondary_indexes:
            request["GlobalSecondaryIndexes"] = [
                {k: v for k, v in gsi.items() if k != "ProvisionedThroughput"}
                for gsi in table.global_secondary_indexes
            ]
        if table.local_secondary_indexes:
            request["LocalSecondaryIndexes"] = table.local_secondary_indexes
        dynamodb.create_table(**request)
        dynamodb.get_waiter("table_exists").wait(
            TableName=table.name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
        )
        if table.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=table.name,
                TimeToLiveSpecification={
                    "Enabled": True,
                    "AttributeName": table.ttl_attribute,
                },
            )

    return {
        "queues": queue_urls,
        "router_queues": router,
        "fallback_dlq": fallback,
        "topics": topic_arns,
        "buckets": {b.logical_id: b.name for b in model.buckets.values()},
        "tables": {t.logical_id: t.name for t in model.tables.values()},
    }
