#!/usr/bin/env bash
# Baseline for `flanctl verify` (bench/verify.mjs): the manual check — from every node, ping every
# peer's overlay address, one `ssh node ping -c1 -W1 peer` after the other.
#
# usage: baseline-verify.sh PAIRS     PAIRS: lines "from-address overlay-address-to-ping"
# environment: SSH_KEY KNOWN_HOSTS
# prints "ok=<pairs answered> failed=<pairs not answered>"
set -uo pipefail
pairs=${1:?usage: baseline-verify.sh PAIRS}
: "${SSH_KEY:?}" "${KNOWN_HOSTS:?}"
ssh_opts=(-F /dev/null -i "$SSH_KEY" -o "UserKnownHostsFile=$KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null
  -o StrictHostKeyChecking=yes -o BatchMode=yes -o LogLevel=ERROR)
ok=0 failed=0
while read -r -u 3 from target; do
  if ssh "${ssh_opts[@]}" "root@$from" ping -c1 -W1 "$target" >/dev/null 2>&1; then ok=$((ok + 1)); else failed=$((failed + 1)); fi
done 3<"$pairs"
echo "ok=$ok failed=$failed"
