"""`cameo stack ...`, `cameo upload`, `cameo wait`, `cameo demo`, `cameo invoke`, `cameo dlq ...`.

Mounted on the project CLI by ``register(app)``. Only typer is imported at module level so that
``cameo --help`` stays fast; boto3, moto and matplotlib load inside the commands that use them.

``cameo wait`` exit codes: 0 SUCCEEDED; 1 FAILED; 3 REJECTED or SKIPPED (final, recorded with a
reason, but not analysed); 4 not final before --timeout; 5 no running stack.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

EXIT_FAILED = 1
EXIT_NOT_ANALYSED = 3
EXIT_TIMEOUT = 4
EXIT_NO_STACK = 5

stack_app = typer.Typer(
    help="The offline stack: moto, DynamoDB Local, engine, event router.", no_args_is_help=True
)
dlq_app = typer.Typer(
    help="Failed asynchronous invocations (after 2 retries).", no_args_is_help=True
)


def _err(text: str) -> None:
    typer.secho(text, fg="red", err=True)


def _info(text: str) -> None:
    typer.echo(text, err=True)


def _current() -> Any:
    from cameo_stack.stack import Stack
    from cameo_stack.state import StackNotRunning

    try:
        return Stack.current()
    except StackNotRunning as exc:
        _err(str(exc))
        raise typer.Exit(EXIT_NO_STACK) from exc


# -- stack ------------------------------------------------------------------------------------


@stack_app.command("up")
def stack_up(
    gallery: Annotated[
        Path | None,
        typer.Option(
            help="Gallery folder for the local engine (default: an empty .stack/gallery)."
        ),
    ] = None,
    rekognition_endpoint: Annotated[
        str | None,
        typer.Option(help="Use this Rekognition-compatible endpoint instead of the local engine."),
    ] = None,
    foreground: Annotated[
        bool, typer.Option(help="Stay attached; Ctrl-C stops the stack.")
    ] = False,
    max_concurrent_jobs: Annotated[
        int, typer.Option(help="Engine: IN_PROGRESS jobs before LimitExceededException.")
    ] = 20,
    engine_workers: Annotated[int, typer.Option(help="Engine: jobs processed at once.")] = 1,
    sample_fps: Annotated[float, typer.Option(help="Engine: frames analysed per second.")] = 5.0,
    fixed_job_seconds: Annotated[
        float | None,
        typer.Option(help="Engine: every job lasts this long and decodes nothing (load tests)."),
    ] = None,
    parameter: Annotated[
        list[str] | None,
        typer.Option(
            help="Template parameter override NAME=VALUE (e.g. MaxConcurrentJobs=3); repeatable."
        ),
    ] = None,
    schedule_seconds: Annotated[
        float,
        typer.Option(help="The template's schedules (the sweep) fire this often; 0: never."),
    ] = 5.0,
    lambda_retries: Annotated[
        int | None,
        typer.Option(help="MaximumRetryAttempts of every function (0: off); default: template's."),
    ] = None,
    moto_port: Annotated[int, typer.Option(help="0: a free port.")] = 0,
    dynamodb_port: Annotated[int, typer.Option(help="0: a free port.")] = 0,
    engine_port: Annotated[int, typer.Option(help="0: a free port.")] = 0,
    router_port: Annotated[int, typer.Option(help="0: a free port.")] = 0,
    api_port: Annotated[int, typer.Option(help="HTTP API and page; 0: a free port.")] = 0,
) -> None:
    """Start the stack in the background (or in the foreground) and print how to use it."""
    from cameo_stack.stack import Stack, StackOptions

    options = StackOptions(
        gallery=gallery.resolve() if gallery else None,
        rekognition_endpoint=rekognition_endpoint,
        ports={
            "moto": moto_port,
            "dynamodb": dynamodb_port,
            "engine": engine_port,
            "router": router_port,
            "api": api_port,
        },
        engine_max_concurrent_jobs=max_concurrent_jobs,
        engine_workers=engine_workers,
        engine_sample_fps=sample_fps,
        engine_fixed_job_seconds=fixed_job_seconds,
        parameters=_parameters(parameter or []),
        schedule_seconds=schedule_seconds,
        lambda_retries=lambda_retries,
        log=lambda line: _info(f"  {line}"),
    )
    if gallery is not None and not gallery.is_dir():
        _err(f"gallery {gallery} is not a folder")
        raise typer.Exit(2)
    _info("starting the offline stack")
    try:
        stack = Stack.up(options)
    except RuntimeError as exc:
        _err(f"stack up failed: {exc}")
        raise typer.Exit(1) from exc
    _info(f"ready. bucket s3://{stack.state.video_bucket}  table {stack.state.table}")
    _info('point your shell at it:  eval "$(cameo stack env)"')
    if "api" in stack.state.services:
        _info(f"HTTP API and timeline page: {stack.state.services['api']['url']}/")
    if foreground:
        import signal
        import threading

        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        try:
            _info("running in the foreground; Ctrl-C stops it")
            done.wait()
        except KeyboardInterrupt:
            pass
        finally:
            stopped = stack.down()
            _info(f"stopped: {', '.join(stopped) or 'nothing was running'}")


def _parameters(pairs: list[str]) -> dict[str, str]:
    parameters = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            _err(f"--parameter {pair!r}: use NAME=VALUE")
            raise typer.Exit(2)
        parameters[name] = value
    return parameters


@stack_app.command("down")
def stack_down() -> None:
    """Stop every service of the stack (process groups, no strays)."""
    from cameo_stack.stack import Stack

    stopped = Stack.stop_all()
    _info(f"stopped: {', '.join(stopped)}" if stopped else "the stack was not running")


@stack_app.command("restart")
def stack_restart(
    service: Annotated[
        list[str] | None,
        typer.Option(
            help="Only these (moto, dynamodb, engine, router, api); repeatable. Default: all."
        ),
    ] = None,
) -> None:
    """Restart services on the same ports. DynamoDB and engine data survive; moto's do not."""
    from cameo_stack.stack import SERVICE_ORDER

    stack = _current()
    try:
        restarted = stack.restart(tuple(service) if service else SERVICE_ORDER)
    except (ValueError, RuntimeError) as exc:
        _err(str(exc))
        raise typer.Exit(1) from exc
    _info(f"restarted: {', '.join(restarted)}")


