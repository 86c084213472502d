#!/usr/bin/env bash
# Installs the servers the tests start (PostgreSQL, MariaDB, memcached,
# Redis, NATS, RabbitMQ), the C client libraries diesel links, and the
# benchmarks' tools (wrk, valgrind) from the system package manager, the offline Kubernetes manifest validator from PyPI
# and cargo-hack from crates.io, when they are missing. The tests start their
# own instances on free loopback ports; nothing is started here,
# and no system service is left running.
# Usage: bash scripts/provision.sh
set -euo pipefail

have() {
  command -v "$1" >/dev/null 2>&1 && return 0
  [ -x "/usr/sbin/$1" ] && return 0
  compgen -G "/usr/lib/postgresql/*/bin/$1" >/dev/null
}

need=()
have initdb || need+=(postgresql)
have mariadbd || need+=(mariadb-server)
have memcached || need+=(memcached)
have redis-server || need+=(redis-server)
have nats-server || need+=(nats-server)
# Debian's RabbitMQ server script, which the tests run directly (the one in
# /usr/sbin switches to the system's rabbitmq user and directories).
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need+=(rabbitmq-server)
have wrk || need+=(wrk)
# Counts the instructions of a request (`healthz-bench instructions`).
have valgrind || need+=(valgrind)
# The C client libraries diesel's synchronous connections link (features
# `diesel-postgres`, `diesel-mysql`), and pkg-config, which finds them.
have pkg-config || need+=(pkg-config)
[ -e /usr/include/postgresql/libpq-fe.h ] || need+=(libpq-dev)
{ have pkg-config && pkg-config --exists mysqlclient; } || need+=(default-libmysqlclient-dev)

command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)

install_validator() {
  # Validates the Kubernetes manifests offline (it bundles the schemas).
  command -v kubernetes-validate >/dev/null 2>&1 && return 0
  [ -x "$HOME/.local/bin/kubernetes-validate" ] && return 0
  echo "provision: installing kubernetes-validate from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check kubernetes-validate 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --user --break-system-packages kubernetes-validate
}

install_cargo_hack() {
  # Checks that every feature of the library builds alone.
  command -v cargo-hack >/dev/null 2>&1 && return 0
  echo "provision: installing cargo-hack from crates.io"
  cargo install --quiet --locked cargo-hack
}

if [ ${#need[@]} -eq 0 ]; then
  echo "provision: PostgreSQL, MariaDB, memcached, Redis, NATS, RabbitMQ, wrk, valgrind and the PostgreSQL and MySQL client libraries are installed"
  install_validator
  install_cargo_hack
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "provision: missing ${need[*]}, and there is no apt-get here; install them with your package manager" >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi

echo "provision: installing ${need[*]}"
# Keep the packages' own services from starting: the tests run their own.
policy=/usr/sbin/policy-rc.d
created_policy=false
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod +x "$policy"
  created_policy=true
fi
cleanup() { if $created_policy; then "${sudo[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
install_validator
install_cargo_hack
