"""SNS (Rekognition completion) -> GetCelebrityRecognition pages -> appearances in DynamoDB.
A job too long for this invocation continues in a new one (results.py)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cameo_core.config import ProcessResultsConfig
from cameo_core.observability import SNS_MESSAGE_ID, logger, metrics
from cameo_core.results import completion_handler, handle_sns_event

CONFIG = ProcessResultsConfig.from_env()


@logger.inject_lambda_context(correlation_id_path=SNS_MESSAGE_ID)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    on_completion = completion_handler(
        CONFIG, time_left_s=lambda: context.get_remaining_time_in_millis() / 1000
    )
    return {"completions": handle_sns_event(event, on_completion)}
