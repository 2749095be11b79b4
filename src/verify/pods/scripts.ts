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

/** Shared prelude: refuse a bridge with real containers; remove a leftover pod of an interrupted run. */
const PRELUDE = `set -u
ns=${POD_NS}; hv=${POD_VETH}
say() { printf '@@%s\\n' "$*"; }
# A leftover from an interrupted run is replaced.
ip netns del $ns 2>/dev/null; ip link del $hv 2>/dev/null
ports() { ls "/sys/class/net/$1/brif" 2>/dev/null | grep -v "^$hv\\$" | tr '\\n' ' '; }
`;

/**
 * As a container runtime would: $1 bridge, $2 bridge address/len (FLANNEL_SUBNET), $3 MTU,
 * $4 pod address/len, $5 gateway. Creates the bridge (aliased) only when it does not exist.
 */
export const SETUP_RUNTIME = `${PRELUDE}br=$1; braddr=$2; mtu=$3; pod=$4; gw=$5
if [ -d "/sys/class/net/$br" ]; then
  p=$(ports "$br")
  if [ -n "$p" ]; then say "refuse $p"; exit 0; fi
  ip -4 -o addr show dev "$br" | grep -q " $braddr " || { say "error bridge $br does not hold $braddr (FLANNEL_SUBNET)"; exit 0; }
  alias=$(cat "/sys/class/net/$br/ifalias" 2>/dev/null)
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
ip link add $hv mtu "$mtu" type veth peer name $hv-p mtu "$mtu" || fail "ip link add $hv type veth"
ip link set $hv-p netns $ns || fail "ip link set $hv-p netns $ns"
ip -n $ns link set $hv-p name ${POD_IFNAME} || fail "rename to ${POD_IFNAME}"
ip -n $ns addr add "$pod" dev ${POD_IFNAME} || fail "ip addr add $pod"
ip -n $ns link set lo up && ip -n $ns link set ${POD_IFNAME} up || fail "link up in $ns"
ip -n $ns route add default via "$gw" || fail "ip route add default via $gw"
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
 * pod's namespace, then (tag, source) pairs for the node's HOST_CHAIN. Prints the node's nat table
 * and filter FORWARD chain with counters (the "before" snapshot).
 */
export const ARM = `set -u
n=$1; shift
inpod() { ip netns exec ${POD_NS} "$@"; }
if [ "$n" != - ]; then
  inpod iptables -w 5 -N ${POD_CHAIN} && inpod iptables -w 5 -A INPUT -j ${POD_CHAIN} || echo "@@error cannot add ${POD_CHAIN} in ${POD_NS}"
  i=0
  while [ $i -lt "$n" ]; do
    inpod iptables -w 5 -A ${POD_CHAIN} -s "$2/32" -p icmp --icmp-type echo-request -m comment --comment "$1" -j RETURN
    shift 2; i=$((i+1))
  done
  inpod iptables -w 5 -A ${POD_CHAIN} -p icmp --icmp-type echo-request -m comment --comment other
fi
if [ $# -gt 0 ]; then
  iptables -w 5 -N ${HOST_CHAIN} 2>/dev/null; iptables -w 5 -F ${HOST_CHAIN}
  iptables -w 5 -C INPUT -j ${HOST_CHAIN} 2>/dev/null || iptables -w 5 -I INPUT 1 -j ${HOST_CHAIN} || echo "@@error cannot add ${HOST_CHAIN}"
  while [ $# -ge 2 ]; do
    iptables -w 5 -A ${HOST_CHAIN} -s "$2/32" -p icmp --icmp-type echo-request -m comment --comment "$1"
    shift 2
  done
fi
echo @@nat; iptables -w 5 -t nat -S -v
echo @@forward; iptables -w 5 -t filter -S FORWARD -v
`;

/** After the pings: the pod's counters, the node's HOST_CHAIN counters, and the "after" snapshot. */
export const COLLECT = `set -u
echo @@pod; ip netns exec ${POD_NS} iptables -w 5 -S ${POD_CHAIN} -v
echo @@host; iptables -w 5 -S ${HOST_CHAIN} -v 2>/dev/null
echo @@nat; iptables -w 5 -t nat -S -v
echo @@forward; iptables -w 5 -t filter -S FORWARD -v
`;

/**
 * Remove everything: $1 bridge, $2 unused (the bridge is removed when it carries verify's alias and
 * has no ports, also after an interrupted setup), $3 binDir ("-" for none),
 * $4 container id, then (type, config) pairs for CNI DEL in reverse conflist order. Prints @@left
 * lines for anything still present.
 */
export const TEARDOWN = `set -u
br=$1; created=$2; bin=$3; id=$4; shift 4
ns=${POD_NS}; hv=${POD_VETH}
while [ $# -ge 2 ]; do
  type=$1; conf=$2; shift 2
  out=$(printf '%s' "$conf" | CNI_COMMAND=DEL CNI_CONTAINERID=$id CNI_NETNS=/run/netns/$ns CNI_IFNAME=${POD_IFNAME} CNI_PATH=$bin "$bin/$type" 2>&1) ||
    echo "@@error CNI DEL $type: $(printf '%s' "$out" | tr '\\n' ' ')"
done
ip netns del $ns 2>/dev/null
ip link del $hv 2>/dev/null
if iptables -w 5 -C INPUT -j ${HOST_CHAIN} 2>/dev/null; then
  iptables -w 5 -D INPUT -j ${HOST_CHAIN}; iptables -w 5 -F ${HOST_CHAIN}; iptables -w 5 -X ${HOST_CHAIN}
fi
mine=0; [ "$(cat "/sys/class/net/$br/ifalias" 2>/dev/null)" = ${BRIDGE_ALIAS} ] && mine=1
if [ $mine = 1 ] && [ -z "$(ls "/sys/class/net/$br/brif" 2>/dev/null)" ]; then
  ip link del "$br"
fi
[ -e /run/netns/$ns ] && echo "@@left netns $ns"
[ -d /sys/class/net/$hv ] && echo "@@left link $hv"
iptables -w 5 -n -L ${HOST_CHAIN} >/dev/null 2>&1 && echo "@@left chain ${HOST_CHAIN}"
[ $mine = 1 ] && [ -d "/sys/class/net/$br" ] && echo "@@left bridge $br"
exit 0
`;
