#!/usr/bin/env bash
# Make PostgreSQL and Redis answer on 127.0.0.1, installing them from Debian when missing.
# Used by `make run` and `make test`; a no-op when both already answer.
set -euo pipefail

PG_PORT=${PG_PORT:-5432}
REDIS_PORT=${REDIS_PORT:-6379}
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

missing=()
command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql postgresql-client)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} with apt-get"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fresh_postgres=1
fi

if ! pg_isready -h 127.0.0.1 -p "$PG_PORT" -q; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if [ "${fresh_postgres:-0}" = 1 ]; then
    # A local development server: let the postgres role in over loopback without a password.
    hba=/etc/postgresql/$version/main/pg_hba.conf
    $SUDO sed -i '1i host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust' "$hba"
  fi
  echo "starting PostgreSQL $version"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 30); do pg_isready -h 127.0.0.1 -p "$PG_PORT" -q && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p "$PG_PORT" -q || { echo "PostgreSQL does not answer on $PG_PORT" >&2; exit 1; }

if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  echo "starting Redis"
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ragbot.log
  for _ in $(seq 30); do redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.5; done
fi
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null || { echo "Redis does not answer on $REDIS_PORT" >&2; exit 1; }
echo "PostgreSQL and Redis are up"
