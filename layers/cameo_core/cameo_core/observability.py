"""One Logger, Tracer and Metrics per process; service name and namespace come from the
POWERTOOLS_* variables the template sets, so nothing here fights the template."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()

# Correlation ids for the triggers Powertools has no constant for.
S3_REQUEST_ID = 'Records[0].responseElements."x-amz-request-id"'
SNS_MESSAGE_ID = "Records[0].Sns.MessageId"
