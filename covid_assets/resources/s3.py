"""The pipeline's S3 bucket: exports, histories, quarantined input and the dashboard page."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from botocore.exceptions import ClientError
from dagster import InitResourceContext
from pydantic import Field, PrivateAttr

from covid_assets.resources.aws_client import AwsClientResource, in_parallel

S3_DELETE_BATCH_SIZE = 1000  # DeleteObjects' hard limit
# Requests in flight at once for the calls that take many objects: within botocore's pool of 10
# connections a client, so that no connection is opened and dropped for one request.
PARALLEL_REQUESTS = 8
# Object bodies a run keeps once read, at most: beyond it, a body is read again when asked for.
KEPT_BODY_BYTES = 64 * 1024 * 1024
MISSING = ("404", "NoSuchKey", "NotFound")


@dataclass(frozen=True)
class StoredObject:
    """An object as a listing shows it."""

    key: str
    etag: str


class RunReads:
    """What a run has read of the bucket, kept until the run itself writes there: a run holds
    the serving lock, so nothing else changes what it reads (``S3BucketResource``)."""

    def __init__(self) -> None:
        self.listings: dict[tuple[str, str], list[StoredObject]] = {}
        self.bodies: dict[str, bytes] = {}
        self.etags: dict[str, str | None] = {}
        self.body_bytes = 0

    def etag(self, key: str) -> tuple[bool, str | None]:
        """(known, etag): from a HeadObject, or from a listing that covers the key."""
        if key in self.etags:
            return True, self.etags[key]
        for (prefix, start_after), objects in self.listings.items():
            if key.startswith(prefix) and key > start_after:
                found = next((entry.etag for entry in objects if entry.key == key), None)
                return True, found
        return False, None

    def keep_body(self, key: str, body: bytes) -> None:
        if self.body_bytes + len(body) <= KEPT_BODY_BYTES:
            self.bodies[key] = body
            self.body_bytes += len(body)

    def forget(self, key: str) -> None:
        """The run wrote or deleted ``key``: what it read of it, or of a listing holding it,
        is no longer so."""
        body = self.bodies.pop(key, None)
        self.body_bytes -= len(body or b"")
        self.etags.pop(key, None)
        for prefix, start_after in list(self.listings):
            if key.startswith(prefix):
                del self.listings[(prefix, start_after)]


class S3BucketResource(AwsClientResource):
    """The pipeline's bucket. Its client comes from the process's one boto3 session, like the
    other services' clients (dagster-aws's S3Resource would build a new session and resource
    model for each client, loading the service models again).

    Within a run (or a tick), each object, listing and ETag is read once: the run holds the
    serving lock, so the bucket changes only by the run's own writes, which drop what was read
    of the keys they write. Outside a run (a script, a test) every call reads."""

    bucket: str = Field(description="Bucket name (COVID_S3_BUCKET).")
    _reads: RunReads | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._reads = RunReads()

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def put(self, key: str, body: bytes, content_type: str) -> str:
        """Write the object; returns its ETag (for a single-part object, the body's MD5)."""
        return self.put_many([(key, body)], content_type)[0]

    def put_many(self, objects: Sequence[tuple[str, bytes]], content_type: str) -> list[str]:
        """Write each (key, body), PARALLEL_REQUESTS at once; their ETags, in order."""
        if self._reads is not None:
            for key, _ in objects:
                self._reads.forget(key)
        client = self.client("s3")

        def put(key_and_body: tuple[str, bytes]) -> str:
            key, body = key_and_body
            response = client.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType=content_type
            )
            return response["ETag"]

        return in_parallel(put, objects, PARALLEL_REQUESTS)

    def etag(self, key: str) -> str | None:
        """The object's ETag, or None when there is no such object (one HeadObject, unless a
        listing or a HeadObject of this run already told)."""
        if self._reads is not None:
            known, etag = self._reads.etag(key)
            if known:
                return etag
        try:
            etag = self.client("s3").head_object(Bucket=self.bucket, Key=key)["ETag"]
        except ClientError as error:
            if error.response["Error"]["Code"] not in MISSING:
                raise
            etag = None
        if self._reads is not None:
            self._reads.etags[key] = etag
        return etag

    def get(self, key: str) -> bytes:
        body = self.get_many([key])[0]
        if body is None:
            missing = {"Code": "NoSuchKey", "Message": f"{self.uri(key)} does not exist"}
            raise ClientError({"Error": missing}, "GetObject")
        return body

    def get_if_exists(self, key: str) -> bytes | None:
        """The object's body, or None when there is no such object."""
        return self.get_many([key])[0]

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """The bodies of ``keys``, None where there is no such object, in order: those this run
        has not read yet, PARALLEL_REQUESTS at once."""
        reads = self._reads
        known = {
            key: reads.bodies[key] for key in keys if reads is not None and key in reads.bodies
        }
        unread = [key for key in dict.fromkeys(keys) if key not in known]
        client = self.client("s3")

        def read(key: str) -> tuple[bytes, str] | None:
            try:
                response = client.get_object(Bucket=self.bucket, Key=key)
            except ClientError as error:
                if error.response["Error"]["Code"] in MISSING:
                    return None
                raise
            return response["Body"].read(), response["ETag"]

        # What was read is kept here, not in the threads: RunReads is not thread-safe.
        for key, found in zip(unread, in_parallel(read, unread, PARALLEL_REQUESTS), strict=True):
            known[key] = None if found is None else found[0]
            if found is not None and reads is not None:
                reads.keep_body(key, found[0])
                reads.etags[key] = found[1]
        return [known[key] for key in keys]

    def list_objects(self, prefix: str, start_after: str = "") -> list[StoredObject]:
        """The objects under ``prefix`` in key order, those after ``start_after`` only when
        given (a paginated ListObjectsV2)."""
        return self.list_many([prefix], start_after)[0]

    def list_many(self, prefixes: Sequence[str], start_after: str = "") -> list[list[StoredObject]]:
        """``list_objects`` of each prefix, in order: those this run has not listed yet,
        PARALLEL_REQUESTS at once."""
        reads = self._reads
        known = {
            prefix: reads.listings[(prefix, start_after)]
            for prefix in prefixes
            if reads is not None and (prefix, start_after) in reads.listings
        }
        unlisted = [prefix for prefix in dict.fromkeys(prefixes) if prefix not in known]
        paginator = self.client("s3").get_paginator("list_objects_v2")
        after = {"StartAfter": start_after} if start_after else {}

        def listing(prefix: str) -> list[StoredObject]:
            pages = paginator.paginate(Bucket=self.bucket, Prefix=prefix, **after)
            return [
                StoredObject(entry["Key"], entry["ETag"])
                for page in pages
                for entry in page.get("Contents", [])
            ]

        for prefix, objects in zip(
            unlisted, in_parallel(listing, unlisted, PARALLEL_REQUESTS), strict=True
        ):
            known[prefix] = objects
            if reads is not None:
                reads.listings[(prefix, start_after)] = objects
        return [known[prefix] for prefix in prefixes]

    def list_keys(self, prefix: str, start_after: str = "") -> Iterator[str]:
        """The keys under ``prefix`` in order, those after ``start_after`` only when given."""
        return (entry.key for entry in self.list_objects(prefix, start_after))

    def delete(self, keys: Sequence[str]) -> None:
        client = self.client("s3")
        for key in keys:
            if self._reads is not None:
                self._reads.forget(key)
        for start in range(0, len(keys), S3_DELETE_BATCH_SIZE):
            batch = keys[start : start + S3_DELETE_BATCH_SIZE]
            response = client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
            if response.get("Errors"):
                raise ClientError({"Error": response["Errors"][0]}, "DeleteObjects")
