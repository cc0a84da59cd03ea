"""template.yaml as CloudFormation deploys it: transformed by the SAM translator itself, so SAM
policy templates, event-source permissions and the roles SAM adds are expanded, not guessed.

The translator lives in .venv-sam (`make sam-venv`; SAM CLI pins a boto3 of its own), so it
runs there as a subprocess. Local CodeUri / ContentUri paths become S3 URIs first, as
`sam package` would make them.
"""

from __future__ import annotations

import json
import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAM_PYTHON = ROOT / ".venv-sam/bin/python"

_SCRIPT = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class NoManagedPolicyLookups:  # the template names no managed policy for SAM to resolve
    def load(self):
        return {}

doc = yaml_parse(open(sys.argv[1]).read())
for resource in doc["Resources"].values():
    props = resource.get("Properties") or {}
    for key in ("CodeUri", "ContentUri"):
        if isinstance(props.get(key), str):
            props[key] = "s3://packaged/" + props[key].strip("/")
pseudo = {"AWS::Region": "us-east-1", "AWS::Partition": "aws", "AWS::AccountId": "123456789012"}
print(json.dumps(transform(doc, pseudo, NoManagedPolicyLookups())))
"""


@cache
def transformed(template: Path = ROOT / "template.yaml") -> dict[str, Any]:
    if not SAM_PYTHON.is_file():
        pytest.fail(
            f"{SAM_PYTHON} is missing: run `make sam-venv` (the SAM translator lives there)"
        )
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run(
        [str(SAM_PYTHON), "-c", _SCRIPT, str(template)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    if done.returncode:
        pytest.fail(f"SAM transform of {template} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def function_roles(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Function logical id -> the properties of the IAM role SAM made for it."""
    roles = {}
    for logical, resource in doc["Resources"].items():
        if resource["Type"] == "AWS::Lambda::Function":
            role = resource["Properties"]["Role"]["Fn::GetAtt"][0]
            roles[logical] = doc["Resources"][role]["Properties"]
    return roles
