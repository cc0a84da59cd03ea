"""One Logger and one Metrics per process; service name and namespace come from the
POWERTOOLS_* variables the template sets, so nothing here fights the template.

No Powertools Tracer: it imports the X-Ray SDK at cold start, which measured 1.7-2x a bare
`import boto3` on its own (benchmarks/cold_start.py). `Tracing: Active` in the template still
gives each invocation its Lambda segments (init, invocation, overhead) without that cost.
"""

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()

# Correlation ids for the triggers Powertools has no constant for.
S3_REQUEST_ID = 'Records[0].responseElements."x-amz-request-id"'
SNS_MESSAGE_ID = "Records[0].Sns.MessageId"
# The start function has three triggers: whichever id the event carries (the schedule's is `id`).
START_CORRELATION_ID = f"{S3_REQUEST_ID} || {SNS_MESSAGE_ID} || id"
