"""The bucket's calls that take many objects at once (the export's partitions): answers in the
order asked, a missing object as None, and within a run each object and listing read once."""

import hashlib

import pytest
from dagster import build_init_resource_context

from covid_assets.resources.s3 import PARALLEL_REQUESTS, S3BucketResource
from covid_assets_dev.aws_calls import recorded_calls

pytestmark = pytest.mark.integration

# More objects than requests in flight, so that answers come back out of order.
OBJECTS = {f"many/{number:02d}/part.bin": f"body {number}".encode() for number in range(20)}


def bucket_in_a_run(aws) -> S3BucketResource:
    bucket = S3BucketResource(bucket=aws.bucket, region_name=aws.region)
    bucket.setup_for_execution(build_init_resource_context())
    return bucket


def test_put_many_answers_each_objects_etag_in_the_order_given(aws):
    assert len(OBJECTS) > PARALLEL_REQUESTS
    etags = bucket_in_a_run(aws).put_many(list(OBJECTS.items()), "application/octet-stream")
    assert etags == [f'"{hashlib.md5(body).hexdigest()}"' for body in OBJECTS.values()]


def test_get_many_answers_in_the_order_asked_and_none_for_a_missing_object(aws):
    bucket = bucket_in_a_run(aws)
    bucket.put_many(list(OBJECTS.items()), "application/octet-stream")
    keys = [*reversed(OBJECTS), "many/missing.bin", "many/03/part.bin"]
    assert bucket.get_many(keys) == [*reversed(OBJECTS.values()), None, b"body 3"]


def test_within_a_run_get_many_and_list_many_read_each_object_and_listing_once(aws):
    bucket = bucket_in_a_run(aws)
    bucket.put_many(list(OBJECTS.items()), "application/octet-stream")
    folders = [key.rsplit("/", 1)[0] + "/" for key in OBJECTS]
    with recorded_calls() as calls:
        for _ in range(2):
            bucket.get_many(list(OBJECTS))
            listings = bucket.list_many(folders)
    assert [[entry.key for entry in listed] for listed in listings] == [[key] for key in OBJECTS]
    operations = [call.operation for call in calls]
    assert operations.count("GetObject") == len(OBJECTS)
    assert operations.count("ListObjectsV2") == len(folders)
