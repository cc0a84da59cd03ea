"""The engine's Rekognition API as a stock boto3 client sees it: operations, errors, paging."""

from __future__ import annotations

# Fixtures are imported from server_harness; pytest injects them by parameter name.
# ruff: noqa: F811
import base64
import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ParamValidationError

from tests.engine.server_harness import (  # noqa: F401 - fixtures
    ROLE_ARN,
    Aws,
    EngineFactory,
    engine,
    engine_factory,
    fake_backend,
    moto_aws,
    moto_endpoint,
    rekognition,
    rekognition_client,
    start_job,
    video_script,
    wait_done,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def http(url: str, *, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def finished_job(client: Any, moto_aws: Aws, detections: int, key: str = "clip.mp4") -> str:
    moto_aws.put_video(key, video_script(detections=detections))
    job_id = start_job(client, moto_aws.bucket, key)
    assert wait_done(client, job_id)["JobStatus"] == "SUCCEEDED"
    return job_id


def all_pages(client: Any, job_id: str, **kwargs: Any) -> list[dict[str, Any]]:
    pages = [client.get_celebrity_recognition(JobId=job_id, **kwargs)]
    while "NextToken" in pages[-1]:
        pages.append(
            client.get_celebrity_recognition(
                JobId=job_id, NextToken=pages[-1]["NextToken"], **kwargs
            )
        )
    return pages


# -- protocol ----------------------------------------------------------------------------


def test_health_answers_200_once_ready(engine):
    status, body = http(f"{engine.endpoint_url}/health")
    assert (status, body["status"]) == (200, "ok")


def test_errors_have_the_aws_json_shape_and_status(engine):
    # Given a raw JSON 1.1 request for an unknown job
    status, body = http(
        engine.endpoint_url + "/",
        method="POST",
        body={"JobId": "nope"},
        headers={
            "X-Amz-Target": "RekognitionService.GetCelebrityRecognition",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    # Then the error is AWS-shaped, with a client-error status
    assert status == 400
    assert body["__type"] == "ResourceNotFoundException"
    assert "nope" in body["Message"]


@pytest.mark.parametrize(
    ("target", "payload", "error"),
    [
        ("RekognitionService.DetectLabels", b"{}", "UnknownOperationException"),
        ("", b"{}", "UnknownOperationException"),
        ("RekognitionService.GetCelebrityRecognition", b"{not json", "SerializationException"),
        ("RekognitionService.GetCelebrityRecognition", b"[1, 2]", "SerializationException"),
    ],
)
def test_malformed_requests_are_rejected(engine, target, payload, error):
    status, body = http(
        engine.endpoint_url + "/", method="POST", body=payload, headers={"X-Amz-Target": target}
    )
    assert (status, body["__type"]) == (400, error)


# -- StartCelebrityRecognition -------------------------------------------------------------


def test_same_token_and_parameters_return_the_same_job(moto_aws, rekognition, fake_backend, engine):
    moto_aws.put_video("a.mp4", video_script(detections=2))
    first = start_job(rekognition, moto_aws.bucket, "a.mp4", ClientRequestToken="tok-1", JobTag="t")
    wait_done(rekognition, first)
    again = start_job(rekognition, moto_aws.bucket, "a.mp4", ClientRequestToken="tok-1", JobTag="t")
    assert again == first
    assert len(first) == 64
    assert len(fake_backend.analyzed) == 1  # the replay started no second analysis


def test_same_token_with_other_parameters_raises_mismatch(moto_aws, rekognition):
    moto_aws.put_video("a.mp4", video_script())
    moto_aws.put_video("b.mp4", video_script())
    start_job(rekognition, moto_aws.bucket, "a.mp4", ClientRequestToken="tok-2")
    with pytest.raises(rekognition.exceptions.IdempotentParameterMismatchException):
        start_job(rekognition, moto_aws.bucket, "b.mp4", ClientRequestToken="tok-2")
    with pytest.raises(rekognition.exceptions.IdempotentParameterMismatchException):
        start_job(rekognition, moto_aws.bucket, "a.mp4", ClientRequestToken="tok-2", JobTag="other")


def test_without_token_each_call_starts_a_new_job(moto_aws, rekognition):
    moto_aws.put_video("a.mp4", video_script())
    assert start_job(rekognition, moto_aws.bucket, "a.mp4") != start_job(
        rekognition, moto_aws.bucket, "a.mp4"
    )


@pytest.mark.parametrize(
    "extra",
    [
        {"JobTag": "has space"},
        {"JobTag": "x" * 1025},
        {"ClientRequestToken": "bad!token"},
        {"ClientRequestToken": "t" * 65},
        {"NotificationChannel": {"SNSTopicArn": "not-an-arn", "RoleArn": ROLE_ARN}},
        {"NotificationChannel": {"SNSTopicArn": "arn:aws:sns:us-east-1:123456789012:t"}},
    ],
    ids=["tag-pattern", "tag-length", "token-pattern", "token-length", "topic-arn", "no-role"],
)
def test_start_parameters_follow_the_service_model(moto_aws, engine, extra):
    moto_aws.put_video("a.mp4", video_script())
    # Server-side checks, so the client must not pre-empt them.
    client = rekognition_client(engine.endpoint_url, validate=False)
    with pytest.raises(client.exceptions.InvalidParameterException):
        start_job(client, moto_aws.bucket, "a.mp4", **extra)


def test_job_tag_with_every_allowed_character_is_accepted(moto_aws, rekognition):
    moto_aws.put_video("a.mp4", video_script())
    tag = "aZ09_.-:+=/"
    job_id = start_job(rekognition, moto_aws.bucket, "a.mp4", JobTag=tag)
    assert wait_done(rekognition, job_id)["JobTag"] == tag


def test_missing_object_or_bucket_raises_invalid_s3_object(moto_aws, rekognition):
    with pytest.raises(rekognition.exceptions.InvalidS3ObjectException):
        start_job(rekognition, moto_aws.bucket, "missing.mp4")
    with pytest.raises(rekognition.exceptions.InvalidS3ObjectException):
        start_job(rekognition, "no-such-bucket-cameo", "a.mp4")


def test_video_over_the_size_limit_raises_video_too_large(moto_aws, engine_factory: EngineFactory):
    engine = engine_factory(max_video_bytes=100)
    client = rekognition_client(engine.endpoint_url)
    moto_aws.put_video("big.mp4", b"x" * 101)
    moto_aws.put_video("ok.mp4", b"x" * 100)
    with pytest.raises(client.exceptions.VideoTooLargeException):
        start_job(client, moto_aws.bucket, "big.mp4")
    assert start_job(client, moto_aws.bucket, "ok.mp4")


# -- GetCelebrityRecognition ---------------------------------------------------------------


def test_pages_cover_every_detection_in_timestamp_order(moto_aws, rekognition):
    job_id = finished_job(rekognition, moto_aws, detections=25)
    pages = all_pages(rekognition, job_id, MaxResults=10)
    assert [len(p["Celebrities"]) for p in pages] == [10, 10, 5]
    stamps = [c["Timestamp"] for p in pages for c in p["Celebrities"]]
    assert stamps == sorted(stamps) and len(set(stamps)) == 25
    for page in pages:  # status and metadata on every page
        assert page["JobStatus"] == "SUCCEEDED"
        assert page["VideoMetadata"]["FrameWidth"] == 640
        assert page["Video"] == {"S3Object": {"Bucket": moto_aws.bucket, "Name": "clip.mp4"}}


def test_next_tokens_are_stable_across_calls(moto_aws, rekognition):
    job_id = finished_job(rekognition, moto_aws, detections=7)
    first = all_pages(rekognition, job_id, MaxResults=3)
    second = all_pages(rekognition, job_id, MaxResults=3)
    tokens = [p.get("NextToken") for p in first]
    assert tokens == [p.get("NextToken") for p in second]
    assert tokens[-1] is None and len(set(tokens[:-1])) == 2
    # Re-reading a page by its token gives the same detections.
    again = rekognition.get_celebrity_recognition(JobId=job_id, MaxResults=3, NextToken=tokens[0])
    assert again["Celebrities"] == first[1]["Celebrities"]


def test_sort_by_id_groups_by_celebrity_then_time(moto_aws, rekognition):
    job_id = finished_job(rekognition, moto_aws, detections=12)
    by_id = [
        (c["Celebrity"]["Id"], c["Timestamp"])
        for p in all_pages(rekognition, job_id, SortBy="ID", MaxResults=5)
        for c in p["Celebrities"]
    ]
    by_time = [
        (c["Celebrity"]["Id"], c["Timestamp"])
        for p in all_pages(rekognition, job_id, SortBy="TIMESTAMP")
        for c in p["Celebrities"]
    ]
    assert by_id == sorted(by_time)
    assert by_id != by_time  # the scripted video interleaves people
    assert [t for _, t in by_time] == sorted(t for _, t in by_time)


def test_max_results_over_1000_is_served_as_1000(moto_aws, rekognition):
    job_id = finished_job(rekognition, moto_aws, detections=1003)
    page = rekognition.get_celebrity_recognition(JobId=job_id, MaxResults=5000)
    assert len(page["Celebrities"]) == 1000
    default = rekognition.get_celebrity_recognition(JobId=job_id)
    assert len(default["Celebrities"]) == 1000
    rest = rekognition.get_celebrity_recognition(JobId=job_id, NextToken=default["NextToken"])
    assert len(rest["Celebrities"]) == 3 and "NextToken" not in rest


def test_max_results_below_1_is_rejected_by_botocore_and_by_the_engine(
    moto_aws, engine, rekognition
):
    job_id = finished_job(rekognition, moto_aws, detections=1)
    with pytest.raises(ParamValidationError):  # the model's min: 1, checked client side
        rekognition.get_celebrity_recognition(JobId=job_id, MaxResults=0)
    raw = rekognition_client(engine.endpoint_url, validate=False)
    with pytest.raises(raw.exceptions.InvalidParameterException):
        raw.get_celebrity_recognition(JobId=job_id, MaxResults=0)


@pytest.mark.parametrize(
    "params",
    [{"SortBy": "NAME"}, {"JobId": "bad id!"}, {"JobId": "j" * 65}, {"NextToken": "t" * 256}],
)
def test_get_parameters_follow_the_service_model(engine, params):
    raw = rekognition_client(engine.endpoint_url, validate=False)
    with pytest.raises(raw.exceptions.InvalidParameterException):
        raw.get_celebrity_recognition(**{"JobId": "job", **params})


def test_unknown_job_raises_resource_not_found(rekognition):
    with pytest.raises(rekognition.exceptions.ResourceNotFoundException):
        rekognition.get_celebrity_recognition(JobId="0" * 64)


def test_foreign_or_forged_tokens_raise_invalid_pagination_token(moto_aws, rekognition):
    job_a = finished_job(rekognition, moto_aws, detections=5, key="a.mp4")
    job_b = finished_job(rekognition, moto_aws, detections=5, key="b.mp4")
    token_a = rekognition.get_celebrity_recognition(JobId=job_a, MaxResults=2)["NextToken"]
    bad = rekognition.exceptions.InvalidPaginationTokenException
    with pytest.raises(bad):  # another job's token
        rekognition.get_celebrity_recognition(JobId=job_b, MaxResults=2, NextToken=token_a)
    with pytest.raises(bad):  # same job, other sort order
        rekognition.get_celebrity_recognition(JobId=job_a, SortBy="ID", NextToken=token_a)
    with pytest.raises(bad):  # garbage
        rekognition.get_celebrity_recognition(JobId=job_a, NextToken="garbage")
    forged = base64.urlsafe_b64encode(json.dumps({"j": job_a, "s": "TIMESTAMP", "o": 99}).encode())
    with pytest.raises(bad):  # past the end
        rekognition.get_celebrity_recognition(JobId=job_a, NextToken=forged.decode())


# -- GetCelebrityInfo / RecognizeCelebrities -------------------------------------------------


def test_celebrity_info_comes_from_the_gallery(rekognition):
    info = rekognition.get_celebrity_info(Id="1a2b3c")
    assert (info["Name"], info["Urls"], info["KnownGender"]) == (
        "Ada Lovelace",
        ["www.example.org/ada"],
        {"Type": "Female"},
    )
    assert "KnownGender" not in rekognition.get_celebrity_info(Id="7a8b9c")
    with pytest.raises(rekognition.exceptions.ResourceNotFoundException):
        rekognition.get_celebrity_info(Id="ffffff")


def test_celebrity_info_id_follows_the_model_pattern(engine):
    raw = rekognition_client(engine.endpoint_url, validate=False)
    with pytest.raises(raw.exceptions.InvalidParameterException):
        raw.get_celebrity_info(Id="not-alnum")


def test_recognize_celebrities_from_bytes_and_from_s3(moto_aws, rekognition):
    from_bytes = rekognition.recognize_celebrities(Image={"Bytes": PNG})
    assert [f["Name"] for f in from_bytes["CelebrityFaces"]] == ["Ada Lovelace"]
    moto_aws.s3.put_object(Bucket=moto_aws.bucket, Key="p.png", Body=PNG)
    from_s3 = rekognition.recognize_celebrities(
        Image={"S3Object": {"Bucket": moto_aws.bucket, "Name": "p.png"}}
    )
    assert from_s3["CelebrityFaces"] == from_bytes["CelebrityFaces"]


def test_recognize_celebrities_errors(moto_aws, rekognition):
    ex = rekognition.exceptions
    with pytest.raises(ex.InvalidImageFormatException):
        rekognition.recognize_celebrities(Image={"Bytes": b"GIF89a not a png"})
    with pytest.raises(ex.InvalidS3ObjectException):
        rekognition.recognize_celebrities(
            Image={"S3Object": {"Bucket": moto_aws.bucket, "Name": "x"}}
        )
    with pytest.raises(ex.ImageTooLargeException):
        rekognition.recognize_celebrities(Image={"Bytes": PNG + b"\0" * (5 * 1024 * 1024)})
    with pytest.raises(ex.InvalidParameterException):
        rekognition.recognize_celebrities(Image={})
