"""Real botocore retries (no Stubber) inside one start-function invocation.

The start function from template.yaml runs as the offline stack runs it (its own process, its
Timeout enforced, its environment), with its real clients from cameo_core.clients: S3 and SNS
on a moto server, the table on DynamoDB Local, and Rekognition on a local HTTP endpoint that
answers every call with LimitExceededException or ThrottlingException. The test shows what
one invocation spends on it (attempts, seconds) and that it fits the function's Timeout.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from moto.server import ThreadedMotoServer

from cameo_stack import template as cfn
from cameo_stack.lambda_runtime import invoke_once
from cameo_stack.loadgen import tiny_mp4
from cameo_stack.paths import repo_root
from cameo_stack.provision import provision

pytest_plugins = ["tests.integration.fixtures_local"]
pytestmark = pytest.mark.integration

REGION = "us-east-1"
# botocore's wire shapes: LimitExceededException is a client error, ThrottlingException a fault.
ANSWERS = {"LimitExceededException": 400, "ThrottlingException": 500}


class RefusingRekognition(ThreadingHTTPServer):
    """Answers every Rekognition call with one error; records when each attempt came."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Refuse)
        self.error = "LimitExceededException"
        self.calls: list[tuple[str, float]] = []  # (operation, monotonic time)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Refuse(BaseHTTPRequestHandler):
    server: RefusingRekognition

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
        with self.server.lock:
            self.server.calls.append((operation, time.monotonic()))
            error = self.server.error
        body = json.dumps({"__type": error, "Message": f"refused ({error})"}).encode()
        self.send_response(ANSWERS[error])
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def world(dynamodb_endpoint: str) -> Iterator[dict[str, Any]]:
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    rekognition = RefusingRekognition()
    threading.Thread(target=rekognition.serve_forever, daemon=True).start()
    # Own stack name: the session's DynamoDB Local is shared with other integration tests.
    model = cfn.load(repo_root() / "template.yaml", stack_name=f"retries-{uuid.uuid4().hex[:8]}")
    env = {
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "cameolocal",
        "AWS_SECRET_ACCESS_KEY": "cameolocal",
        "AWS_ENDPOINT_URL_S3": moto_url,
        "AWS_ENDPOINT_URL_SNS": moto_url,
        "AWS_ENDPOINT_URL_SQS": moto_url,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
        "AWS_ENDPOINT_URL_REKOGNITION": rekognition.url,
    }

    def client(service: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=env[f"AWS_ENDPOINT_URL_{service.upper()}"],
            aws_access_key_id="cameolocal",
            aws_secret_access_key="cameolocal",
        )

    provision(
        model, s3=client("s3"), sqs=client("sqs"), sns=client("sns"), dynamodb=client("dynamodb")
    )
    try:
        yield {"model": model, "env": env, "client": client, "rekognition": rekognition}
    finally:
        rekognition.shutdown()
        moto.stop()


def _s3_event(bucket: str, key: str, put: dict[str, Any], size: int) -> dict[str, Any]:
    """events/s3_put_unicode_key.json, about this object."""
    event = json.loads((repo_root() / "events" / "s3_put_unicode_key.json").read_text())
    record = event["Records"][0]
    record["s3"]["bucket"].update({"name": bucket, "arn": f"arn:aws:s3:::{bucket}"})
    record["s3"]["object"].update(
        {
            "key": quote_plus(key, safe="/"),
            "size": size,
            "eTag": put["ETag"].strip('"'),
            "versionId": put["VersionId"],
            "sequencer": f"{time.time_ns():020X}",
        }
    )
    return event


@pytest.mark.parametrize("error", ["LimitExceededException", "ThrottlingException"])
def test_one_invocation_spends_few_attempts_and_seconds_and_fits_the_timeout(
    world: dict[str, Any], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from cameo_core.clients import START_RETRY_CONFIG

    model: cfn.StackModel = world["model"]
    fn = model.function("StartRecognitionFunction")
    rekognition: RefusingRekognition = world["rekognition"]
    bucket = model.video_bucket.name
    key = f"retries/{error}.mp4"
    body = tiny_mp4(30)
    put = world["client"]("s3").put_object(Bucket=bucket, Key=key, Body=body)
    with rekognition.lock:
        rekognition.error = error
        rekognition.calls.clear()

    # When the upload's event is handled while Rekognition refuses every Start
    result = invoke_once(fn, _s3_event(bucket, key, put, len(body)), world["env"])

    # Then the invocation ends normally (a full quota or a throttle is a waiting state)...
    assert result.ok, result.error
    starts = [t for op, t in rekognition.calls if op == "StartCelebrityRecognition"]
    seconds = result.duration_ms / 1000
    backoff = [round(b - a, 2) for a, b in pairwise(starts)]
    with capsys.disabled():
        print(
            f"\n  {error}: {len(starts)} Start attempts, backoff {backoff} s, "
            f"{seconds:.2f} s in one invocation (Timeout {fn.timeout} s)"
        )
    # ... after the client's few attempts (botocore retries both codes), well inside Timeout
    # (botocore's "max_attempts" counts retries after the first call; "total_max_attempts" all)
    retries = START_RETRY_CONFIG.retries
    expected = retries.get("total_max_attempts") or retries["max_attempts"] + 1
    assert len(starts) == expected
    assert seconds < fn.timeout / 4
    # And the worst case of those attempts (each one timing out) fits the Timeout too:
    # botocore's standard backoff before retry i is at most min(2**i, 20) s
    per_attempt = START_RETRY_CONFIG.connect_timeout + START_RETRY_CONFIG.read_timeout
    backoff_cap = sum(min(2**i, 20) for i in range(len(starts) - 1))
    worst = len(starts) * per_attempt + backoff_cap
    assert worst < fn.timeout, f"worst case {worst} s does not fit {fn.timeout} s"

    # And the upload is recorded, waiting, with the reason
    item = world["client"]("dynamodb").get_item(
        TableName=model.table.name,
        Key={"pk": {"S": f"VIDEO#s3://{bucket}/{key}"}, "sk": {"S": "VIDEO"}},
        ConsistentRead=True,
    )["Item"]
    assert item["status"]["S"] == "QUEUED"
    assert error.removesuffix("Exception") in json.dumps(item)
