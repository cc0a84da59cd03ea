"""Start, inspect and stop the offline stack: the API behind `cameo stack ...` and the e2e tests.

    stack = Stack.up(gallery=Path("gallery"))      # moto, DynamoDB Local, engine, router
    stack.upload(Path("clip.mp4"), key="clip.mp4")
    stack.wait("s3://.../clip.mp4")
    stack.down()

Services (each its own process group, log in .stack/logs/, pid file in .stack/pids/):
``moto`` (S3, SNS, SQS), ``dynamodb`` (DynamoDB Local), ``engine`` (local Rekognition; absent
with an external endpoint) and ``router`` (S3/SNS -> Lambda handlers). Ports are free ones
unless given. ``up`` starts from empty state; ``restart`` keeps DynamoDB's and the engine's
data (on disk under .stack/data/) and re-creates moto's resources, which live in memory.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cameo_stack import dynamodb_local, procs
from cameo_stack.paths import StatePaths, repo_root
from cameo_stack.state import StackNotRunning, StackState, boto_client
from cameo_stack.template import DEFAULT_STACK_NAME, REGION

# cameo_engine.api reads it; named here so the stack need not import the engine.
FIXED_JOB_SECONDS_ENV_VAR = "CAMEO_ENGINE_FIXED_JOB_SECONDS"
SERVICE_ORDER = ("moto", "dynamodb", "engine", "router", "api")
SERVICE_LABELS = {
    "moto": "moto (S3, SNS, SQS)",
    "dynamodb": "DynamoDB Local",
    "engine": "Rekognition engine",
    "router": "event router",
    "api": "HTTP API + page",
}
FINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "SKIPPED", "REJECTED"})


@dataclass(frozen=True)
class StackOptions:
    gallery: Path | None = None
    rekognition_endpoint: str | None = None
    ports: Mapping[str, int] | None = None  # service -> port; 0 or missing: a free one
    engine_workers: int = 1
    engine_processes: int = 1
    engine_max_concurrent_jobs: int = 20
    engine_sample_fps: float = 5.0
    engine_faults: tuple[str, ...] = ()
    # Not None: every engine job lasts exactly this long and decodes nothing (load tests).
    engine_fixed_job_seconds: float | None = None
    router_concurrency: int = 4
    # Initialize the functions' environments before events arrive (router --prewarm): load
    # tests, whose bursts would otherwise start with every environment's cold start at once.
    prewarm: bool = False
    stack_name: str = DEFAULT_STACK_NAME
    template: Path | None = None
    parameters: Mapping[str, str] | None = None  # template parameter overrides
    schedule_seconds: float = 5.0  # the template's schedules fire this often offline (0: never)
    lambda_retries: int | None = None  # every function's MaximumRetryAttempts; None: template's
    log: Callable[[str], None] | None = None


class Stack:
    def __init__(self, state: StackState) -> None:
        self.state = state

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def up(cls, options: StackOptions | None = None, paths: StatePaths | None = None) -> Stack:
        """Start every service from empty state and provision the template's resources."""
        options = options or StackOptions()
        paths = paths or StatePaths.default()
        if any(procs.read_record(paths.pid(name)) for name in SERVICE_ORDER):
            running = [
                n for n in SERVICE_ORDER if (r := procs.read_record(paths.pid(n))) and r.alive()
            ]
            if running:
                raise RuntimeError(
                    f"stack already running ({', '.join(running)}): `cameo stack down` first"
                )
        if paths.data.exists():
            shutil.rmtree(paths.data)
        paths.ensure()
        (paths.root / ".gitignore").write_text("*\n")
        state = _initial_state(paths, options)
        stack = cls(state)
        try:
            stack._start_services(options)
        except BaseException:
            stack.down()
            raise
        return stack

    def restart(self, services: tuple[str, ...] = SERVICE_ORDER) -> list[str]:
        """Stop and start ``services`` on the same ports with the same arguments.

        DynamoDB's tables and the engine's jobs survive on disk; moto keeps state in memory only,
        so restarting it loses objects and queued messages (its resources are re-provisioned).
        """
        unknown = set(services) - set(SERVICE_ORDER)
        if unknown:
            raise ValueError(f"unknown services {sorted(unknown)}; known: {SERVICE_ORDER}")
        chosen = [n for n in SERVICE_ORDER if n in services and n in self.state.services]
        for name in reversed(chosen):
            procs.stop(self.state.paths.pid(name), grace=15 if name == "router" else 10)
        self._start_services(StackOptions(), only=tuple(chosen))
        if {"moto", "router"} & set(chosen):
            # Lost (moto's memory) or hidden in flight (a receive cut short by the router's
            # stop) until the visibility timeout ends: either way, announce it again now.
            self.replay_lost_completions()
        return chosen

    def replay_lost_completions(self) -> list[str]:
        """Re-announce completions that a restart may have swallowed or hidden.

        moto keeps SNS/SQS messages in memory, so a completion published just before a restart
        can vanish, leaving its video SUBMITTED for ever (real SNS does not lose it). For every
        SUBMITTED video whose engine job is already final, publish the engine's message again;
        the results handler skips a completion it has already recorded, so this is safe.
        """
        if self.state.external_rekognition:
            return []
        from boto3.dynamodb.types import TypeDeserializer

        deserializer = TypeDeserializer()
        topic_arn = next(iter(self.state.topics.values()))
        sns = self.client("sns")
        replayed = []
        # A Scan is fine here: a local maintenance step over a developer's table, not a query path.
        pages = (
            self.client("dynamodb")
            .get_paginator("scan")
            .paginate(
                TableName=self.state.table,
                FilterExpression="sk = :video AND #status = :submitted",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":video": {"S": "VIDEO"},
                    ":submitted": {"S": "SUBMITTED"},
                },
            )
        )
        for page in pages:
            for raw in page.get("Items", []):
                item = {k: deserializer.deserialize(v) for k, v in raw.items()}
                job = self._engine_job(str(item.get("job_id", "")))
                if job.get("JobStatus") not in ("SUCCEEDED", "FAILED"):
                    continue  # still running: the engine will publish it itself
                message: dict[str, Any] = {
                    "JobId": item["job_id"],
                    "Status": job["JobStatus"],
                    "API": "StartCelebrityRecognition",
                    "Timestamp": int(time.time() * 1000),
                    "Video": {"S3ObjectName": item["key"], "S3Bucket": item["bucket"]},
                }
                if item.get("job_tag"):
                    message["JobTag"] = item["job_tag"]
                sns.publish(TopicArn=topic_arn, Message=json.dumps(message))
                replayed.append(str(item["video"]))
        return replayed

    def _engine_job(self, job_id: str) -> dict[str, Any]:
        if not job_id:
            return {}
        url = f"{self.state.endpoints['rekognition']}/admin/jobs/{job_id}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
                return dict(json.loads(response.read()))
        except (OSError, ValueError):
            return {}

    def down(self) -> list[str]:
        """Stop every service (router first, so in-flight events go back to their queues)."""
        stopped = self.stop_services()
        with_state = self.state.paths.state_file
        if with_state.exists():
            with_state.unlink()
        return stopped

    def stop_services(self) -> list[str]:
        stopped = []
        for name in reversed(SERVICE_ORDER):
            if procs.stop(self.state.paths.pid(name), grace=15 if name == "router" else 10):
                stopped.append(name)
        return stopped

    @classmethod
    def current(cls, paths: StatePaths | None = None) -> Stack:
        return cls(StackState.load(paths))

    @classmethod
    def stop_all(cls, paths: StatePaths | None = None) -> list[str]:
        """`cameo stack down` even when the state file is gone: pid files are enough."""
        paths = paths or StatePaths.default()
        stopped = [n for n in reversed(SERVICE_ORDER) if procs.stop(paths.pid(n))]
        if paths.state_file.exists():
            paths.state_file.unlink()
        return stopped

    # -- services ----------------------------------------------------------------------------

    def _say(self, options: StackOptions, text: str) -> None:
        if options.log is not None:
            options.log(text)

    def _start_services(self, options: StackOptions, only: tuple[str, ...] | None = None) -> None:
        """Start services in order (all, or ``only``); provision once moto and DynamoDB are up.

        Each service's argv is decided at the first start and kept in the state file, so a
        restart brings back exactly the same configuration.
        """
        state, paths = self.state, self.state.paths
        env = {**os.environ, **state.aws_env()}
        # Faults and fixed-length jobs are given explicitly, never inherited.
        env.pop("CAMEO_ENGINE_FAULTS", None)
        env.pop(FIXED_JOB_SECONDS_ENV_VAR, None)
        chosen = [n for n in SERVICE_ORDER if n in state.services and (only is None or n in only)]
        # Resources live in moto (memory) and DynamoDB: (re-)provision once both are back.
        provision_after = next((n for n in reversed(chosen) if n in ("moto", "dynamodb")), None)
        for name in chosen:
            info = state.services[name]
            if "argv" not in info:
                info["argv"] = self._argv(name, options)
                info["env"] = self._service_env(name, options)
            self._say(options, f"{SERVICE_LABELS[name]:<25}{info['url']}")
            if name == "dynamodb":
                dynamodb_local.start(paths, int(info["port"]), persistent=True)
            else:
                record = procs.start(
                    name,
                    info["argv"],
                    pid_file=paths.pid(name),
                    log_file=paths.log(name),
                    env={**env, **info.get("env", {})},
                )
                procs.wait_healthy(
                    record,
                    lambda url=info["url"], n=name: _healthy(n, url),
                    timeout=120 if name == "engine" else 30,
                )
            if name == provision_after:
                self._say(options, "provisioning from " + os.path.relpath(state.template))
                self._provision()
        state.save()
        if state.external_rekognition:
            self._say(options, f"Rekognition (external)   {state.endpoints['rekognition']}")

    def _service_env(self, name: str, options: StackOptions) -> dict[str, str]:
        """Variables a service gets on top of the stack's (kept for restarts, like argv)."""
        if name == "engine" and options.engine_fixed_job_seconds is not None:
            # Not a `cameo engine serve` option (that CLI is the engine's own): the engine
            # reads it from its environment (cameo_engine.api).
            return {FIXED_JOB_SECONDS_ENV_VAR: str(options.engine_fixed_job_seconds)}
        return {}

    def _argv(self, name: str, options: StackOptions) -> list[str]:
        state, python = self.state, sys.executable
        port = str(state.services[name]["port"])
        if name == "moto":
            return [python, "-m", "cameo_stack.moto_service", "-H", "127.0.0.1", "-p", port]
        if name == "engine":
            argv = [
                python, "-m", "cameo_cli.main", "engine", "serve",
                "--host", "127.0.0.1", "--port", port,
                "--gallery", str(state.gallery),
                "--state-dir", str(state.paths.data / "engine"),
                "--s3-endpoint", state.endpoints["s3"],
                "--sns-endpoint", state.endpoints["sns"],
                "--workers", str(options.engine_workers),
                "--processes", str(options.engine_processes),
                "--max-concurrent-jobs", str(options.engine_max_concurrent_jobs),
                "--sample-fps", str(options.engine_sample_fps),
            ]  # fmt: skip
            for fault in options.engine_faults:
                argv += ["--fault", fault]
            return argv
        if name == "router":
            return [
                python,
                "-m",
                "cameo_stack.router",
                "--state-dir",
                str(state.paths.root),
                "--port",
                port,
                "--concurrency",
                str(options.router_concurrency),
                *(["--prewarm"] if options.prewarm else []),
            ]
        if name == "api":  # ApiFunction behind API Gateway's event shapes; the page's files
            return [
                python, "-m", "cameo_stack.http_api",
                "--state-dir", str(state.paths.root), "--port", port,
                "--web-dir", str(repo_root() / "web"),
            ]  # fmt: skip
        return []  # dynamodb: cameo_stack.dynamodb_local builds its own

    def _provision(self) -> None:
        from cameo_stack.provision import provision

        state = self.state
        model = state.model()
        created = provision(
            model,
            s3=self.client("s3"),
            sqs=self.client("sqs"),
            sns=self.client("sns"),
            dynamodb=self.client("dynamodb"),
        )
        state.buckets = created["buckets"]
        state.tables = created["tables"]
        state.topics = created["topics"]
        state.queues = created["queues"]
        state.router_queues = created["router_queues"]
        state.fallback_dlq = created["fallback_dlq"]
        state.video_bucket = model.video_bucket.name
        state.table = model.table.name
        state.save()

    # -- status ------------------------------------------------------------------------------

    def status(self) -> dict[str, dict[str, Any]]:
        return service_status(self.state.paths, self.state)

    def env(self) -> dict[str, str]:
        return self.state.shell_env()

    def client(self, service: str) -> Any:
        return boto_client(service, self.state)

    # -- using it ----------------------------------------------------------------------------

    def uri(self, key: str) -> str:
        return f"s3://{self.state.video_bucket}/{key}"

    def upload(self, file: Path, key: str | None = None) -> str:
        key = key or file.name
        self.client("s3").upload_file(str(file), self.state.video_bucket, key)
        return self.uri(key)

    def put_bytes(self, key: str, data: bytes) -> str:
        self.client("s3").put_object(Bucket=self.state.video_bucket, Key=key, Body=data)
        return self.uri(key)

    def delete(self, key: str) -> None:
        self.client("s3").delete_object(Bucket=self.state.video_bucket, Key=key)

    def video_item(self, uri: str) -> dict[str, Any] | None:
        """The video's item in the results table, as plain Python values (None if absent)."""
        from boto3.dynamodb.types import TypeDeserializer

        response = self.client("dynamodb").get_item(
            TableName=self.state.table,
            Key={"pk": {"S": f"VIDEO#{uri}"}, "sk": {"S": "VIDEO"}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if item is None:
            return None
        deserializer = TypeDeserializer()
        return {k: deserializer.deserialize(v) for k, v in item.items()}

    def video_items(self, uri: str) -> list[dict[str, Any]]:
        """Every item of the video's partition (video, appearances, summaries)."""
        from boto3.dynamodb.types import TypeDeserializer

        deserializer = TypeDeserializer()
        paginator = self.client("dynamodb").get_paginator("query")
        items: list[dict[str, Any]] = []
        for page in paginator.paginate(
            TableName=self.state.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"VIDEO#{uri}"}},
            ConsistentRead=True,
        ):
            items += [
                {k: deserializer.deserialize(v) for k, v in item.items()} for item in page["Items"]
            ]
        return items

    def wait(
        self,
        uri: str,
        *,
        timeout: float = 300,
        progress: Callable[[str, dict[str, Any] | None], None] | None = None,
        min_submitted_at: str | None = None,
    ) -> dict[str, Any]:
        """Block until the video's status is final; return the video item.

        Raises TimeoutError with what is known (status, engine job state, router errors) when
        the deadline passes, so that nothing hangs silently.
        """
        deadline = time.monotonic() + timeout
        last = ""
        item: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            item = self.video_item(uri)
            status = str(item.get("status")) if item else "PENDING"
            fresh = item is not None and (
                min_submitted_at is None or str(item.get("submitted_at", "")) >= min_submitted_at
            )
            detail = self._engine_progress(item) if status == "SUBMITTED" else ""
            line = f"{status}{detail}"
            if progress is not None and line != last:
                progress(line, item)
                last = line
            if item is not None and fresh and status in FINAL_STATUSES:
                return item
            time.sleep(0.25)
        raise TimeoutError(self._stuck_report(uri, item, timeout))

    def _engine_progress(self, item: dict[str, Any] | None) -> str:
        if item is None or self.state.external_rekognition or not item.get("job_id"):
            return ""
        job = self._engine_job(str(item["job_id"]))
        status = job.get("JobStatus") or ""
        progress = job.get("Progress")  # percent
        if status == "IN_PROGRESS" and isinstance(progress, (int, float)):
            return f" (engine: {status} {float(progress):.0f}%)"
        return f" (engine: {status})" if status else ""

    def _stuck_report(self, uri: str, item: dict[str, Any] | None, timeout: float) -> str:
        status = item.get("status") if item else "no video item"
        lines = [f"{uri}: still {status} after {timeout:.0f}s"]
        if item and item.get("job_id"):
            lines.append(f"  job {item['job_id']}{self._engine_progress(item)}")
        health = self.status().get("router", {}).get("detail") or {}
        for fn, counters in (health.get("functions") or {}).items():
            if counters.get("last_error"):
                lines.append(f"  {fn}: last error {counters['last_error']}")
        lines.append(f"  logs: {self.state.paths.logs}")
        return "\n".join(lines)

    def invoke_async(self, function: str, event: Any) -> None:
        """Lambda's Invoke with InvocationType=Event: through the router, with its retries."""
        import json

        from cameo_stack.provision import router_queue

        model = self.state.model()
        fn = model.function(function)
        url = self.state.router_queues[router_queue(model, fn, "invoke")]
        self.client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(event))

    def fire_schedules(self, function: str | None = None) -> int:
        """One tick of every enabled schedule (of ``function``) now, as the router's would."""
        import json

        from cameo_stack import events
        from cameo_stack.provision import router_queue

        model = self.state.model()
        chosen = [model.function(function)] if function else list(model.functions.values())
        sent = 0
        for fn in chosen:
            url = self.state.router_queues[router_queue(model, fn, "invoke")]
            for trigger in fn.schedules:
                if trigger.enabled:
                    body = json.dumps(events.scheduled_event(trigger))
                    self.client("sqs").send_message(QueueUrl=url, MessageBody=body)
                    sent += 1
        return sent

    def router_health(self) -> dict[str, Any]:
        return self.status().get("router", {}).get("detail") or {}


