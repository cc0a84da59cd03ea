"""Rekognition's JSON 1.1 wire protocol over HTTP, for a stock boto3 client.

``POST /`` with ``X-Amz-Target: RekognitionService.<Operation>``. Requests are checked
against botocore's own service model (required members, lengths, ranges, patterns,
enums), so the engine rejects exactly what the model says AWS rejects. SigV4 signatures
are accepted without verification: the engine is a local stand-in, not an access boundary.

Non-AWS routes: ``GET /health`` (200 when ready), ``GET /admin/jobs`` and
``GET /admin/jobs/<JobId>`` (status and progress), ``GET|POST|DELETE /admin/faults``,
``GET|DELETE /admin/calls`` (API calls per operation and outcome, since start or the last
DELETE: what a load test needs to count Start calls per upload), ``GET /admin/stats`` (jobs
per status).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from typing import Any

from werkzeug.wrappers import Request, Response

from cameo_engine import errors
from cameo_engine.errors import EngineError
from cameo_engine.faults import FaultInjector, FaultRule
from cameo_engine.jobs import Backend, GalleryProvider, JobRunner
from cameo_engine.store import IN_PROGRESS, SUCCEEDED, Job, NewJob, Store

log = logging.getLogger("cameo_engine.server")

TARGET_PREFIX = "RekognitionService."
CONTENT_TYPE = "application/x-amz-json-1.1"
MAX_PAGE = 1000  # GetCelebrityRecognition serves larger MaxResults as 1000, like AWS
DEFAULT_MAX_VIDEO_BYTES = 10 * 1024**3
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # Image.Bytes limit
MAX_S3_IMAGE_BYTES = 15 * 1024 * 1024  # Image.S3Object limit

OPERATIONS = (
    "StartCelebrityRecognition",
    "GetCelebrityRecognition",
    "GetCelebrityInfo",
    "RecognizeCelebrities",
)


# -- validation against botocore's service model ----------------------------------------


@cache
def _service_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("rekognition")


def validate(operation: str, params: Any) -> dict[str, Any]:
    """Check params against the operation's input shape; decode blobs from base64.

    Returns the params with blobs as bytes. Raises InvalidParameterException.
    """
    shape = _service_model().operation_model(operation).input_shape
    if not isinstance(params, dict):
        raise errors.SerializationException("The request body must be a JSON object.")
    result: dict[str, Any] = _check(shape, params, "")
    return result


def _fail(path: str, constraint: str) -> errors.InvalidParameterException:
    return errors.InvalidParameterException(
        f"1 validation error detected: Value at '{path}' failed to satisfy constraint: {constraint}"
    )


def _check(shape: Any, value: Any, path: str) -> Any:
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _fail(path, "Member must be an object")
        for name in shape.required_members:
            if value.get(name) is None:
                raise _fail(_join(path, name), "Member must not be null")
        # Unknown members are ignored, as AWS JSON services do.
        return {
            name: _check(shape.members[name], v, _join(path, name))
            for name, v in value.items()
            if name in shape.members and v is not None
        }
    if kind == "string":
        if not isinstance(value, str):
            raise _fail(path, "Member must be a string")
        _check_range(len(value), meta, path, "length")
        if "pattern" in meta and re.fullmatch(meta["pattern"], value) is None:
            raise _fail(path, f"Member must satisfy regular expression pattern: {meta['pattern']}")
        if shape.enum and value not in shape.enum:
            raise _fail(path, f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
        return value
    if kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(path, "Member must be an integer")
        _check_range(value, meta, path, "value")
        return value
    if kind == "blob":
        if not isinstance(value, str):
            raise _fail(path, "Member must be base64-encoded")
        try:
            data = base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise _fail(path, "Member must be base64-encoded") from exc
        if len(data) < meta.get("min", 0):
            raise _fail(path, f"Member must have length greater than or equal to {meta['min']}")
        return data  # the max is checked by the operation (ImageTooLargeException)
    if kind == "list":
        if not isinstance(value, list):
            raise _fail(path, "Member must be a list")
        _check_range(len(value), meta, path, "length")
        return [_check(shape.member, v, f"{path}.{i + 1}") for i, v in enumerate(value)]
    return value


def _check_range(n: int, meta: dict[str, Any], path: str, what: str) -> None:
    if "min" in meta and n < meta["min"]:
        raise _fail(path, f"Member must have {what} greater than or equal to {meta['min']}")
    if "max" in meta and n > meta["max"]:
        raise _fail(path, f"Member must have {what} less than or equal to {meta['max']}")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# -- pagination tokens ------------------------------------------------------------------


def encode_token(job_id: str, sort_by: str, offset: int) -> str:
    """Opaque but deterministic: the same page of the same job always gets the same token."""
    raw = json.dumps({"j": job_id, "s": sort_by, "o": offset}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_token(token: str, job_id: str, sort_by: str, total: int) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset = data["o"]
        valid = (
            data["j"] == job_id
            and data["s"] == sort_by
            and isinstance(offset, int)
            and 0 < offset < total
        )
    except (ValueError, KeyError, TypeError, binascii.Error):
        valid = False
    if not valid:
        raise errors.InvalidPaginationTokenException("Invalid Token")
    return int(offset)


# -- the service ------------------------------------------------------------------------


def params_hash(params: dict[str, Any]) -> str:
    body = {k: v for k, v in params.items() if k != "ClientRequestToken"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def known_gender(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return {"Type": str(value.get("Type"))}
    return {"Type": str(value)}


class RekognitionService:
    """The four operations, on plain dicts. HTTP framing is in EngineApp."""

    def __init__(
        self,
        *,
        store: Store,
        runner: JobRunner,
        backend: Backend,
        gallery: GalleryProvider,
        s3_client: Any,
        faults: FaultInjector,
        max_concurrent_jobs: int = 20,
        max_video_bytes: int = DEFAULT_MAX_VIDEO_BYTES,
    ) -> None:
        self.store = store
        self.runner = runner
        self.backend = backend
        self.gallery = gallery
        self.s3 = s3_client
        self.faults = faults
        self.max_concurrent_jobs = max_concurrent_jobs
        self.max_video_bytes = max_video_bytes
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "StartCelebrityRecognition": self.start_celebrity_recognition,
            "GetCelebrityRecognition": self.get_celebrity_recognition,
            "GetCelebrityInfo": self.get_celebrity_info,
            "RecognizeCelebrities": self.recognize_celebrities,
        }
        self._calls: dict[str, dict[str, int]] = {}
        self._calls_lock = threading.Lock()

    def call(self, operation: str, params: Any) -> dict[str, Any]:
        handler = self._handlers.get(operation)
        if handler is None:
            raise errors.UnknownOperationException(f"Operation {operation} is not supported.")
        try:
            self.faults.check(operation)
            result = handler(validate(operation, params))
        except EngineError as exc:
            self._count(operation, exc.code)
            raise
        except Exception:
            self._count(operation, errors.InternalServerError.code)
            raise
        self._count(operation, "ok")
        delay = self.faults.delay(operation)
        if delay:
            log.info("%s answered %.1fs late (injected delay)", operation, delay)
            time.sleep(delay)
        return result

    def _count(self, operation: str, outcome: str) -> None:
        with self._calls_lock:
            outcomes = self._calls.setdefault(operation, {})
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

    def calls(self, *, reset: bool = False) -> dict[str, dict[str, int]]:
        """Calls per operation and outcome ("ok" or the error code)."""
        with self._calls_lock:
            counted = {op: dict(outcomes) for op, outcomes in self._calls.items()}
            if reset:
                self._calls.clear()
        return counted

    # StartCelebrityRecognition -------------------------------------------------------

    def start_celebrity_recognition(self, params: dict[str, Any]) -> dict[str, Any]:
        s3_object = params["Video"].get("S3Object")
        if not s3_object or "Bucket" not in s3_object or "Name" not in s3_object:
            raise errors.InvalidParameterException("Video.S3Object.Bucket and Name are required.")
        token = params.get("ClientRequestToken")
        digest = params_hash(params)
        if token is not None:
            # A replay answers from the record, without touching S3 or the job limit.
            previous = self.store.job_for_token(token)
            if previous is not None:
                return self._replay(previous, digest)
        self._check_video(s3_object)
        channel = params.get("NotificationChannel") or {}
        new = NewJob(
            job_id=secrets.token_hex(32),  # 64 chars, like AWS job ids
            client_token=token,
            params_hash=digest,
            request=params,
            bucket=s3_object["Bucket"],
            name=s3_object["Name"],
            version=s3_object.get("Version"),
            job_tag=params.get("JobTag"),
            sns_topic_arn=channel.get("SNSTopicArn"),
            role_arn=channel.get("RoleArn"),
        )
        job, created = self.store.submit(new, max_in_progress=self.max_concurrent_jobs)
        if created:
            log.info("job %s submitted for s3://%s/%s", job.job_id, job.bucket, job.name)
            self.runner.submit(job.job_id)
        return {"JobId": job.job_id}

    @staticmethod
    def _replay(job: Job, digest: str) -> dict[str, Any]:
        if job.params_hash != digest:
            raise errors.IdempotentParameterMismatchException(
                "ClientRequestToken was already used with different parameters."
            )
        return {"JobId": job.job_id}

    def _check_video(self, s3_object: dict[str, Any]) -> None:
        with _s3_errors():
            head = self.s3.head_object(**_object_args(s3_object))
        size = int(head.get("ContentLength", 0))
        if size > self.max_video_bytes:
            raise errors.VideoTooLargeException(
                f"The video is {size} bytes; the maximum is {self.max_video_bytes} bytes."
            )

    # GetCelebrityRecognition ---------------------------------------------------------

    def get_celebrity_recognition(self, params: dict[str, Any]) -> dict[str, Any]:
        job = self.store.get(params["JobId"])
        if job is None:
            raise errors.ResourceNotFoundException(f"Job {params['JobId']} was not found.")
        sort_by = params.get("SortBy", "TIMESTAMP")
        limit = min(params.get("MaxResults", MAX_PAGE), MAX_PAGE)
        response: dict[str, Any] = {"JobStatus": job.status}
        if job.status_message:
            response["StatusMessage"] = job.status_message
        if job.video_metadata is not None:
            response["VideoMetadata"] = job.video_metadata
        celebrities: list[dict[str, Any]] = []
        if job.status == SUCCEEDED:
            total = self.store.count_detections(job.job_id)
            token = params.get("NextToken")
            offset = decode_token(token, job.job_id, sort_by, total) if token else 0
            celebrities = self.store.detections(
                job.job_id, sort_by=sort_by, offset=offset, limit=limit
            )
            if offset + limit < total:
                response["NextToken"] = encode_token(job.job_id, sort_by, offset + limit)
        elif params.get("NextToken"):
            raise errors.InvalidPaginationTokenException("Invalid Token")
        response["Celebrities"] = celebrities
        response["JobId"] = job.job_id
        video: dict[str, Any] = {"Bucket": job.bucket, "Name": job.name}
        if job.version:
            video["Version"] = job.version
        response["Video"] = {"S3Object": video}
        if job.job_tag is not None:
            response["JobTag"] = job.job_tag
        return response

    # GetCelebrityInfo ----------------------------------------------------------------

    def get_celebrity_info(self, params: dict[str, Any]) -> dict[str, Any]:
        person = self.gallery.get().get(params["Id"])
        if person is None:
            raise errors.ResourceNotFoundException(f"Celebrity {params['Id']} was not found.")
        response: dict[str, Any] = {"Urls": list(person.urls or []), "Name": person.name}
        gender = known_gender(person.known_gender)
        if gender is not None:
            response["KnownGender"] = gender
        return response

    # RecognizeCelebrities ------------------------------------------------------------

    def recognize_celebrities(self, params: dict[str, Any]) -> dict[str, Any]:
        image = params["Image"]
        has_bytes, has_s3 = "Bytes" in image, "S3Object" in image
        if has_bytes == has_s3:
            raise errors.InvalidParameterException(
                "Image must have exactly one of Bytes or S3Object."
            )
        data = image["Bytes"] if has_bytes else self._read_image(image["S3Object"])
        if has_bytes and len(data) > MAX_IMAGE_BYTES:
            raise errors.ImageTooLargeException(
                f"Image.Bytes is {len(data)} bytes; the maximum is {MAX_IMAGE_BYTES}."
            )
        try:
            return self.backend.recognize_image(data, self.gallery.get())
        except self.backend.media_errors as exc:
            raise errors.InvalidImageFormatException(
                f"Request has invalid image format: {exc}"
            ) from exc

    def _read_image(self, s3_object: dict[str, Any]) -> bytes:
        if "Bucket" not in s3_object or "Name" not in s3_object:
            raise errors.InvalidParameterException("Image.S3Object.Bucket and Name are required.")
        with _s3_errors():
            obj = self.s3.get_object(**_object_args(s3_object))
            if int(obj.get("ContentLength", 0)) > MAX_S3_IMAGE_BYTES:
                raise errors.ImageTooLargeException(
                    f"The image is larger than {MAX_S3_IMAGE_BYTES} bytes."
                )
            data: bytes = obj["Body"].read()
        return data

    # admin views ---------------------------------------------------------------------

    def job_view(self, job: Job) -> dict[str, Any]:
        progress = self.runner.progress(job.job_id) if job.status == IN_PROGRESS else None
        if progress is None:
            progress = job.progress
        view: dict[str, Any] = {
            "JobId": job.job_id,
            "JobStatus": job.status,
            "Progress": round(progress * 100, 1),
            "Video": {"S3Bucket": job.bucket, "S3ObjectName": job.name},
            "CreatedAt": job.created_at,
            "StartedAt": job.started_at,
            "CompletedAt": job.completed_at,
            "Attempts": job.attempts,
        }
        if job.status_message:
            view["StatusMessage"] = job.status_message
        if job.job_tag is not None:
            view["JobTag"] = job.job_tag
        if job.status == SUCCEEDED:
            view["Detections"] = self.store.count_detections(job.job_id)
        return view


# -- HTTP -------------------------------------------------------------------------------


class EngineApp:
    """WSGI application: the AWS route plus the small admin routes."""

    def __init__(self, service: RekognitionService, *, ready: Callable[[], bool]) -> None:
        self.service = service
        self._ready = ready

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        response = self._route(request)
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        path, method = request.path.rstrip("/") or "/", request.method
        if path == "/" and method == "POST":
            return self._aws(request)
        if path == "/health" and method == "GET":
            ok = self._ready()
            return _json({"status": "ok" if ok else "starting"}, 200 if ok else 503)
        if path == "/admin/jobs" and method == "GET":
            limit = request.args.get("limit", default=100, type=int)
            jobs = self.service.store.jobs(limit=limit)
            return _json({"Jobs": [self.service.job_view(j) for j in jobs]})
        if path.startswith("/admin/jobs/") and method == "GET":
            job = self.service.store.get(path.removeprefix("/admin/jobs/"))
            if job is None:
                return _json({"message": "job not found"}, 404)
            return _json(self.service.job_view(job))
        if path == "/admin/faults":
            return self._faults(request)
        if path == "/admin/stats" and method == "GET":
            return _json({"Jobs": self.service.store.counts()})
        if path == "/admin/calls" and method in ("GET", "DELETE"):
            return _json({"Calls": self.service.calls(reset=method == "DELETE")})
        return _json({"message": f"no route for {method} {request.path}"}, 404)

    def _faults(self, request: Request) -> Response:
        faults = self.service.faults
        if request.method == "POST":
            try:
                body = json.loads(request.get_data() or b"{}")
                rules = body if isinstance(body, list) else [body]
                for rule in rules:
                    faults.add(FaultRule.from_dict(rule))
            except (ValueError, KeyError, TypeError) as exc:
                return _json({"message": f"bad fault rule: {exc}"}, 400)
        elif request.method == "DELETE":
            faults.clear()
        elif request.method != "GET":
            return _json({"message": "use GET, POST or DELETE"}, 405)
        return _json({"Faults": faults.rules()})

    def _aws(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        target = request.headers.get("X-Amz-Target", "")
        try:
            if not target.startswith(TARGET_PREFIX):
                raise errors.UnknownOperationException(
                    f"Missing or unknown X-Amz-Target {target!r}."
                )
            operation = target.removeprefix(TARGET_PREFIX)
            try:
                params = json.loads(request.get_data() or b"{}")
            except ValueError as exc:
                raise errors.SerializationException("The request body is not valid JSON.") from exc
            body, status = self.service.call(operation, params), 200
        except EngineError as exc:
            if exc.status >= 500 and type(exc) is EngineError:
                log.error("%s failed: %s", target, exc.message)
            body, status = exc.body(), exc.status
        except Exception:
            log.exception("%s failed unexpectedly", target)
            err = EngineError(
                "Amazon Rekognition experienced a service issue. Try your call again."
            )
            body, status = err.body(), err.status
        return Response(
            json.dumps(body),
            status=status,
            headers={"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": request_id},
        )


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _object_args(s3_object: dict[str, Any]) -> dict[str, str]:
    args = {"Bucket": s3_object["Bucket"], "Key": s3_object["Name"]}
    if s3_object.get("Version"):
        args["VersionId"] = s3_object["Version"]
    return args


@contextlib.contextmanager
def _s3_errors() -> Iterator[None]:
    """S3 failures in Rekognition's words: a missing or unreadable object is the caller's
    problem (InvalidS3ObjectException); an unreachable endpoint is ours."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        raise errors.InvalidS3ObjectException(
            "Unable to get object metadata from S3. Check object key, region and/or "
            "access permissions."
        ) from exc
    except BotoCoreError as exc:
        raise EngineError(f"Unable to reach S3: {exc}") from exc
