#!/bin/sh
# As the official redis image does: a bare redis-server answers the other containers (protected mode off).
if [ "${1:-}" = redis-server ]; then
  shift
  set -- redis-server --protected-mode no "$@"
fi
exec "$@"