def _initial_state(paths: StatePaths, options: StackOptions) -> StackState:
    ports = dict(options.ports or {})

    taken: set[int] = set()

    def port(name: str) -> int:
        wanted = int(ports.get(name) or 0)
        if wanted and (wanted in taken or not procs.port_is_free(wanted)):
            raise RuntimeError(f"port {wanted} for {name} is in use")
        chosen = wanted or procs.free_port()
        while chosen in taken:  # the OS may hand out a just-released port again
            chosen = procs.free_port()
        taken.add(chosen)
        return chosen

    services: dict[str, dict[str, Any]] = {}
    for name in SERVICE_ORDER:
        if name == "engine" and options.rekognition_endpoint:
            continue
        p = port(name)
        services[name] = {"port": p, "url": f"http://127.0.0.1:{p}", "log": str(paths.log(name))}
    endpoints = {
        "s3": services["moto"]["url"],
        "sns": services["moto"]["url"],
        "sqs": services["moto"]["url"],
        "dynamodb": services["dynamodb"]["url"],
        "rekognition": options.rekognition_endpoint or services["engine"]["url"],
    }
    gallery = None
    if not options.rekognition_endpoint:
        gallery_dir = options.gallery or paths.root / "gallery"
        gallery_dir.mkdir(parents=True, exist_ok=True)
        gallery = str(gallery_dir.resolve())
    template = (options.template or repo_root() / "template.yaml").resolve()
    state = StackState(
        paths=paths,
        stack_name=options.stack_name,
        template=str(template),
        region=REGION,
        endpoints=endpoints,
        external_rekognition=bool(options.rekognition_endpoint),
        services=services,
        parameters={k: str(v) for k, v in (options.parameters or {}).items()},
        gallery=gallery,
        schedule_seconds=options.schedule_seconds,
        lambda_retries=options.lambda_retries,
    )
    state.save()
    return state


