#!/usr/bin/env bash
# Wheels for the device tool's GPU machine (Python 3.12, x86-64, nothing downloadable there): the packages
# lpz needs that its image lacks, at the versions pinned here, into .whl/ (git-ignored). Run it here, where
# PyPI is reachable; then the device tool's run carries .whl and bench/gpu.sh installs them.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES=(pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
          celery==5.7.0 kombu==5.7.0 billiard==4.3.2 vine==5.1.0 amqp==5.4.2 click-didyoumean==0.3.1
          click-plugins==1.1.1.2 click-repl==0.4.1 tzlocal==5.4.5 redis==8.1.0 minio==7.2.20
          argon2-cffi==25.1.0 argon2-cffi-bindings==26.2.0 pycryptodome==4.4.0)
mkdir -p .whl
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux_2_34_x86_64 --platform any -d .whl "${PACKAGES[@]}"
mkdir -p .mnist
for f in ../shared/data/mnist/*.gz; do cp -n "$f" .mnist/ 2>/dev/null || true; done
du -sh .whl .mnist
