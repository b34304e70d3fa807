"""The pipeline's S3 bucket: exports, histories, quarantined input and the dashboard page."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from botocore.exceptions import ClientError
from pydantic import Field

from covid_assets.resources.aws_client import AwsClientResource

S3_DELETE_BATCH_SIZE = 1000  # DeleteObjects' hard limit


class S3BucketResource(AwsClientResource):
    """The pipeline's bucket. Its client comes from the process's one boto3 session, like the
    other services' clients (dagster-aws's S3Resource would build a new session and resource
    model for each client, loading the service models again)."""

    bucket: str = Field(description="Bucket name (COVID_S3_BUCKET).")
    export_prefix: str = Field(description="Key prefix of the Athena export (COVID_S3_PREFIX).")

    @property
    def export_root(self) -> str:
        """The export prefix as a folder: no leading slash, one trailing slash."""
        return self.export_prefix.strip("/") + "/"

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def put(self, key: str, body: bytes, content_type: str) -> str:
        """Write the object; returns its ETag (for a single-part object, the body's MD5)."""
        response = self.client("s3").put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType=content_type
        )
        return response["ETag"]

    def etag(self, key: str) -> str | None:
        """The object's ETag, or None when there is no such object (one HeadObject)."""
        s3 = self.client("s3")
        try:
            return s3.head_object(Bucket=self.bucket, Key=key)["ETag"]
        except ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def get(self, key: str) -> bytes:
        return self.client("s3").get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def list_keys(self, prefix: str, start_after: str = "") -> Iterator[str]:
        """The keys under ``prefix`` in order, those after ``start_after`` only when given."""
        after = {"StartAfter": start_after} if start_after else {}
        pages = (
            self.client("s3")
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=prefix, **after)
        )
        for page in pages:
            yield from (entry["Key"] for entry in page.get("Contents", []))

    def delete(self, keys: Sequence[str]) -> None:
        client = self.client("s3")
        for start in range(0, len(keys), S3_DELETE_BATCH_SIZE):
            batch = keys[start : start + S3_DELETE_BATCH_SIZE]
            response = client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
            if response.get("Errors"):
                raise ClientError({"Error": response["Errors"][0]}, "DeleteObjects")
