"""Cold-start benchmark: each handler's module import time divided by a bare `import boto3`.

Every figure comes from a fresh interpreter (nothing cached in-process), with the environment
template.yaml gives the function, the handler's CodeUri as the working directory (as Lambda puts
it first on sys.path) and the median of --runs imports. The baseline is measured in the same run,
interleaved with the handlers so machine noise hits both alike.

Two settings per handler:
  lambda   AWS_LAMBDA_FUNCTION_NAME set, so Powertools behaves as deployed (Tracing: Active
           means Tracer imports aws_xray_sdk and patches botocore at import);
  local    the same without it (Powertools turns tracing off outside Lambda).

    .venv/bin/python benchmarks/cold_start.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from cameo_stack import template as cfn

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.25

TIMED = "import time\nt = time.perf_counter()\nimport {module}\nprint(time.perf_counter() - t)\n"
LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "cameo-bench",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_"))}
    env.update({"AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "0"})
    return env


def import_seconds(module: str, cwd: Path, env: dict[str, str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", TIMED.format(module=module)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def top_imports(
    module: str, cwd: Path, env: dict[str, str], baseline: set[str], count: int = 6
) -> list[tuple[str, float]]:
    """The heaviest imports (-X importtime, cumulative) of packages boto3 alone does not load."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows: list[tuple[str, float]] = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        if not cumulative.isdigit():
            continue
        depth = len(name) - len(name.lstrip())
        name = name.strip()
        top = name.split(".")[0]
        # Our own modules only aggregate what they import; name the third-party cost instead.
        if depth <= 6 and top not in baseline and top not in (module, "cameo_core"):
            rows.append((name, int(cumulative) / 1e6))
    return sorted(rows, key=lambda r: -r[1])[:count]


def boto3_modules(env: dict[str, str]) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", "import sys, boto3; print(' '.join(sys.modules))"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return {name.split(".")[0] for name in out.stdout.split()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)

    stack = cfn.load(ROOT / "template.yaml")
    functions = sorted(stack.functions.values(), key=lambda f: f.code_uri.name)
    env = base_env()
    cases: list[tuple[str, cfn.Function | None, dict[str, str]]] = [("boto3", None, env)]
    for fn in functions:
        fn_env = {**env, **fn.environment}
        cases.append((f"{fn.code_uri.name} (lambda)", fn, {**fn_env, **LAMBDA_ENV}))
        cases.append((f"{fn.code_uri.name} (local)", fn, fn_env))

    samples: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    for _ in range(args.runs):  # interleaved: drift and noise spread over every case
        for name, fn, case_env in cases:
            module = "boto3" if fn is None else fn.handler.rpartition(".")[0]
            cwd = ROOT if fn is None else fn.code_uri
            samples[name].append(import_seconds(module, cwd, case_env))

    baseline = statistics.median(samples["boto3"])
    print(f"python {sys.version.split()[0]}, median of {args.runs} fresh interpreters each\n")
    best = min(samples["boto3"])
    print(f"{'import':<34}{'median':>10}{'min':>10}{'ratio':>8}{'min/min':>9}  goal <= {GOAL}x")
    print("-" * 78)
    results = []
    for name, fn, _ in cases:
        median = statistics.median(samples[name])
        ratio = median / baseline
        verdict = "" if fn is None else ("PASS" if ratio <= GOAL else "FAIL")
        if fn is not None and name.endswith("(lambda)"):
            results.append(ratio <= GOAL)
        print(
            f"{name:<34}{median * 1e3:>8.0f}ms{min(samples[name]) * 1e3:>8.0f}ms"
            f"{ratio:>7.2f}x{min(samples[name]) / best:>8.2f}x  {verdict}"
        )

    print("\nratio = median / median of boto3 (the goal); min/min is less sensitive to a busy host")
    print("\nheaviest imports beyond boto3's own (cumulative, as deployed; boto3's own import")
    print("is counted under whichever module imports it first):")
    known = boto3_modules(env)
    for fn in functions:
        fn_env = {**env, **fn.environment, **LAMBDA_ENV}
        heavy = top_imports(fn.handler.rpartition(".")[0], fn.code_uri, fn_env, known)
        listed = ", ".join(f"{name} {seconds * 1e3:.0f}ms" for name, seconds in heavy)
        print(f"  {fn.code_uri.name}: {listed}")
    print("\noverall (as deployed):", "PASS" if all(results) else "FAIL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
