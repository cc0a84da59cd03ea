"""S3 ObjectRemoved -> erase that video's appearances, summaries and raw pages (and queue it
again when the removal brought its object back)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cameo_core.adapters.archive import RawArchive
from cameo_core.adapters.objects import VideoObjects
from cameo_core.adapters.table import ResultsTable
from cameo_core.clients import client, probe_client
from cameo_core.config import BacklogSettings, ResultsConfig, StartConfig
from cameo_core.erase import Restore, handle_s3_event
from cameo_core.observability import S3_REQUEST_ID, logger, metrics

CONFIG = ResultsConfig.from_env()
# A restored object is only queued (the start function's drain starts it), so the topic and
# the publish role are not needed here; the size limit and the cost guard are the upload's.
QUEUE_CONFIG = StartConfig(
    table_name=CONFIG.table_name,
    sns_topic_arn="",
    rekognition_role_arn="",
    tuning=CONFIG.tuning,
    backlog=BacklogSettings.from_env(),
)


@logger.inject_lambda_context(correlation_id_path=S3_REQUEST_ID)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    table = ResultsTable(client("dynamodb"), CONFIG.table_name)
    archive = RawArchive(client("s3"), CONFIG.archive_bucket)
    restore = Restore(VideoObjects(probe_client()), QUEUE_CONFIG)
    return {"erased": handle_s3_event(event, table, archive, restore)}
