"""Rekognition for integration tests: a real botocore client (so the adapter's requests are
validated against the service model) whose calls a before-call hook answers from prepared pages,
in any number and order (botocore's Stubber wants them in one fixed sequence)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

from cameo_core.clients import RETRY_CONFIG
from tests.integration.fixtures_local import REGION
from tests.support.fakes import detection

CELEBRITIES = ["ann", "bob", "cy", "dee"]
# Three pages, 36 one-detection appearances (more than one batch of 25) of four celebrities.
PAGES = [
    {
        "JobStatus": "SUCCEEDED",
        "Celebrities": [
            detection(t, CELEBRITIES[t // 10_000 % 4], CELEBRITIES[t // 10_000 % 4].title())
            for t in range(page * 120_000, (page + 1) * 120_000, 10_000)
        ],
        **({"NextToken": f"t{page + 1}"} if page < 2 else {}),
    }
    for page in range(3)
]


@dataclass
class FakeRekognition:
    """A real botocore client, answered from PAGES; remembers the jobs it started."""

    started: list[str] = field(default_factory=list)

    def client(self) -> Any:
        client = boto3.client("rekognition", region_name=REGION, config=RETRY_CONFIG)
        client.meta.events.register("before-call.rekognition", self._answer)
        return client

    def _answer(self, model: Any, params: dict[str, Any], **_: Any) -> Any:
        body = json.loads(params["body"] or b"{}")
        if model.name == "StartCelebrityRecognition":
            job_id = f"job-{body['ClientRequestToken'][:12]}"
            if job_id not in self.started:
                self.started.append(job_id)
            return AWSResponse("", 200, {}, None), {"JobId": job_id}
        if model.name == "GetCelebrityRecognition":
            token = body.get("NextToken")
            index = 0 if token is None else int(token[1:])
            return AWSResponse("", 200, {}, None), PAGES[index]
        raise AssertionError(f"unexpected Rekognition call {model.name}")
