"""The running stack as recorded in .stack/stack.json: endpoints, names, services."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cameo_stack.paths import StatePaths
from cameo_stack.template import REGION, StackModel

# DynamoDB Local (2.0+) accepts only letters and digits in the access key id.
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "cameolocal",
    "AWS_SECRET_ACCESS_KEY": "cameolocal",
}
CREDENTIAL_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")
SERVICES_ENV = {
    "s3": "AWS_ENDPOINT_URL_S3",
    "sns": "AWS_ENDPOINT_URL_SNS",
    "sqs": "AWS_ENDPOINT_URL_SQS",
    "dynamodb": "AWS_ENDPOINT_URL_DYNAMODB",
    "rekognition": "AWS_ENDPOINT_URL_REKOGNITION",
}


class StackNotRunning(RuntimeError):
    pass


@dataclass
class StackState:
    paths: StatePaths
    stack_name: str
    template: str
    region: str
    endpoints: dict[str, str]  # service -> URL
    external_rekognition: bool
    services: dict[str, dict[str, Any]]  # name -> {"url", "health", "log"}
    buckets: dict[str, str] = field(default_factory=dict)  # logical id -> name
    tables: dict[str, str] = field(default_factory=dict)
    topics: dict[str, str] = field(default_factory=dict)  # logical id -> ARN
    queues: dict[str, str] = field(default_factory=dict)  # logical id -> URL
    router_queues: dict[str, str] = field(default_factory=dict)  # name -> URL
    fallback_dlq: str = ""
    video_bucket: str = ""
    table: str = ""
    parameters: dict[str, str] = field(default_factory=dict)  # template parameter overrides
    gallery: str | None = None
    # Offline, every schedule in the template fires every this many seconds (0: never),
    # whatever its rate(): a sweep every few seconds instead of every few minutes.
    schedule_seconds: float = 5.0
    # Not None: every function's MaximumRetryAttempts (0 turns Lambda's async retries off,
    # so a test cannot pass by retry luck). None: the template's.
    lambda_retries: int | None = None

    # -- persistence ----------------------------------------------------------------------------

    def save(self) -> None:
        data = asdict(self)
        data.pop("paths")
        self.paths.state_file.write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, paths: StatePaths | None = None) -> StackState:
        paths = paths or StatePaths.default()
        try:
            data = json.loads(paths.state_file.read_text())
        except FileNotFoundError as exc:
            raise StackNotRunning(
                f"no stack state at {paths.state_file}; start it with `cameo stack up`"
            ) from exc
        return cls(paths=paths, **data)

    def model(self) -> StackModel:
        from dataclasses import replace

        from cameo_stack import template

        model = template.load(
            Path(self.template), stack_name=self.stack_name, parameter_overrides=self.parameters
        )
        if self.lambda_retries is not None:
            model.functions = {
                logical: replace(fn, max_retry_attempts=self.lambda_retries)
                for logical, fn in model.functions.items()
            }
        return model

    # -- environments ---------------------------------------------------------------------------

    def aws_env(self) -> dict[str, str]:
        """What any boto3 client, the AWS CLI or `cameo` needs to talk to this stack."""
        env = {
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            **{SERVICES_ENV[s]: url for s, url in self.endpoints.items() if s in SERVICES_ENV},
        }
        # With an external Rekognition endpoint (possibly real AWS) the caller's own credentials
        # go through, when there are any; moto and DynamoDB Local accept whatever they get.
        caller = {k: v for k, v in os.environ.items() if k in CREDENTIAL_VARS}
        if self.external_rekognition and caller.keys() & {"AWS_ACCESS_KEY_ID", "AWS_PROFILE"}:
            env.update(caller)
        else:
            env.update(DUMMY_CREDENTIALS)
        return env

    def function_env(self) -> dict[str, str]:
        return self.aws_env()

    def shell_env(self) -> dict[str, str]:
        env = self.aws_env()
        env.update(
            {
                "CAMEO_TABLE": self.table,
                "TABLE_NAME": self.table,
                "CAMEO_BUCKET": self.video_bucket,
                "CAMEO_STACK_DIR": str(self.paths.root),
            }
        )
        if "api" in self.services:  # the HTTP API and the page (cameo_stack.http_api)
            env["CAMEO_API_URL"] = str(self.services["api"]["url"])
        return env

    def queue_url(self, name: str) -> str:
        endpoint = self.endpoints["sqs"]
        return f"{endpoint}/123456789012/{name}"


def boto_client(service: str, state: StackState) -> Any:
    import boto3
    from botocore.config import Config

    env = state.aws_env()
    return boto3.session.Session(
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
        region_name=state.region,
    ).client(  # type: ignore[call-overload]
        service,
        endpoint_url=state.endpoints.get(service),
        config=Config(
            retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=30
        ),
    )


__all__ = ["REGION", "StackNotRunning", "StackState", "boto_client"]
