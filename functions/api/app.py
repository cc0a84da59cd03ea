"""API Gateway HTTP API (payload v2) -> the read-only API (cameo_core.api.routes)."""

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from cameo_core.adapters.recency import RecencyIndex
from cameo_core.adapters.table import ResultsTable
from cameo_core.api.routes import ApiConfig, ApiDeps, build_app
from cameo_core.clients import RETRY_CONFIG, client
from cameo_core.observability import logger, metrics

CONFIG = ApiConfig.from_env()


@cache
def deps() -> ApiDeps:
    # Clients on first use, so a cold start that only answers /health creates none.
    dynamodb = client("dynamodb")
    return ApiDeps(
        table=ResultsTable(dynamodb, CONFIG.table_name),
        recency=RecencyIndex(dynamodb, CONFIG.table_name),
        media_urls=CONFIG.media_urls,
        # SigV4: S3 refuses SigV2 presigned URLs for buckets made since mid-2020.
        s3=boto3.session.Session().client(
            "s3", config=RETRY_CONFIG.merge(Config(signature_version="s3v4"))
        ),
    )


app = build_app(deps)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
