"""SNS (Rekognition completion) -> GetCelebrityRecognition pages -> appearances in DynamoDB."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cameo_core.config import ResultsConfig
from cameo_core.observability import SNS_MESSAGE_ID, logger, metrics
from cameo_core.results import completion_handler, handle_sns_event

CONFIG = ResultsConfig.from_env()
on_completion = completion_handler(CONFIG)


@logger.inject_lambda_context(correlation_id_path=SNS_MESSAGE_ID)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return {"completions": handle_sns_event(event, on_completion)}
