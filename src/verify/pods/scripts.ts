/**
 * The shell scripts `verify --pods` runs on each node, as constants fed on stdin to `sh -s --`
 * (arguments travel as argv, never spliced into the script). They need only what every flannel node
 * has: sh, iproute2 (`ip netns`, veth, bridge) and iptables. Source addresses are observed with
 * per-source counting rules (no target, so they only count) inside the throwaway pod's own network
 * namespace, and in a temporary FLANCTL-PODS chain on the node for the masquerade-out check; no
 * responder program is shipped or started, so a minimal host needs nothing extra.
 *
 * Output lines start with `@@` markers parsed by run.ts.
 */

import { PING_SCRIPT } from '../probes.js';

/** The throwaway pod: its network namespace, the host end of its veth, the pod-side name. */
export const POD_NS = 'flanctl-pod';
export const POD_VETH = 'flanctl-pod';
export const POD_IFNAME = 'eth0';
/** The chain counting sources inside the pod's namespace. */
export const POD_CHAIN = 'FLANCTL-POD';
/** The temporary chain on the node (filter INPUT) counting sources for the masquerade-out check. */
export const HOST_CHAIN = 'FLANCTL-PODS';
/** The alias verify puts on a bridge it had to create (no container runtime made it yet). */
export const BRIDGE_ALIAS = 'flanctl-verify-pods';

/**
 * Shared prelude: refuse a bridge with real containers; remove a leftover pod of an interrupted run.
 * Only shell builtins where a test suffices (no `ls | grep`, no `cat`): 20 nodes run this at once.
 */
const PRELUDE = `set -u
ns=${POD_NS}; hv=${POD_VETH}
say() { printf '@@%s\\n' "$*"; }
# A leftover from an interrupted run is replaced.
[ -e /run/netns/$ns ] && ip netns del $ns
[ -d /sys/class/net/$hv ] && ip link del $hv
ports() { p=''; for f in /sys/class/net/$1/brif/*; do [ -e "$f" ] && [ "\${f##*/}" != $hv ] && p="$p\${f##*/} "; done; printf '%s' "$p"; }
`;

/**
 * As a container runtime would: $1 bridge, $2 bridge address/len (FLANNEL_SUBNET), $3 MTU,
 * $4 pod address/len, $5 gateway. Creates the bridge (aliased) only when it does not exist.
 * The veth's pod end is created inside the namespace as ${POD_IFNAME}, and the namespace side is
 * configured by one \`ip -batch\` (4 processes per pod instead of 9).
 */
export const SETUP_RUNTIME = `${PRELUDE}br=$1; braddr=$2; mtu=$3; pod=$4; gw=$5
if [ -d "/sys/class/net/$br" ]; then
  p=$(ports "$br")
  if [ -n "$p" ]; then say "refuse $p"; exit 0; fi
  ip -4 -o addr show dev "$br" | grep -q " $braddr " || { say "error bridge $br does not hold $braddr (FLANNEL_SUBNET)"; exit 0; }
  alias=''; read -r alias 2>/dev/null < "/sys/class/net/$br/ifalias"
  [ "$alias" = ${BRIDGE_ALIAS} ] && say bridge-created
else
  ip link add "$br" type bridge || { say "error ip link add $br type bridge failed"; exit 0; }
  say bridge-created
  ip link set "$br" alias ${BRIDGE_ALIAS}
  ip addr add "$braddr" dev "$br" && ip link set "$br" mtu "$mtu" up || { say "error cannot configure bridge $br"; exit 0; }
fi
fail() { say "error $*"; exit 0; }
ip netns add $ns || fail "ip netns add $ns"
say netns
ip link add $hv mtu "$mtu" type veth peer name ${POD_IFNAME} mtu "$mtu" netns $ns || fail "ip link add $hv type veth peer name ${POD_IFNAME} netns $ns"
out=$(printf 'addr add %s dev ${POD_IFNAME}\\nlink set lo up\\nlink set ${POD_IFNAME} up\\nroute add default via %s\\n' "$pod" "$gw" | ip -n $ns -batch - 2>&1) ||
  fail "configuring ${POD_IFNAME} in $ns ($pod, default via $gw): $(printf '%s' "$out" | tr '\\n' ' ')"
ip link set $hv master "$br" up || fail "ip link set $hv master $br"
say "pod $pod"
`;

