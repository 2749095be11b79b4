#!/usr/bin/env bash
# npm run demo — bring up a 3-node flanctl lab, show it, and (until `flanctl bootstrap` does it) start the
# flanneld stand-in on each node by hand under supervisord, then ping across the overlay.
# Needs root. The lab stays up afterwards: remove it with `node bin/run.js lab down --purge -d "$DIR"`.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${FLANCTL_LAB_DIR:-.flanctl-lab}
NODES=${NODES:-3}
TARBALL=lab/dist/flannel-v0.20.2-standin-linux-amd64.tar.gz
flanctl() { node bin/run.js "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ "$(id -u)" != 0 ]; then echo "demo: needs root (network namespaces, mounts, a bridge)" >&2; exit 1; fi
if [ ! -f dist/commands/lab/up.js ] || [ ! -f "$TARBALL" ]; then step "npm run build"; npm run build; fi

step "flanctl lab up --nodes $NODES --dir $DIR"
flanctl lab up --nodes "$NODES" --dir "$DIR"

step "flanctl lab status --dir $DIR"
flanctl lab status --dir "$DIR"

status=$(flanctl lab status --dir "$DIR" --json)
mapfile -t NAMES < <(jq -r '.nodes[].name' <<<"$status")
mapfile -t IPS < <(jq -r '.nodes[].ip' <<<"$status")
ENDPOINT=$(jq -r '.etcd.endpoint' <<<"$status")
CA="$DIR/pki/ca.pem" CERT="$DIR/etcd/tls/client.pem" KEY="$DIR/etcd/tls/client-key.pem"

step "the nodes: own hostname, eth0 address, processes (lab exec = nsenter, no SSH)"
flanctl lab exec "${NAMES[0]}" --dir "$DIR" -- sh -c 'echo "hostname: $(hostname)"; ip -br -4 addr show dev eth0; ps -eo pid,cmd'

step "SSH with the lab key and the generated known_hosts (strict host-key checking)"
for ip in "${IPS[@]}"; do
  ssh -i "$DIR/ssh/id_ed25519" -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$DIR/ssh/known_hosts" -o BatchMode=yes \
    "root@$ip" 'echo "$(hostname): $(uname -sr), sshd ok"'
done

step "node-to-node over the lab bridge: ${NAMES[0]} pings ${IPS[*]:1}"
for ip in "${IPS[@]:1}"; do flanctl lab exec "${NAMES[0]}" --dir "$DIR" -- ping -c 1 -W 2 "$ip" | grep -E 'bytes from|loss'; done

step "etcd with client-cert auth at $ENDPOINT: network config for flannel"
ETCDCTL_API=3 etcdctl --endpoints="$ENDPOINT" --cacert="$CA" --cert="$CERT" --key="$KEY" \
  put /coreos.com/network/config '{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}'
echo "without a client cert etcd refuses:"
ETCDCTL_API=3 etcdctl --endpoints="$ENDPOINT" --cacert="$CA" --dial-timeout=2s --command-timeout=3s get /coreos.com/network/config 2>&1 | tail -1 || true

step "flanneld stand-in on every node under supervisord (by hand; flanctl bootstrap does this for real)"
for name in "${NAMES[@]}"; do
  flanctl lab exec "$name" --dir "$DIR" -- mkdir -p /opt/flannel/bin /etc/flannel/pki
  flanctl lab exec "$name" --dir "$DIR" -- tar -xzf - -C /opt/flannel/bin < "$TARBALL"
  flanctl lab exec "$name" --dir "$DIR" -- sh -c 'cat > /etc/flannel/pki/ca.pem' < "$CA"
  flanctl lab exec "$name" --dir "$DIR" -- sh -c 'cat > /etc/flannel/pki/flanneld.pem' < "$CERT"
  flanctl lab exec "$name" --dir "$DIR" -- sh -c 'umask 077; cat > /etc/flannel/pki/flanneld-key.pem' < "$KEY"
  flanctl lab exec "$name" --dir "$DIR" -- sh -c 'cat > /etc/supervisor/conf.d/flanneld.conf && supervisorctl update' <<CONF
[program:flanneld]
command=/opt/flannel/bin/flanneld -etcd-endpoints=$ENDPOINT -etcd-cafile=/etc/flannel/pki/ca.pem -etcd-certfile=/etc/flannel/pki/flanneld.pem -etcd-keyfile=/etc/flannel/pki/flanneld-key.pem -iface=eth0 -ip-masq
autorestart=true
stdout_logfile=/var/log/flanneld.log
redirect_stderr=true
CONF
done

step "waiting for every node's /run/flannel/subnet.env"
declare -a OVERLAY
for i in "${!NAMES[@]}"; do
  for _ in $(seq 1 100); do
    if flanctl lab exec "${NAMES[$i]}" --dir "$DIR" -- test -s /run/flannel/subnet.env 2>/dev/null; then break; fi
    sleep 0.2
  done
  subnet=$(flanctl lab exec "${NAMES[$i]}" --dir "$DIR" -- sh -c '. /run/flannel/subnet.env && echo $FLANNEL_SUBNET')
  OVERLAY[$i]=${subnet%.*/*}.0
  echo "${NAMES[$i]}: FLANNEL_SUBNET=$subnet, flannel.1 ${OVERLAY[$i]}"
done

step "leases in etcd"
ETCDCTL_API=3 etcdctl --endpoints="$ENDPOINT" --cacert="$CA" --cert="$CERT" --key="$KEY" get --prefix /coreos.com/network/subnets

step "${NAMES[0]} pings every other node's flannel.1 address across the vxlan overlay"
sleep 2 # the stand-ins poll for peers every second
for i in "${!NAMES[@]}"; do
  [ "$i" = 0 ] && continue
  flanctl lab exec "${NAMES[0]}" --dir "$DIR" -- ping -c 1 -W 2 "${OVERLAY[$i]}" | grep -E 'bytes from|loss'
done

step "done"
echo "inventory: $DIR/inventory.yaml   ·   remove the lab: node bin/run.js lab down --purge --dir $DIR"
