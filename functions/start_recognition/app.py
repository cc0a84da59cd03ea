"""S3 upload -> the backlog; SNS completion -> a freed slot; schedule -> the sweep. Every path
ends in a drain, the one caller of StartCelebrityRecognition."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cameo_core.adapters.objects import VideoObjects
from cameo_core.adapters.rekognition import CelebrityJobs
from cameo_core.adapters.table import ResultsTable
from cameo_core.adapters.topic import CompletionTopic
from cameo_core.backlog import Backlog
from cameo_core.clients import client, probe_client, start_client
from cameo_core.config import StartConfig
from cameo_core.observability import START_CORRELATION_ID, logger, metrics
from cameo_core.start import handle_event

CONFIG = StartConfig.from_env()


@logger.inject_lambda_context(correlation_id_path=START_CORRELATION_ID)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    backlog = Backlog(
        config=CONFIG,
        table=ResultsTable(client("dynamodb"), CONFIG.table_name),
        jobs=CelebrityJobs(start_client()),
        topic=CompletionTopic(client("sns"), CONFIG.sns_topic_arn),
        time_left_s=lambda: context.get_remaining_time_in_millis() / 1000,
    )
    return handle_event(event, backlog, VideoObjects(probe_client()))
