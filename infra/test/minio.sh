#!/bin/sh
# `minio server DIR [--console-address ADDR]`, served by SeaweedFS: the S3 API on :9000 for the root user
# (MINIO_ROOT_USER, MINIO_ROOT_PASSWORD), the objects in DIR. There is no console.
set -eu
if [ "${1:-}" != server ] || [ -z "${2:-}" ]; then
  echo "minio substitute: usage: minio server DIR [--console-address ADDR]" >&2
  exit 2
fi
cat >/tmp/s3.json <<JSON
{"identities": [{"name": "root", "credentials": [{"accessKey": "${MINIO_ROOT_USER:-minioadmin}",
  "secretKey": "${MINIO_ROOT_PASSWORD:-minioadmin}"}], "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
exec weed mini -dir="$2" -ip=127.0.0.1 -ip.bind=0.0.0.0 -s3.port=9000 -s3.config=/tmp/s3.json \
  -s3.port.iceberg=0 -s3.port.lance=0 -webdav=false -master.telemetry=false
