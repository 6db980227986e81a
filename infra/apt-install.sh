#!/usr/bin/env bash
# Install Debian packages quietly, refreshing the package lists once if they are stale.
set -u
apt-get install -y -q "$@" >/dev/null 2>&1 && exit 0
apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "$@" >/dev/null 2>&1
