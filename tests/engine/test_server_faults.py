"""Opt-in fault injection: throttling errors on demand, for callers' retry paths."""

from __future__ import annotations

# Fixtures are imported from server_harness; pytest injects them by parameter name.
# ruff: noqa: F811
import json
import urllib.error
import urllib.request

import pytest

from cameo_engine.faults import FaultInjector, FaultRule
from tests.engine.server_harness import (  # noqa: F401 - fixtures
    EngineFactory,
    engine,
    engine_factory,
    fake_backend,
    moto_endpoint,
    rekognition,
    rekognition_client,
)


def arm(endpoint: str, rule: dict | list) -> dict:
    req = urllib.request.Request(
        f"{endpoint}/admin/faults", data=json.dumps(rule).encode(), method="POST"
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def test_armed_throttling_fails_the_next_n_calls_then_clears(engine, rekognition):
    # Given two throttles armed for GetCelebrityInfo through the admin endpoint
    armed = arm(
        engine.endpoint_url,
        {"operation": "GetCelebrityInfo", "error": "ThrottlingException", "count": 2},
    )
    assert armed["Faults"][0]["count"] == 2
    # Then exactly two calls fail, as a 500 fault like AWS's ThrottlingException
    for _ in range(2):
        with pytest.raises(rekognition.exceptions.ThrottlingException) as caught:
            rekognition.get_celebrity_info(Id="1a2b3c")
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert rekognition.get_celebrity_info(Id="1a2b3c")["Name"] == "Ada Lovelace"


def test_faults_only_hit_their_operation(engine, rekognition):
    arm(
        engine.endpoint_url,
        {"operation": "RecognizeCelebrities", "error": "ThrottlingException", "count": 1},
    )
    assert rekognition.get_celebrity_info(Id="1a2b3c")["Name"] == "Ada Lovelace"
    assert engine.faults.rules()[0]["count"] == 1  # still armed


def test_botocore_retries_through_provisioned_throughput_faults(engine):
    arm(
        engine.endpoint_url,
        {
            "operation": "GetCelebrityInfo",
            "error": "ProvisionedThroughputExceededException",
            "count": 2,
        },
    )
    client = rekognition_client(engine.endpoint_url, attempts=3)
    info = client.get_celebrity_info(Id="4d5e6f")
    assert info["Name"] == "Alan Turing"
    assert info["ResponseMetadata"]["RetryAttempts"] == 2


def test_provisioned_throughput_exceeded_is_a_400(engine, rekognition):
    arm(
        engine.endpoint_url,
        {"operation": "*", "error": "ProvisionedThroughputExceededException", "count": 1},
    )
    with pytest.raises(rekognition.exceptions.ProvisionedThroughputExceededException) as caught:
        rekognition.get_celebrity_recognition(JobId="any")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_probability_faults_from_config_and_env(engine_factory: EngineFactory, monkeypatch):
    monkeypatch.setenv("CAMEO_ENGINE_FAULTS", "GetCelebrityInfo:ThrottlingException:p=1")
    engine = engine_factory(faults=["RecognizeCelebrities:ThrottlingException:count=1"])
    client = rekognition_client(engine.endpoint_url)
    for _ in range(3):
        with pytest.raises(client.exceptions.ThrottlingException):
            client.get_celebrity_info(Id="1a2b3c")
    assert {r["operation"] for r in engine.faults.rules()} == {
        "GetCelebrityInfo",
        "RecognizeCelebrities",
    }


def test_delete_clears_faults_and_bad_rules_are_refused(engine, rekognition):
    arm(engine.endpoint_url, {"operation": "*", "error": "ThrottlingException", "probability": 1})
    req = urllib.request.Request(f"{engine.endpoint_url}/admin/faults", method="DELETE")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert json.load(resp) == {"Faults": []}
    assert rekognition.get_celebrity_info(Id="1a2b3c")["Name"] == "Ada Lovelace"
    with pytest.raises(urllib.error.HTTPError) as caught:
        arm(engine.endpoint_url, {"operation": "*", "error": "NoSuchError", "count": 1})
    assert caught.value.code == 400


@pytest.mark.parametrize(
    "spec",
    [
        "GetCelebrityInfo:ThrottlingException",
        "GetCelebrityInfo:ThrottlingException:count=0",
        "GetCelebrityInfo:ThrottlingException:p=1.5",
        "GetCelebrityInfo:Nope:count=1",
        "GetCelebrityInfo:ThrottlingException:n=1",
    ],
)
def test_bad_fault_specs_are_refused(spec):
    with pytest.raises(ValueError):
        FaultRule.parse(spec)


def test_probability_rule_fires_at_about_its_rate():
    injector = FaultInjector([FaultRule("*", "ThrottlingException", probability=0.3)], seed=7)
    fired = 0
    for _ in range(1000):
        try:
            injector.check("GetCelebrityInfo")
        except Exception:
            fired += 1
    assert 250 < fired < 350
