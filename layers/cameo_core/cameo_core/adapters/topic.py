"""Small adapter around the completion topic, for the sweep's re-announcements."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cameo_core.errors import RetryableError


class CompletionTopic:
    def __init__(self, sns: Any, topic_arn: str) -> None:
        self._sns = sns
        self.arn = topic_arn

    def publish(self, message: Mapping[str, Any]) -> str:
        """Publish a Rekognition-shaped completion; both subscribers take it as the real one."""
        try:
            response = self._sns.publish(TopicArn=self.arn, Message=json.dumps(dict(message)))
        except (ClientError, BotoCoreError) as exc:
            raise RetryableError(f"sns:Publish to the completion topic failed: {exc}") from exc
        return str(response["MessageId"])
