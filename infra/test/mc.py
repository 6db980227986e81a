#!/opt/venv/bin/python
"""The two `mc` commands docker-compose.yml's minio-init runs, over the minio client:

    mc alias set NAME URL ACCESS_KEY SECRET_KEY    remember a server, once it answers (as mc does)
    mc mb [--ignore-existing] NAME/BUCKET          create a bucket on it
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

from minio import Minio

ALIASES = Path.home() / ".mc-aliases.json"


def connect(url: str, access: str, secret: str) -> Minio:
    parts = urlsplit(url)
    return Minio(parts.netloc, access, secret, secure=parts.scheme == "https")


def alias_set(name: str, url: str, access: str, secret: str) -> None:
    connect(url, access, secret).list_buckets()  # raises unless the server answers and knows the keys
    aliases = json.loads(ALIASES.read_text()) if ALIASES.exists() else {}
    aliases[name] = [url, access, secret]
    ALIASES.write_text(json.dumps(aliases))
    print(f"Added `{name}` successfully.")


def make_bucket(target: str, ignore_existing: bool) -> None:
    name, _, bucket = target.partition("/")
    aliases = json.loads(ALIASES.read_text()) if ALIASES.exists() else {}
    if name not in aliases or not bucket:
        raise SystemExit(f"mc: {target} names no bucket of a known alias; run `mc alias set` first")
    client = connect(*aliases[name])
    if client.bucket_exists(bucket):
        if not ignore_existing:
            raise SystemExit(f"mc: bucket {target} already exists")
    else:
        client.make_bucket(bucket)
    print(f"Bucket created successfully `{target}`.")


def main(argv: list[str]) -> None:
    if argv[:2] == ["alias", "set"] and len(argv) == 6:
        alias_set(*argv[2:])
    elif argv[:1] == ["mb"] and len([a for a in argv[1:] if a != "--ignore-existing"]) == 1:
        make_bucket(next(a for a in argv[1:] if a != "--ignore-existing"), "--ignore-existing" in argv)
    else:
        raise SystemExit(f"mc substitute: only `alias set` and `mb` are here, not: mc {' '.join(argv)}")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except Exception as e:  # a server that does not answer (yet): one line, exit 1, as mc
        raise SystemExit(f"mc: {e.__class__.__name__}: {e}") from None
