"""A store in an S3 bucket (MinIO in production), through the minio SDK.

The only module of lpz that imports minio. Endpoint and credentials come from
the environment, never from a config file. Every object carries the sha256 of
its bytes in its user metadata, and get() checks it, so a damaged or truncated
object is reported as CorruptObject instead of being returned.
"""
from __future__ import annotations

import http.client
import io
import os
import re
import ssl
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.error import InvalidResponseError, MinioException, S3Error
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from lpz.errors import CorruptObject, ObjectMissing, ObjectTooLarge, StoreError, StoreUnavailable
from lpz.files import sha256
from lpz.store.hosts import is_loopback
from lpz.store.base import MAX_OBJECT_BYTES, Store, check_key, check_prefix, is_key

MULTIPART_THRESHOLD = 64 * 1024 * 1024  # objects this large go up in parts
PART_SIZE = 16 * 1024 * 1024            # S3 allows 5 MiB .. 5 GiB
SINGLE_PUT_LIMIT = 5 * 1024 * 1024 * 1024  # a part size that makes smaller objects one PUT
CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 20
# A dead endpoint should fail in seconds: two tries at connecting, two at reading, three at most in all.
RETRIES = urllib3.Retry(total=2, connect=1, read=1, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504])

SHA256_META = "x-amz-meta-sha256"
MISSING_CODES = {"NoSuchKey", "NoSuchBucket"}
UNAVAILABLE_CODES = {"ServiceUnavailable", "SlowDown", "InternalError", "RequestTimeout", "ServerBusy"}
CREDENTIAL_CODES = {"SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "InvalidToken", "ExpiredToken"}
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


@dataclass(frozen=True)
class S3Settings:
    endpoint: str  # host:port
    access_key: str
    secret_key: str = field(repr=False)
    secure: bool
    region: str | None

    @classmethod
    def from_env(cls) -> S3Settings:
        endpoint = _env("LPZ_S3_ENDPOINT", "AWS_ENDPOINT_URL")
        access_key = _env("LPZ_S3_ACCESS_KEY", "AWS_ACCESS_KEY_ID")
        secret_key = _env("LPZ_S3_SECRET_KEY", "AWS_SECRET_ACCESS_KEY")
        missing = [name for name, value in [("LPZ_S3_ENDPOINT (host:port of the S3 server)", endpoint),
                                            ("LPZ_S3_ACCESS_KEY", access_key),
                                            ("LPZ_S3_SECRET_KEY", secret_key)] if not value]
        if missing:
            raise StoreError(f"S3 store: set {' and '.join(missing)} in the environment")
        host, scheme_secure = _parse_endpoint(endpoint)
        tls_by_default = not _is_loopback(host) if scheme_secure is None else scheme_secure
        secure = _env_bool("LPZ_S3_SECURE", default=tls_by_default)
        return cls(host, access_key, secret_key, secure, _env("LPZ_S3_REGION", "AWS_DEFAULT_REGION") or None)


class S3Store(Store):
    def __init__(self, bucket: str, prefix: str = "", *,
                 multipart_threshold: int = MULTIPART_THRESHOLD, part_size: int = PART_SIZE):
        if not BUCKET_NAME.fullmatch(bucket) or ".." in bucket:
            raise StoreError(f"s3://{bucket}: not a valid bucket name (3-63 lowercase letters, digits, '.', '-')")
        self.bucket = bucket
        root = "/".join(part for part in prefix.split("/") if part)
        self.prefix = f"{root}/" if root else ""
        self.url = f"s3://{bucket}/{root}" if root else f"s3://{bucket}"
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self.settings = S3Settings.from_env()
        self._client = Minio(
            self.settings.endpoint, self.settings.access_key, self.settings.secret_key,
            secure=self.settings.secure, region=self.settings.region,
            http_client=urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S),
                retries=RETRIES, maxsize=10),
        )

    @classmethod
    def from_url(cls, url: str, **options) -> S3Store:
        """s3://bucket, or s3://bucket/prefix to keep every key under prefix/."""
        if not url.startswith("s3://"):
            raise StoreError(f"store {url!r}: an S3 store URL looks like s3://bucket or s3://bucket/prefix")
        bucket, _, prefix = url[len("s3://"):].partition("/")
        return cls(bucket, prefix, **options)

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, data: bytes) -> None:
        with self._translated():
            try:
                self._upload(key, data)
            except S3Error as e:
                if e.code != "NoSuchBucket":
                    raise
                self._create_bucket()
                self._upload(key, data)

    def _upload(self, key: str, data: bytes) -> None:
        part_size = self.part_size if len(data) >= self.multipart_threshold else SINGLE_PUT_LIMIT
        self._client.put_object(self.bucket, self._name(key), io.BytesIO(data), len(data), part_size=part_size,
                                metadata={SHA256_META: sha256(data)})

    def _create_bucket(self) -> None:
        try:
            self._client.make_bucket(self.bucket)
        except S3Error as e:  # someone else created it first
            if e.code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise

    def get(self, key: str, max_bytes: int = MAX_OBJECT_BYTES) -> bytes:
        with self._translated(key):
            response = self._client.get_object(self.bucket, self._name(key))
            try:
                length = response.headers.get("content-length")
                if length is None or not length.isdigit() or int(length) > max_bytes:
                    raise ObjectTooLarge(key, f"{length or 'an unknown number of'} bytes; at most {max_bytes:,} "
                                              f"are allowed")
                data = _read_body(key, response)
            finally:
                response.close()
                response.release_conn()
        if length is not None and len(data) != int(length):
            raise CorruptObject(key, f"truncated: {len(data)} of {length} bytes")
        recorded = response.headers.get(SHA256_META)
        if recorded and sha256(data) != recorded:
            raise CorruptObject(key, "its bytes do not match the sha256 recorded when it was written")
        return data

    def exists(self, key: str) -> bool:
        try:
            with self._translated(key):
                self._client.stat_object(self.bucket, self._name(key))
        except ObjectMissing:
            return False
        return True

    def list(self, prefix: str) -> list[str]:
        try:
            with self._translated(prefix):
                objects = list(self._client.list_objects(self.bucket, prefix=self.prefix + check_prefix(prefix),
                                                         recursive=True))
        except ObjectMissing:  # no bucket yet: nothing was ever written
            return []
        keys = (o.object_name[len(self.prefix):] for o in objects if not o.is_dir)
        return sorted(key for key in keys if is_key(key))  # anything else was not written by lpz

    def delete(self, key: str) -> None:
        try:
            with self._translated(key):
                self._client.remove_object(self.bucket, self._name(key))
        except ObjectMissing:
            pass

    def check(self) -> None:
        """One request (two when the region must be looked up) that needs the endpoint and the credentials."""
        with self._translated():
            self._client.bucket_exists(self.bucket)

    @contextmanager
    def _translated(self, key: str | None = None):
        """S3 and network failures as one-line StoreErrors; a missing key or bucket as ObjectMissing(key)."""
        where = f"store {self.url}"
        try:
            yield
        except S3Error as e:
            if e.code in MISSING_CODES and key is not None:
                raise ObjectMissing(key) from None
            if e.code in CREDENTIAL_CODES:
                raise StoreError(f"{where}: the S3 server at {self.settings.endpoint} refused the credentials "
                                 f"({e.code}): check LPZ_S3_ACCESS_KEY / LPZ_S3_SECRET_KEY") from None
            if e.code in UNAVAILABLE_CODES:
                raise StoreUnavailable(f"{where}: the S3 server answered {e.code}: {e.message}") from None
            raise StoreError(f"{where}: the S3 server answered {e.code}: {e.message}") from None
        except InvalidResponseError:
            raise StoreError(f"{where}: the server at {self.settings.endpoint} does not answer like an S3 server: "
                             f"check LPZ_S3_ENDPOINT; {self._tls_hint()}") from None
        except MinioException as e:
            raise StoreUnavailable(f"{where}: the S3 server at {self.settings.endpoint} failed: "
                                   f"{str(e).splitlines()[0]}") from None
        except (urllib3.exceptions.HTTPError, OSError) as e:
            if _caused_by(e, ssl.SSLError):
                raise StoreError(f"{where}: TLS with {self.settings.endpoint} failed ({_reason(e)}); "
                                 f"{self._tls_hint()}") from None
            hint = f"; {self._tls_hint()}" if _caused_by(e, ProtocolError, ConnectionResetError) else ""
            raise StoreUnavailable(f"{where}: cannot reach the S3 server at {self.settings.endpoint} ({_reason(e)}): "
                             f"is the S3 server running? check LPZ_S3_ENDPOINT{hint}") from None

    def _tls_hint(self) -> str:
        if self.settings.secure:
            return "lpz speaks TLS to it (LPZ_S3_SECURE=true): set LPZ_S3_SECURE=false if it serves plain HTTP"
        return "lpz speaks plain HTTP to it (LPZ_S3_SECURE=false): set LPZ_S3_SECURE=true if it serves TLS"


