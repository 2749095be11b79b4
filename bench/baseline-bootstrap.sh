#!/usr/bin/env bash
# Baseline for `flanctl bootstrap` (bench/bootstrap-scaling.mjs): the way the binary-install tutorials
# do it — put the network config into etcd once, then one node after the other, a new ssh/scp
# connection per command: mkdir, scp the certificates, scp flanneld + mk-docker-opts.sh, scp the
# supervisord program file, `supervisorctl update`, wait for subnet.env.
# It does less than flanctl (no sysctl, no iptables script/rules, no checks, no peer-route check).
#
# usage: baseline-bootstrap.sh STAGING
#   STAGING/hosts                 lines "name address"
#   STAGING/certs/*.pem           ca.pem flanneld.pem flanneld-key.pem
#   STAGING/bin/*                 flanneld mk-docker-opts.sh
#   STAGING/conf/<name>.conf      the node's supervisord program file
#   STAGING/network-config.json   <prefix>/config
# environment: SSH_KEY KNOWN_HOSTS ETCD_ENDPOINTS ETCD_PREFIX ETCD_CA ETCD_CERT ETCD_KEY
#              CONFIG_DIR INSTALL_DIR LOG_DIR SUPERVISOR_CONF SUBNET_FILE [LEASE_TIMEOUT=60]
set -euo pipefail
staging=${1:?usage: baseline-bootstrap.sh STAGING}
for v in SSH_KEY KNOWN_HOSTS ETCD_ENDPOINTS ETCD_PREFIX ETCD_CA ETCD_CERT ETCD_KEY CONFIG_DIR INSTALL_DIR LOG_DIR SUPERVISOR_CONF SUBNET_FILE; do
  [[ -n ${!v:-} ]] || { echo "baseline-bootstrap.sh: $v is not set" >&2; exit 2; }
done
ssh_opts=(-F /dev/null -i "$SSH_KEY" -o "UserKnownHostsFile=$KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null
  -o StrictHostKeyChecking=yes -o BatchMode=yes -o LogLevel=ERROR)

ETCDCTL_API=3 etcdctl --endpoints="$ETCD_ENDPOINTS" --cacert="$ETCD_CA" --cert="$ETCD_CERT" --key="$ETCD_KEY" \
  put "$ETCD_PREFIX/config" "$(cat "$staging/network-config.json")" >/dev/null

while read -r -u 3 name addr; do
  ssh "${ssh_opts[@]}" "root@$addr" mkdir -p "$CONFIG_DIR" "$INSTALL_DIR" "$LOG_DIR"
  scp -q "${ssh_opts[@]}" "$staging"/certs/*.pem "root@$addr:$CONFIG_DIR/"
  scp -q "${ssh_opts[@]}" "$staging"/bin/* "root@$addr:$INSTALL_DIR/"
  scp -q "${ssh_opts[@]}" "$staging/conf/$name.conf" "root@$addr:$SUPERVISOR_CONF"
  ssh "${ssh_opts[@]}" "root@$addr" supervisorctl update >/dev/null
  ssh "${ssh_opts[@]}" "root@$addr" \
    "timeout ${LEASE_TIMEOUT:-60} sh -c 'until [ -s $SUBNET_FILE ]; do sleep 0.2; done'" ||
    { echo "$name: no $SUBNET_FILE after ${LEASE_TIMEOUT:-60} s" >&2; exit 1; }
done 3<"$staging/hosts"
