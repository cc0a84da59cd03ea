"""The event router: what Lambda's service integrations do in AWS, for the offline stack.

Run as ``python -m cameo_stack.router --state-dir .stack`` (``cameo stack up`` does). It reads
the stack's state file (endpoints, queue URLs) and template.yaml, then for every function polls
its router queues (see cameo_stack.provision) and invokes the function's handler with Lambda's
event shapes, in warm worker processes that enforce the function's Timeout.

Asynchronous invocation semantics (S3 and SNS invoke Lambda asynchronously):

* a failed invocation is retried ``MaximumRetryAttempts`` times (template; Lambda's default 2);
  the message stays in its queue meanwhile, hidden for the retry delay, so a router restart
  loses nothing; SQS's ApproximateReceiveCount is the attempt number;
* Lambda waits about 1 and 2 minutes between attempts; locally the delays are
  ``CAMEO_ROUTER_RETRY_DELAYS`` seconds (default "5,10"), with the same 1:2 shape;
* events older than ``MaximumEventAgeInSeconds`` are not retried;
* what still fails goes to the function's OnFailure destination (an invocation record with the
  error) or DeadLetterQueue (the bare event) from the template, else to ``{stack}-router-dlq``;
  ``cameo dlq redrive`` sends those events back through the function's ``-invoke`` queue.

Schedules (EventBridge rules and Scheduler schedules, also asynchronous invocations): each
enabled one sends its event to the function's ``-invoke`` queue every ``schedule_seconds``
of the stack (its option, a few seconds), not at the template's rate.

With ``--prewarm`` every triggered function's environments (its concurrency) are started and
initialized before the router accepts events, like provisioned concurrency: on AWS a burst's
cold starts run side by side on their own hosts, here they would queue on a few shared cores.

A small HTTP endpoint on 127.0.0.1 serves ``GET /health`` with per-function counters.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cameo_stack import events
from cameo_stack.lambda_runtime import FunctionPool, Invocation, function_environment
from cameo_stack.paths import StatePaths
from cameo_stack.provision import fallback_dlq_name, router_queue
from cameo_stack.state import StackState, boto_client
from cameo_stack.template import Function, ScheduleTrigger, StackModel

log = logging.getLogger("cameo_stack.router")

POLL_WAIT_S = 1  # long-poll wait; short so that shutdown is quick
VISIBILITY_MARGIN_S = 30


def retry_delays() -> list[float]:
    raw = os.environ.get("CAMEO_ROUTER_RETRY_DELAYS", "5,10")
    return [float(x) for x in raw.split(",") if x.strip()]


@dataclass
class Counters:
    invocations: int = 0
    succeeded: int = 0
    errors: int = 0
    timeouts: int = 0
    retries_scheduled: int = 0
    dead_lettered: int = 0
    scheduled: int = 0  # schedule ticks sent
    in_flight: int = 0
    last_error: str | None = None


class BatchDeleter:
    """Handled messages leave their queues in batches (DeleteMessageBatch, up to 10 a request),
    as Lambda's own pollers do: one request per batch, not one per event. Batches form by
    themselves under load: what arrives while a request is in flight goes in the next one."""

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs
        self._pending: dict[str, list[str]] = {}
        self._ready = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="sqs-deletes")
        self._thread.start()

    def delete(self, url: str, receipt: str) -> None:
        with self._ready:
            self._pending.setdefault(url, []).append(receipt)
            self._ready.notify()

    def _take(self) -> list[tuple[str, list[str]]]:
        batches = [
            (url, r[i : i + 10]) for url, r in self._pending.items() for i in range(0, len(r), 10)
        ]
        self._pending = {}
        return batches

    def _run(self) -> None:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: self._pending or self._stopped)
                if self._stopped and not self._pending:
                    return
                batches = self._take()
            for url, receipts in batches:
                self._send(url, receipts)

    def _send(self, url: str, receipts: list[str]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(receipts)]
        try:
            failed = self._sqs.delete_message_batch(QueueUrl=url, Entries=entries).get("Failed")
        except Exception as exc:  # noqa: BLE001 (moto restarting: the messages come back)
            log.warning("delete of %d handled message(s) failed: %s", len(receipts), exc)
            return
        for failure in failed or []:
            # The message reappears after its visibility timeout: handled twice, as SQS allows.
            log.warning("delete of a handled message failed: %s", failure.get("Message"))

    def close(self) -> None:
        with self._ready:
            self._stopped = True
            self._ready.notify()
        self._thread.join(timeout=10)


@dataclass
class FunctionRoute:
    fn: Function
    pool: FunctionPool
    queues: dict[str, str]  # source -> queue URL
    failure_queue_url: str
    executor: ThreadPoolExecutor
    counters: Counters = field(default_factory=Counters)


class Router:
    def __init__(self, state: StackState, model: StackModel, *, concurrency: int) -> None:
        self.state = state
        self.model = model
        self.stop_event = threading.Event()
        self._pollers: list[threading.Thread] = []
        self.sqs = boto_client("sqs", state)
        self.deletes = BatchDeleter(self.sqs)
        self.routes: dict[str, FunctionRoute] = {}
        self._in_flight: dict[str, tuple[str, str]] = {}  # request id -> (queue URL, receipt)
        self._lock = threading.Lock()
        stack_env = state.function_env()
        for fn in model.functions.values():
            width = fn.reserved_concurrency or concurrency
            queues = {
                source: state.router_queues[router_queue(model, fn, source)]
                for source in ("invoke", "s3", "sns")
                if router_queue(model, fn, source) in state.router_queues
            }
            failure = (
                state.queues[fn.on_failure_queue]
                if fn.on_failure_queue
                else state.queue_url(fallback_dlq_name(model))
            )
            self.routes[fn.logical_id] = FunctionRoute(
                fn=fn,
                pool=FunctionPool(
                    fn,
                    function_environment(fn, stack_env),
                    width,
                    state.paths.logs / "functions" / f"{fn.logical_id}.log",
                ),
                queues=queues,
                failure_queue_url=failure,
                executor=ThreadPoolExecutor(width, thread_name_prefix=fn.logical_id),
            )

    def prewarm(self) -> dict[str, int]:
        """Every event-triggered function's environments, initialized before the first event."""
        triggered = [
            route
            for route in self.routes.values()
            if route.fn.s3 or route.fn.sns or route.fn.sqs or route.fn.schedules
        ]
        with ThreadPoolExecutor(max(1, len(triggered))) as pool:
            warm = pool.map(lambda route: route.pool.prewarm(), triggered)
            return {route.fn.logical_id: n for route, n in zip(triggered, warm, strict=True)}

    # -- polling ----------------------------------------------------------------------------

    def run(self) -> None:
        threads = [
            threading.Thread(
                target=self._poll,
                args=(route, source, url),
                daemon=True,
                name=f"poll-{route.fn.logical_id}-{source}",
            )
            for route in self.routes.values()
            for source, url in route.queues.items()
        ]
        period = self.state.schedule_seconds
        ticks = [
            threading.Thread(
                target=self._tick,
                args=(route, trigger, period),
                daemon=True,
                name=f"schedule-{route.fn.logical_id}-{trigger.name}",
            )
            for route in self.routes.values()
            for trigger in route.fn.schedules
            if trigger.enabled and period > 0
        ]
        self._pollers = threads + ticks
        for thread in self._pollers:
            thread.start()
        log.info(
            "router polling %d queues for %d functions; %d schedule(s) every %gs",
            len(threads),
            len(self.routes),
            len(ticks),
            period,
        )
        self.stop_event.wait()

    def _tick(self, route: FunctionRoute, trigger: ScheduleTrigger, period: float) -> None:
        url = route.queues["invoke"]
        while not self.stop_event.wait(period):
            try:
                self.sqs.send_message(
                    QueueUrl=url, MessageBody=json.dumps(events.scheduled_event(trigger))
                )
            except Exception as exc:  # noqa: BLE001 (moto restarting: the next tick will do)
                log.warning("schedule %s: could not send its event: %s", trigger.name, exc)
                continue
            with self._lock:
                route.counters.scheduled += 1

    def _poll(self, route: FunctionRoute, source: str, url: str) -> None:
        visibility = route.fn.timeout + VISIBILITY_MARGIN_S
        batch = max(1, min(10, route.pool.concurrency))
        while not self.stop_event.is_set():
            # Poll only while a worker is free (the rest waits in SQS, not in memory), but do
            # not hold that worker through the long poll: the function's other sources (S3
            # events, completions, schedules) need it too, as Lambda serves them side by side.
            if not route.pool.slots.acquire(timeout=POLL_WAIT_S):
                continue
            route.pool.slots.release()
            try:
                response = self.sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=batch,
                    WaitTimeSeconds=POLL_WAIT_S,
                    VisibilityTimeout=visibility,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
            except Exception as exc:  # noqa: BLE001 (moto restarting: keep polling)
                log.warning("receive from %s failed: %s", url, exc)
                self.stop_event.wait(1)
                continue
            messages = response.get("Messages", [])
            for index, message in enumerate(messages):
                if not self._take_worker(route):
                    # Shutting down: let the rest reappear at once for the next router.
                    for rest in messages[index:]:
                        self._release(url, rest["ReceiptHandle"])
                    break
                route.executor.submit(self._handle_and_release, route, source, url, message)

    def _take_worker(self, route: FunctionRoute) -> bool:
        """Wait for a free worker of the function; False when the router stops meanwhile."""
        while not self.stop_event.is_set():
            if route.pool.slots.acquire(timeout=POLL_WAIT_S):
                if not self.stop_event.is_set():
                    return True
                route.pool.slots.release()
        return False

    def _handle_and_release(
        self, route: FunctionRoute, source: str, url: str, message: dict[str, Any]
    ) -> None:
        try:
            self._handle(route, source, url, message)
        except Exception:
            log.exception("router error on a %s message for %s", source, route.fn.logical_id)
        finally:
            route.pool.slots.release()

    # -- one message = one asynchronous invocation attempt -----------------------------------

    def _handle(self, route: FunctionRoute, source: str, url: str, message: dict[str, Any]) -> None:
        fn = route.fn
        receipt = message["ReceiptHandle"]
        body = json.loads(message["Body"])
        if source == "s3" and events.is_s3_test_event(body):
            self.deletes.delete(url, receipt)
            return
        if source == "sns":
            event = events.sns_event(body, events.subscription_arn(fn, body["TopicArn"]))
        else:
            event = body
        attributes = message.get("Attributes", {})
        attempt = int(attributes.get("ApproximateReceiveCount", "1"))
        sent_ms = int(attributes.get("SentTimestamp", str(int(time.time() * 1000))))
        # One request id per event, stable across its retries (Lambda keeps it too).
        request_id = str(uuid.uuid5(uuid.NAMESPACE_OID, message["MessageId"]))

        with self._lock:
            self._in_flight[f"{request_id}:{attempt}"] = (url, receipt)
            route.counters.in_flight += 1
            route.counters.invocations += 1
        try:
            result = route.pool.invoke(event, request_id)
        finally:
            with self._lock:
                self._in_flight.pop(f"{request_id}:{attempt}", None)
                route.counters.in_flight -= 1
        if self.stop_event.is_set() and not result.ok:
            # Killed by our own shutdown: not the function's failure. Redeliver after restart.
            self._release(url, receipt)
            return
        self._log_invocation(fn, source, attempt, result)
        if result.ok:
            route.counters.succeeded += 1
            self.deletes.delete(url, receipt)
            return

        route.counters.errors += 1
        route.counters.last_error = result.error_summary
        if result.error and result.error.get("errorType") == "Sandbox.Timedout":
            route.counters.timeouts += 1
        age_s = time.time() - sent_ms / 1000
        delays = retry_delays()
        if attempt <= fn.max_retry_attempts and age_s < fn.max_event_age:
            delay = delays[min(attempt - 1, len(delays) - 1)] if delays else 0
            route.counters.retries_scheduled += 1
            self.sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=int(delay)
            )
            return
        condition = "RetriesExhausted" if age_s < fn.max_event_age else "EventAgeExceeded"
        self._dead_letter(route, event, request_id, attempt, condition, result)
        self.deletes.delete(url, receipt)

    def _dead_letter(
        self,
        route: FunctionRoute,
        event: Any,
        request_id: str,
        attempts: int,
        condition: str,
        result: Invocation,
    ) -> None:
        fn = route.fn
        if fn.on_failure_is_destination:
            record = events.failure_record(fn, event, request_id, attempts, condition, result.error)
            self.sqs.send_message(QueueUrl=route.failure_queue_url, MessageBody=json.dumps(record))
        else:
            body, attributes = events.dlq_message(fn, event, request_id, result.error)
            self.sqs.send_message(
                QueueUrl=route.failure_queue_url, MessageBody=body, MessageAttributes=attributes
            )
        route.counters.dead_lettered += 1
        log.error(
            "%s: event %s dead-lettered after %d attempts (%s): %s",
            fn.logical_id,
            request_id,
            attempts,
            condition,
            result.error_summary,
        )

    def _release(self, url: str, receipt: str) -> None:
        with contextlib.suppress(Exception):
            self.sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0
            )

    def _log_invocation(self, fn: Function, source: str, attempt: int, result: Invocation) -> None:
        outcome = "ok" if result.ok else f"error {result.error_summary}"
        log.info(
            "%s %s attempt=%d request=%s %.0fms%s %s",
            fn.logical_id,
            source,
            attempt,
            result.request_id,
            result.duration_ms,
            " cold" if result.cold_start else "",
            outcome,
        )

    # -- shutdown ----------------------------------------------------------------------------

    def shutdown(self) -> None:
        self.stop_event.set()
        # A receive still in flight can return a message after the stop: its poller releases
        # it, so wait for the pollers; otherwise that message stays hidden for the whole
        # visibility timeout (the function's Timeout + margin) and nothing handles it meanwhile.
        for thread in self._pollers:
            thread.join(timeout=POLL_WAIT_S + 10)
        for route in self.routes.values():
            route.pool.shutdown()  # kills running invocations: their messages come back below
        with self._lock:
            in_flight = list(self._in_flight.values())
        for url, receipt in in_flight:
            self._release(url, receipt)
        for route in self.routes.values():
            route.executor.shutdown(wait=True, cancel_futures=True)
        self.deletes.close()

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "functions": {logical: vars(route.counters) for logical, route in self.routes.items()},
        }


def _serve_health(router: Router, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/health":
                self.send_error(404)
                return
            body = json.dumps(router.health()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="health").start()
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="concurrent invocations per function without ReservedConcurrency",
    )
    parser.add_argument(
        "--prewarm",
        action="store_true",
        help="initialize every triggered function's environments before accepting events",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    state = StackState.load(StatePaths(args.state_dir.resolve()))
    router = Router(state, state.model(), concurrency=args.concurrency)
    if args.prewarm:  # before /health answers, so `cameo stack up` returns with them warm
        started = time.monotonic()
        warm = router.prewarm()
        log.info("pre-warmed %s in %.1fs", warm, time.monotonic() - started)
    server = _serve_health(router, args.port)

    def on_signal(signum: int, _frame: Any) -> None:
        router.stop_event.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        router.run()
    finally:
        log.info("router stopping")
        router.shutdown()
        server.shutdown()


if __name__ == "__main__":
    main()