def _caused_by(error: BaseException, *kinds: type) -> bool:
    """Whether error, or anything in its chain (urllib3 wraps causes in .reason), is one of kinds."""
    seen, cause = set(), error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, kinds):
            return True
        seen.add(id(cause))
        cause = getattr(cause, "reason", None) or cause.__cause__ or cause.__context__
    return False


def _read_body(key: str, response) -> bytes:
    """The raw body; a body that ends before its Content-Length is a CorruptObject."""
    try:
        return response.read(decode_content=False)
    except (ProtocolError, http.client.IncompleteRead) as e:  # urllib3 raises it bare or wrapped
        if any(isinstance(cause, http.client.IncompleteRead) for cause in (e, *e.args)):
            raise CorruptObject(key, "truncated: the body ended before its Content-Length") from None
        raise


def _reason(error: BaseException) -> str:
    """A few words on why a connection failed, from urllib3's chain of exceptions."""
    error = getattr(error, "reason", None) or error  # MaxRetryError holds the last attempt's failure
    if isinstance(error, NameResolutionError):
        return "unknown host"
    timed_out = isinstance(error, (ConnectTimeoutError, ReadTimeoutError, TimeoutError))
    if timed_out and not isinstance(error, NewConnectionError):  # urllib3 makes NewConnectionError a timeout too
        return "timed out"
    if isinstance(error, ssl.SSLError):
        return (error.reason or str(error)).lower().replace("_", " ")
    cause = error
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return (cause.reason or str(cause)).lower().replace("_", " ")
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
        cause = cause.__cause__ or cause.__context__
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _env(name: str, fallback: str) -> str:
    return os.environ.get(name) or os.environ.get(fallback) or ""


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise StoreError(f"{name}={value!r}: expected true or false")


def _parse_endpoint(endpoint: str) -> tuple[str, bool | None]:
    """host:port, and True/False when a https:// or http:// scheme says whether to use TLS."""
    if "://" not in endpoint:
        return endpoint.rstrip("/"), None
    parts = urlsplit(endpoint)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path.strip("/") or parts.query:
        raise StoreError(f"S3 endpoint {endpoint!r}: expected host:port or http(s)://host:port in LPZ_S3_ENDPOINT")
    return parts.netloc, parts.scheme == "https"


def _is_loopback(host_port: str) -> bool:
    return is_loopback(urlsplit(f"//{host_port}").hostname or "")