/**
 * Through the CNI plugins, as kubelet would: $1 bridge (refused when it has ports), $2 binDir,
 * $3 container id, then pairs of (plugin type, plugin config JSON) in conflist order. Each plugin
 * after the first gets the previous result as prevResult. Prints the last result after @@result.
 */
export const SETUP_CNI = `${PRELUDE}br=$1; bin=$2; id=$3; shift 3
if [ -d "/sys/class/net/$br" ]; then
  p=$(ports "$br")
  if [ -n "$p" ]; then say "refuse $p"; exit 0; fi
else
  say bridge-created
fi
had=0; [ -d "/sys/class/net/$br" ] && had=1
ip netns add $ns || { say "error ip netns add $ns"; exit 0; }
say netns
prev=''
while [ $# -ge 2 ]; do
  type=$1; conf=$2; shift 2
  [ -x "$bin/$type" ] || { say "error CNI plugin $bin/$type not found"; exit 0; }
  [ -n "$prev" ] && conf="\${conf%\\}},\\"prevResult\\":$prev}"
  out=$(printf '%s' "$conf" | CNI_COMMAND=ADD CNI_CONTAINERID=$id CNI_NETNS=/run/netns/$ns CNI_IFNAME=${POD_IFNAME} CNI_PATH=$bin "$bin/$type" 2>&1) || {
    say "error CNI ADD $type failed: $(printf '%s' "$out" | tr '\\n' ' ')"; exit 0; }
  prev=$out
  # The bridge plugin made the bridge: mark it as verify's, so teardown removes it again.
  [ $had = 0 ] && [ -d "/sys/class/net/$br" ] && ip link set "$br" alias ${BRIDGE_ALIAS}
done
say result
printf '%s\\n' "$prev"
`;

/**
 * Arm the counters: $1 = count of pod-chain entries ("-": no pod on this node), then that many (tag, source) pairs for the
 * pod's namespace, then (tag, source) pairs for the node's HOST_CHAIN. Each chain is loaded by one
 * `iptables-restore --noflush` (one process per chain, not one per rule: 20 nodes arm 76 rules each).
 * Prints the node's nat table and filter FORWARD chain with counters (the "before" snapshot).
 */
export const ARM = `set -u
n=$1; shift
nl='
'
# rule CHAIN TAG SOURCE [TARGET]: one line of iptables-restore input, appended to $buf (no forks).
rule() { buf="$buf-A $1 -s $3 -p icmp --icmp-type echo-request -m comment --comment \\"$2\\"\${4:+ -j $4}$nl"; }
if [ "$n" != - ]; then
  buf="*filter$nl:${POD_CHAIN} - [0:0]$nl-A INPUT -j ${POD_CHAIN}$nl"
  i=0
  while [ $i -lt "$n" ]; do rule ${POD_CHAIN} "$1" "$2/32" RETURN; shift 2; i=$((i+1)); done
  buf="$buf-A ${POD_CHAIN} -p icmp --icmp-type echo-request -m comment --comment other\${nl}COMMIT$nl"
  printf '%s' "$buf" | ip netns exec ${POD_NS} iptables-restore -w 5 --noflush || echo "@@error cannot add ${POD_CHAIN} in ${POD_NS}"
fi
if [ $# -gt 0 ]; then
  buf="*filter$nl:${HOST_CHAIN} - [0:0]$nl"
  iptables -w 5 -C INPUT -j ${HOST_CHAIN} 2>/dev/null || buf="$buf-I INPUT 1 -j ${HOST_CHAIN}$nl"
  while [ $# -ge 2 ]; do rule ${HOST_CHAIN} "$1" "$2/32"; shift 2; done
  printf '%s' "\${buf}COMMIT$nl" | iptables-restore -w 5 --noflush || echo "@@error cannot add ${HOST_CHAIN}"
fi
echo @@nat; iptables -w 5 -t nat -S -v
echo @@forward; iptables -w 5 -t filter -S FORWARD -v
`;

