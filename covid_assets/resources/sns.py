"""The SNS topic of alerts and load notices."""

from __future__ import annotations

from pydantic import Field

from covid_assets.resources.aws_client import AwsClientResource


class SNSResource(AwsClientResource):
    """The topic that receives validation alerts, run-failure alerts and load notices."""

    topic_arn: str = Field(description="SNS topic ARN (COVID_SNS_TOPIC_ARN).")

    def publish(self, subject: str, message: str) -> str:
        """Publish to the topic; returns the message id. SNS subjects stop at 100 characters."""
        response = self.client("sns").publish(
            TopicArn=self.topic_arn, Subject=subject[:100], Message=message
        )
        return response["MessageId"]
