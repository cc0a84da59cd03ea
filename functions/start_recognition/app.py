"""S3 ObjectCreated -> Rekognition StartCelebrityRecognition, one job per upload."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cameo_core.adapters.rekognition import CelebrityJobs
from cameo_core.adapters.table import ResultsTable
from cameo_core.clients import client
from cameo_core.config import StartConfig
from cameo_core.observability import S3_REQUEST_ID, logger, metrics
from cameo_core.start import handle_s3_event

CONFIG = StartConfig.from_env()


@logger.inject_lambda_context(correlation_id_path=S3_REQUEST_ID)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    jobs = CelebrityJobs(client("rekognition"))
    table = ResultsTable(client("dynamodb"), CONFIG.table_name)
    return {"uploads": handle_s3_event(event, CONFIG, jobs, table)}
