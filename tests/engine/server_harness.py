"""Fixtures for the engine's server and job tests: moto S3/SNS/SQS, a scripted fake core.

The fake core keeps these tests fast and independent of dlib: a "video" is a small JSON
script stored in S3 that tells the fake analyzer what to report (detections, a decode
failure, a crash, or blocking until released). The real core is exercised by
test_server_real_video.py. Test modules import the fixtures they use from here.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from cameo_engine.api import Engine, EngineConfig, start_engine
from cameo_engine.store import IN_PROGRESS

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/cameo-rekognition"
MAGIC = b"FAKEVIDEO"

PEOPLE = {
    "1a2b3c": ("Ada Lovelace", ["www.example.org/ada"], "Female"),
    "4d5e6f": ("Alan Turing", ["www.example.org/alan"], "Male"),
    "7a8b9c": ("Grace Hopper", [], None),
}


# -- fake recognition core --------------------------------------------------------------


class FakeDecodeError(Exception):
    """Stands in for cameo_engine.recognition.VideoDecodeError."""


@dataclass
class FakePerson:
    id: str
    name: str
    urls: list[str]
    known_gender: str | None


class FakeGallery:
    def __init__(self) -> None:
        self._people = {pid: FakePerson(pid, *rest) for pid, rest in PEOPLE.items()}

    @property
    def people(self) -> list[FakePerson]:
        return list(self._people.values())

    def get(self, person_id: str) -> FakePerson | None:
        return self._people.get(person_id)


@dataclass
class FakeAnalysis:
    metadata: dict[str, Any]
    detections: list[dict[str, Any]]


METADATA = {
    "Codec": "h264",
    "DurationMillis": 4000,
    "Format": "QuickTime / MOV",
    "FrameRate": 25.0,
    "FrameHeight": 360,
    "FrameWidth": 640,
    "ColorRange": "LIMITED",
}


def detection(ts: int, person_id: str) -> dict[str, Any]:
    name, urls, gender = PEOPLE[person_id]
    celebrity: dict[str, Any] = {
        "Id": person_id,
        "Name": name,
        "Urls": urls,
        "Confidence": 99.0,
        "Face": {
            "BoundingBox": {"Width": 0.2, "Height": 0.3, "Left": 0.4, "Top": 0.1},
            "Confidence": 99.9,
        },
    }
    if gender:
        celebrity["KnownGender"] = {"Type": gender}
    return {"Timestamp": ts, "Celebrity": celebrity}


def scripted_detections(count: int) -> list[dict[str, Any]]:
    """`count` detections every 200 ms, cycling through three people (sorted by time)."""
    ids = list(PEOPLE)
    return [detection(i * 200, ids[(i * 7) % 3]) for i in range(count)]


def video_script(**script: Any) -> bytes:
    """Bytes of a fake video. Keys: detections (int), fail (str), crash (str), block (bool)."""
    return MAGIC + json.dumps(script).encode()


@dataclass
class FakeBackend:
    """Implements cameo_engine.jobs.Backend from the scripts above."""

    media_errors: tuple[type[BaseException], ...] = (FakeDecodeError,)
    release: threading.Event = field(default_factory=threading.Event)
    blocked: threading.Event = field(default_factory=threading.Event)
    analyzed: list[str] = field(default_factory=list)
    gallery_loads: int = 0

    def load_gallery(self, root: Path) -> FakeGallery:
        self.gallery_loads += 1
        return FakeGallery()

    def analyze_video(
        self,
        path: Path,
        gallery: Any,
        *,
        sample_fps: float,
        processes: int,
        progress: Callable[..., None],
    ) -> FakeAnalysis:
        data = path.read_bytes()
        if not data.startswith(MAGIC):
            raise FakeDecodeError("Invalid data found when processing input")
        script = json.loads(data[len(MAGIC) :])
        self.analyzed.append(path.name)
        if "fail" in script:
            raise FakeDecodeError(script["fail"])
        if "crash" in script:
            raise RuntimeError(script["crash"])
        if script.get("block"):
            self.blocked.set()
            step = 0
            while not self.release.wait(0.01):
                step = min(step + 1, 99)
                progress(step, 100)  # raises when the engine shuts down
        progress(1.0)
        return FakeAnalysis(dict(METADATA), scripted_detections(script.get("detections", 0)))

    def recognize_image(self, data: bytes, gallery: Any) -> dict[str, Any]:
        if not data.startswith(b"\x89PNG"):
            raise FakeDecodeError("cannot identify image file")
        face = detection(0, "1a2b3c")["Celebrity"]
        return {"CelebrityFaces": [face], "UnrecognizedFaces": []}


# -- AWS side: moto server for S3, SNS, SQS ---------------------------------------------


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class Aws:
    endpoint: str
    s3: Any
    sns: Any
    sqs: Any
    bucket: str

    def put_video(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)

    def topic_with_queue(self) -> tuple[str, str]:
        """An SNS topic with an SQS queue subscribed; returns (topic_arn, queue_url)."""
        name = f"t-{uuid.uuid4().hex[:10]}"
        topic_arn = self.sns.create_topic(Name=name)["TopicArn"]
        queue_url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        return topic_arn, queue_url

    def messages(self, queue_url: str, *, expect: int = 1, timeout: float = 10) -> list[Any]:
        """The SNS Message payloads (parsed) delivered to the queue."""
        found: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(found) < expect and time.monotonic() < deadline:
            resp = self.sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            for msg in resp.get("Messages", []):
                found.append(json.loads(json.loads(msg["Body"])["Message"]))
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])
        return found


@pytest.fixture
def moto_aws(moto_endpoint: str) -> Aws:
    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=moto_endpoint, region_name=REGION)

    s3 = client("s3")
    bucket = f"videos-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    return Aws(moto_endpoint, s3, client("sns"), client("sqs"), bucket)


# -- the engine under test --------------------------------------------------------------


@dataclass
class EngineFactory:
    moto_endpoint: str
    tmp_path: Path
    backend: FakeBackend
    started: list[Engine] = field(default_factory=list)

    def __call__(self, **overrides: Any) -> Engine:
        settings: dict[str, Any] = {
            "gallery_dir": self.tmp_path / "gallery",
            "state_dir": self.tmp_path / "state",
            "s3_endpoint": self.moto_endpoint,
            "sns_endpoint": self.moto_endpoint,
            "region": REGION,
        }
        settings.update(overrides)
        backend = settings.pop("backend", self.backend)
        engine = start_engine(EngineConfig(**settings), backend=backend)
        self.started.append(engine)
        return engine

    def stop_all(self) -> None:
        for engine in self.started:
            engine.stop()


@pytest.fixture
def fake_backend() -> Iterator[FakeBackend]:
    backend = FakeBackend()
    yield backend
    backend.release.set()


@pytest.fixture
def engine_factory(
    moto_endpoint: str, tmp_path: Path, fake_backend: FakeBackend
) -> Iterator[EngineFactory]:
    factory = EngineFactory(moto_endpoint, tmp_path, fake_backend)
    yield factory
    fake_backend.release.set()
    factory.stop_all()


@pytest.fixture
def engine(engine_factory: EngineFactory) -> Engine:
    return engine_factory()


def rekognition_client(endpoint_url: str, *, attempts: int = 1, validate: bool = True) -> Any:
    """A stock boto3 client; by default one attempt, so errors surface as-is."""
    return boto3.client(
        "rekognition",
        endpoint_url=endpoint_url,
        region_name=REGION,
        config=Config(
            retries={"mode": "standard", "total_max_attempts": attempts},
            parameter_validation=validate,
        ),
    )


@pytest.fixture
def rekognition(engine: Engine) -> Any:
    return rekognition_client(engine.endpoint_url)


def start_job(client: Any, bucket: str, key: str, **extra: Any) -> str:
    video = {"S3Object": {"Bucket": bucket, "Name": key}}
    return str(client.start_celebrity_recognition(Video=video, **extra)["JobId"])


def wait_done(client: Any, job_id: str, timeout: float = 20) -> dict[str, Any]:
    """Poll like a caller would, until the job leaves IN_PROGRESS."""
    deadline = time.monotonic() + timeout
    while True:
        page: dict[str, Any] = client.get_celebrity_recognition(JobId=job_id)
        if page["JobStatus"] != IN_PROGRESS or time.monotonic() > deadline:
            return page
        time.sleep(0.02)
