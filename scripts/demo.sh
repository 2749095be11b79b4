#!/usr/bin/env bash
# npm run demo [-- --init systemd] — a 3-node lab on this machine (network namespaces with their own
# sshd and supervisord — or, with --init systemd, nodes booting a real systemd with systemd-nspawn —,
# a TLS etcd, the flanneld stand-in), then what an operator does on a real cluster:
# plan → bootstrap → verify → status → a second, idempotent bootstrap.
# Needs root. Does its own set-up first (scripts/setup.sh: Debian packages, npm ci, build).
# The lab stays up afterwards; remove it with: node bin/run.js lab down --purge --dir "$DIR"
#   RELEASE=v0.11.0|v0.20.2|v0.22.3   the flannel release the stand-in emulates (default v0.20.2)
#   FLANNEL_TARBALL=./flannel-v0.22.3-linux-amd64.tar.gz   a real flannel release instead of the stand-in
set -euo pipefail
cd "$(dirname "$0")/.."

INIT=supervisord
while (($#)); do
  case $1 in
    --init) INIT=${2:-}; shift 2 || true ;;
    --init=*) INIT=${1#--init=}; shift ;;
    *) echo "demo: unknown argument $1 (usage: npm run demo [-- --init systemd])" >&2; exit 2 ;;
  esac
done
case $INIT in supervisord|systemd) ;; *) echo "demo: --init $INIT: expected supervisord or systemd" >&2; exit 2 ;; esac

DIR=${FLANCTL_LAB_DIR:-.flanctl-lab}
[[ $INIT == systemd ]] && DIR=${FLANCTL_LAB_DIR:-.flanctl-lab-systemd}
NODES=${NODES:-3}
INV="$DIR/inventory.yaml"
flanctl() { node bin/run.js "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ "$(id -u)" != 0 ]; then echo "demo: needs root (network namespaces, mounts, a bridge): sudo npm run demo" >&2; exit 1; fi
step "set-up (scripts/setup.sh): Debian packages, npm ci, build — only what is missing"
bash scripts/setup.sh $([[ $INIT == systemd ]] && echo --systemd)

RELEASE=${RELEASE:-v0.20.2}
if [ -n "${FLANNEL_TARBALL:-}" ]; then FLANNEL=(--flannel-tarball "$FLANNEL_TARBALL"); else FLANNEL=(--release "$RELEASE"); fi
step "flanctl lab up --init $INIT --nodes $NODES --dir $DIR ${FLANNEL[*]}"
flanctl lab up --init "$INIT" --nodes "$NODES" --dir "$DIR" "${FLANNEL[@]}"
flanctl lab status --dir "$DIR"

step "flanctl validate -i $INV"
flanctl validate -i "$INV"

step "flanctl plan -i $INV   (what bootstrap would change; changes nothing)"
flanctl plan -i "$INV"

step "flanctl bootstrap -i $INV   (certs, etcd config, binaries, $INIT units/programs, iptables, then verify)"
flanctl bootstrap -i "$INV"

step "flanctl verify -i $INV   (every node pings every other node's flannel.1, plus health checks)"
flanctl verify -i "$INV"

step "flanctl status -i $INV   (leases in etcd joined with the inventory)"
flanctl status -i "$INV"

step "flanctl bootstrap -i $INV   again: idempotent, nothing changes, nothing restarts"
flanctl bootstrap -i "$INV" --no-verify

step "done"
echo "try: node bin/run.js switch-backend host-gw -i $INV --yes   ·   remove the lab: node bin/run.js lab down --purge --dir $DIR"
