"""Fixtures for the store tests: S3 stores on fresh buckets of the loopback server, and a raw client."""
from __future__ import annotations

import pytest
import torch
from minio import Minio
from minio.error import S3Error

from lpz.seeding import generator
from lpz.store.s3 import S3Settings, S3Store


@pytest.fixture
def raw_s3(s3_settings) -> Minio:
    """A plain minio client on the test server, to look behind the store's back."""
    settings = S3Settings.from_env()
    return Minio(settings.endpoint, settings.access_key, settings.secret_key, secure=settings.secure)


@pytest.fixture
def s3_store(s3_bucket, raw_s3):
    """An S3Store on a bucket that does not exist yet; the bucket is removed afterwards."""
    yield S3Store(s3_bucket)
    remove_bucket(raw_s3, s3_bucket)


def remove_bucket(client: Minio, bucket: str) -> None:
    try:
        for obj in client.list_objects(bucket, recursive=True):
            client.remove_object(bucket, obj.object_name)
        client.remove_bucket(bucket)
    except S3Error as e:
        if e.code != "NoSuchBucket":
            raise


def random_bytes(size: int, *purpose) -> bytes:
    values = torch.randint(0, 256, (size,), dtype=torch.uint8, generator=generator("test-store", size, *purpose))
    return values.numpy().tobytes()