/**
 * After the pings: the pod's counters, the node's HOST_CHAIN counters, and the "after" snapshot.
 */
export const COLLECT = `set -u
echo @@pod; ip netns exec ${POD_NS} iptables -w 5 -S ${POD_CHAIN} -v 2>/dev/null
echo @@host; iptables -w 5 -S ${HOST_CHAIN} -v 2>/dev/null
echo @@nat; iptables -w 5 -t nat -S -v
echo @@forward; iptables -w 5 -t filter -S FORWARD -v
`;

/**
 * Remove everything: $1 bridge, $2 unused (the bridge is removed when it carries verify's alias and
 * has no ports, also after an interrupted setup), $3 binDir ("-" for none),
 * $4 container id, then (type, config) pairs for CNI DEL in reverse conflist order. Prints @@left
 * lines for anything still present. Deleting the namespace deletes the veth pair with it.
 */
export const TEARDOWN = `set -u
br=$1; created=$2; bin=$3; id=$4; shift 4
ns=${POD_NS}; hv=${POD_VETH}; nl='
'
while [ $# -ge 2 ]; do
  type=$1; conf=$2; shift 2
  out=$(printf '%s' "$conf" | CNI_COMMAND=DEL CNI_CONTAINERID=$id CNI_NETNS=/run/netns/$ns CNI_IFNAME=${POD_IFNAME} CNI_PATH=$bin "$bin/$type" 2>&1) ||
    echo "@@error CNI DEL $type: $(printf '%s' "$out" | tr '\\n' ' ')"
done
# The veth first: deleting it removes both ends at once (a namespace's links go asynchronously).
[ -d /sys/class/net/$hv ] && ip link del $hv
[ -e /run/netns/$ns ] && ip netns del $ns
if iptables -w 5 -n -L ${HOST_CHAIN} >/dev/null 2>&1; then
  buf="*filter$nl"
  iptables -w 5 -C INPUT -j ${HOST_CHAIN} 2>/dev/null && buf="$buf-D INPUT -j ${HOST_CHAIN}$nl"
  printf '%s' "$buf-F ${HOST_CHAIN}$nl-X ${HOST_CHAIN}\${nl}COMMIT$nl" | iptables-restore -w 5 --noflush
  iptables -w 5 -n -L ${HOST_CHAIN} >/dev/null 2>&1 && echo "@@left chain ${HOST_CHAIN}"
fi
mine=0; alias=''; read -r alias 2>/dev/null < "/sys/class/net/$br/ifalias"; [ "$alias" = ${BRIDGE_ALIAS} ] && mine=1
if [ $mine = 1 ]; then
  set -- "/sys/class/net/$br/brif/"*
  [ -e "$1" ] || ip link del "$br"
fi
[ -e /run/netns/$ns ] && echo "@@left netns $ns"
[ -d /sys/class/net/$hv ] && echo "@@left link $hv"
[ $mine = 1 ] && [ -d "/sys/class/net/$br" ] && echo "@@left bridge $br"
exit 0
`;

/**
 * COLLECT (the "mid" snapshot), then the pod pings $@ (the masquerade-out target) in the same round
 * trip: the snapshot is complete before the ping starts, and its traffic shows in the next COLLECT.
 */
export const COLLECT_THEN_PING = `${COLLECT}echo @@ping
[ $# -gt 0 ] || exit 0
exec ip netns exec ${POD_NS} sh -s -- - 0 "$@" <<'FLANCTL_PING'
${PING_SCRIPT}FLANCTL_PING
`;
