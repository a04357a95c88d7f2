#!/usr/bin/env bash
# Installs what the tests, the fault tests and `npm run cluster` need on a Debian machine, only what
# is missing (idempotent): the PostgreSQL 15 server binaries (initdb, postgres, pg_ctl,
# pg_basebackup), redis-server and redis-cli, iproute2 (ip netns, veth, bridge; tc) and util-linux
# (setpriv: Postgres refuses to run as root, so the tests run it as the postgres user).
# `npm run cluster` and `npm run test:cluster` also need root, for network namespaces.
# Nothing else is installed: no iptables or nftables (partitions are routes), no pg_auto_failover
# (failover is the documented procedure of infra/README.md).
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
pg_server() { ls /usr/lib/postgresql/*/bin/pg_basebackup >/dev/null 2>&1 || have pg_basebackup; }

pg_server || need+=(postgresql-15 postgresql-client-15)
have redis-server || need+=(redis-server)
have redis-cli || need+=(redis-tools)
have ip || need+=(iproute2)
have tc || need+=(iproute2)
have setpriv || need+=(util-linux)

if [ ${#need[@]} -eq 0 ]; then
  echo "setup: nothing to install"
else
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
id postgres >/dev/null 2>&1 || { echo "setup: no postgres user (the postgresql package creates it)"; exit 1; }
echo "setup: postgres $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | head -n 1), $(redis-server --version | cut -d' ' -f3), $(ip -V)"
