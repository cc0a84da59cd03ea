"""S3 ObjectRemoved -> erase that video's appearances, summaries and raw pages."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cameo_core.adapters.archive import RawArchive
from cameo_core.adapters.table import ResultsTable
from cameo_core.clients import client
from cameo_core.config import ResultsConfig
from cameo_core.erase import handle_s3_event
from cameo_core.observability import S3_REQUEST_ID, logger, metrics

CONFIG = ResultsConfig.from_env()


@logger.inject_lambda_context(correlation_id_path=S3_REQUEST_ID)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    table = ResultsTable(client("dynamodb"), CONFIG.table_name)
    archive = RawArchive(client("s3"), CONFIG.archive_bucket)
    return {"erased": handle_s3_event(event, table, archive)}