def _healthy(name: str, url: str) -> bool:
    if name == "moto":
        return procs.http_ok(url + "/moto-api/")
    if name == "dynamodb":
        return dynamodb_local.healthy(url)
    return procs.http_ok(url + "/health")


def service_status(paths: StatePaths, state: StackState | None) -> dict[str, dict[str, Any]]:
    """Per service: running (pid alive), healthy (its health check), url, log, detail."""
    import json
    import urllib.request

    result: dict[str, dict[str, Any]] = {}
    for name in SERVICE_ORDER:
        record = procs.read_record(paths.pid(name))
        info = (state.services.get(name) if state else None) or {}
        running = bool(record and record.alive())
        healthy = False
        detail: Any = None
        url = info.get("url")
        if running and url:
            healthy = _healthy(name, url)
            if healthy and name == "router":
                with urllib.request.urlopen(url + "/health", timeout=2) as r:  # noqa: S310
                    detail = json.loads(r.read())
        if name == "engine" and state is not None and state.external_rekognition:
            url = state.endpoints.get("rekognition")
            running = healthy = None  # type: ignore[assignment]
        result[name] = {
            "running": running,
            "healthy": healthy,
            "pid": record.pid if record and running else None,
            "url": url,
            "log": info.get("log") or str(paths.log(name)),
            "detail": detail,
        }
    return result


__all__ = ["FINAL_STATUSES", "Stack", "StackNotRunning", "StackOptions", "service_status"]