@stack_app.command("status")
def stack_status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
) -> None:
    """Each service: running, healthy, URL, log file. Exit 1 unless all are healthy."""
    from cameo_stack.paths import StatePaths
    from cameo_stack.stack import service_status
    from cameo_stack.state import StackNotRunning, StackState

    paths = StatePaths.default()
    try:
        state: StackState | None = StackState.load(paths)
    except StackNotRunning:
        state = None
    status = service_status(paths, state)
    if as_json:
        typer.echo(json.dumps(status, indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"cameo offline stack ({paths.root})")
        for column in ("service", "state", "url", "log"):
            table.add_column(column)
        for name, info in status.items():
            if info["running"] is None:
                state_text = "[cyan]external[/cyan]"
            elif info["healthy"]:
                state_text = f"[green]healthy[/green] (pid {info['pid']})"
            elif info["running"]:
                state_text = "[yellow]running, not healthy[/yellow]"
            else:
                state_text = "[red]stopped[/red]"
            table.add_row(name, state_text, info["url"] or "-", info["log"])
        Console(stderr=False).print(table)
        router = status["router"].get("detail") or {}
        for fn, counters in (router.get("functions") or {}).items():
            typer.echo(
                f"  {fn}: {counters['invocations']} invocations, {counters['errors']} errors, "
                f"{counters['retries_scheduled']} retries, {counters['dead_lettered']} to DLQ"
                + (f" (last: {counters['last_error']})" if counters.get("last_error") else "")
            )
    healthy = all(info["healthy"] or info["running"] is None for info in status.values())
    raise typer.Exit(0 if healthy else 1)


@stack_app.command("env")
def stack_env(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
) -> None:
    """Exports pointing boto3, the AWS CLI and cameo at the stack: eval "$(cameo stack env)"."""
    import shlex

    env = _current().env()
    if as_json:
        typer.echo(json.dumps(env, indent=2))
        return
    for key, value in env.items():
        typer.echo(f"export {key}={shlex.quote(value)}")


# -- using it ---------------------------------------------------------------------------------


def upload(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    key: Annotated[str | None, typer.Option(help="Object key (default: the file name).")] = None,
) -> None:
    """Drop a file into the stack's videos bucket, as a user would. Prints its s3:// URI."""
    uri = _current().upload(file, key)
    typer.echo(uri)


def wait(
    uri: Annotated[str, typer.Argument(help="s3://BUCKET/KEY")],
    timeout: Annotated[float, typer.Option(help="Seconds before giving up (exit 4).")] = 600,
    as_json: Annotated[bool, typer.Option("--json", help="Print the video item as JSON.")] = False,
) -> None:
    """Block until the video's status is final, showing progress.

    Exit codes: 0 SUCCEEDED, 1 FAILED, 3 REJECTED/SKIPPED, 4 timeout, 5 no running stack.
    """
    stack = _current()
    item = _wait(stack, uri, timeout)
    if as_json:
        typer.echo(json.dumps(item, default=str, indent=2))
    raise typer.Exit(_exit_code(item))


def _wait(stack: Any, uri: str, timeout: float, min_submitted_at: str | None = None) -> Any:
    import time

    started = time.monotonic()

    def progress(line: str, _item: Any) -> None:
        _info(f"  [{time.monotonic() - started:5.1f}s] {uri}: {line}")

    try:
        item = stack.wait(
            uri, timeout=timeout, progress=progress, min_submitted_at=min_submitted_at
        )
    except TimeoutError as exc:
        _err(str(exc))
        raise typer.Exit(EXIT_TIMEOUT) from exc
    reason = f" ({item['reason']})" if item.get("reason") else ""
    colour = "green" if item["status"] == "SUCCEEDED" else "red"
    typer.secho(f"{uri}: {item['status']}{reason}", fg=colour, err=True)
    return item


def _exit_code(item: Any) -> int:
    status = item.get("status")
    if status == "SUCCEEDED":
        return 0
    if status in ("REJECTED", "SKIPPED"):
        return EXIT_NOT_ANALYSED
    return EXIT_FAILED


def invoke(
    function: Annotated[
        str,
        typer.Argument(
            help="Logical id (StartRecognitionFunction), name, or code dir (start_recognition)."
        ),
    ],
    event_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Run one handler on one event file against the running stack (sam local invoke, no Docker)."""
    from cameo_stack.lambda_runtime import invoke_once

    stack = _current()
    fn = stack.state.model().function(function)
    event = json.loads(event_file.read_text())
    _info(f"invoking {fn.logical_id} ({fn.handler}, timeout {fn.timeout}s) with {event_file}")
    result = invoke_once(fn, event, stack.state.function_env(), log=sys.stderr.buffer)
    _info(f"{result.duration_ms:.0f} ms, request id {result.request_id}")
    typer.echo(json.dumps(result.result if result.ok else result.error, indent=2, default=str))
    raise typer.Exit(0 if result.ok else 1)


def demo(
    video: Annotated[
        Path | None,
        typer.Option(help="Your video (default: one synthesized from public-figure photos)."),
    ] = None,
    gallery: Annotated[
        Path | None, typer.Option(help="Your gallery folder (default: built from the same photos).")
    ] = None,
    output: Annotated[Path, typer.Option(help="Where the timeline PNG goes.")] = Path(
        "demo-output"
    ),
    keep_running: Annotated[bool, typer.Option(help="Leave the stack up afterwards.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the pipeline.")] = 600,
) -> None:
    """The whole job offline: gallery + video -> stack -> appearances table -> timeline PNG."""
    from cameo_stack.demo import run_demo

    raise typer.Exit(
        run_demo(
            video=video, gallery=gallery, output=output, keep_running=keep_running, timeout=timeout
        )
    )


# -- dead-letter queues -----------------------------------------------------------------------


StackOption = Annotated[
    str | None,
    typer.Option(
        "--stack",
        help="A deployed CloudFormation stack (AWS, boto3's credentials). Default: offline.",
    ),
]
RegionOption = Annotated[str | None, typer.Option(help="AWS region (with --stack).")]
ProfileOption = Annotated[str | None, typer.Option(help="AWS named profile (with --stack).")]


def _aws(stack: str, region: str | None, profile: str | None) -> tuple[Any, list[Any], Any]:
    """(a client factory, the stack's failure queues, {function: logical id}) of a deployed
    stack."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from cameo_core.clients import RETRY_CONFIG
    from cameo_stack.dlq import aws_queues
    from cameo_stack.paths import repo_root

    try:  # a --profile typo (ProfileNotFound) fails here
        session = boto3.session.Session(profile_name=profile, region_name=region)
    except BotoCoreError as exc:
        _err(f"cameo: error: {exc}")
        raise typer.Exit(1) from exc

    def client(service: str) -> Any:
        return session.client(service, config=RETRY_CONFIG)

    try:
        queues, functions = aws_queues(
            client("cloudformation"),
            stack,
            repo_root() / "template.yaml",
        )
    except (BotoCoreError, ClientError) as exc:
        _err(f"cameo: error: {exc}")
        raise typer.Exit(1) from exc
    return client, queues, functions


def _dlq_progress(count: int) -> None:
    if count:
        _err(f"  {count} event(s) redriven so far")


@dlq_app.command("list")
def dlq_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
    stack: StackOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """What failed after all retries (per function or topic), with the error."""
    from cameo_stack import dlq

    if stack:
        from botocore.exceptions import BotoCoreError, ClientError

        client, queues, functions = _aws(stack, region, profile)
        try:
            found = dlq.failures(client("sqs"), queues, wait=1)
        except (BotoCoreError, ClientError) as exc:
            _err(f"cameo: error: {exc}")
            raise typer.Exit(1) from exc
        entries = [dlq.describe(f, functions) for f in found]
    else:
        entries = dlq.peek(_current())
    if as_json:
        typer.echo(json.dumps(entries, indent=2, default=str))
        return
    if not entries:
        typer.echo("no failed invocations")
        return
    for entry in entries:
        typer.echo(
            f"{entry['function']} ({entry['queue']}): {entry['event']}\n    "
            f"{entry['condition']} after {entry.get('attempts') or '?'} attempts: {entry['error']}"
        )


@dlq_app.command("redrive")
def dlq_redrive(
    function: Annotated[
        str | None, typer.Option(help="Only this function's failures (logical id).")
    ] = None,
    queue: Annotated[
        str | None, typer.Option(help="Only this queue (logical id, e.g. CompletionDeliveryDLQ).")
    ] = None,
    stack: StackOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """Send failed events back: an invocation record to its function (a new asynchronous
    invocation, fresh retries), an undelivered SNS message to its topic again."""
    from botocore.exceptions import BotoCoreError, ClientError

    from cameo_stack import dlq

    try:
        if stack:
            client, queues, functions = _aws(stack, region, profile)
            dlq.check_names(queues, functions.values(), function, queue)
            count = dlq.redrive_queues(
                client("sqs"),
                queues,
                dlq.AwsSender(client("lambda"), client("sns")),
                function=function,
                queue=queue,
                functions=functions,
                wait=1,
                progress=_dlq_progress,
            )
        else:
            count = dlq.redrive(_current(), function, queue, progress=_dlq_progress)
    except ValueError as exc:  # an unknown --queue or --function
        _err(f"cameo: error: {exc}")
        raise typer.Exit(1) from exc
    except dlq.RedriveError as exc:
        # The event being sent (and the rest of its batch) stays in its queue.
        _err(f"cameo: error: {exc}; the event being sent stays in its queue")
        raise typer.Exit(1) from exc
    except (BotoCoreError, ClientError) as exc:
        _err(f"cameo: error: {exc}")
        raise typer.Exit(1) from exc
    typer.echo(f"redrove {count} event(s)")


def register(app: typer.Typer) -> None:
    app.add_typer(stack_app, name="stack")
    app.add_typer(dlq_app, name="dlq")
    app.command("upload")(upload)
    app.command("wait")(wait)
    app.command("demo")(demo)
    app.command("invoke")(invoke)
