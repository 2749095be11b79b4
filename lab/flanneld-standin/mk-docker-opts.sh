#!/bin/sh
# mk-docker-opts.sh — flanctl's own implementation of the behaviour documented for flannel's
# dist/mk-docker-opts.sh (FLANNEL.md §7). Shipped with the flanneld stand-in (TEST EQUIPMENT).
# Reads flannel's subnet.env and writes Docker daemon options to an env file.

usage() {
	cat >&2 <<USAGE
$0 [-f FLANNEL-ENV-FILE] [-d DOCKER-ENV-FILE] [-i] [-c] [-m] [-k COMBINED-KEY]

Generate Docker daemon options based on flannel env file
OPTIONS:
	-f	Path to flannel env file. Defaults to /run/flannel/subnet.env
	-d	Path to Docker env file to write to. Defaults to /run/docker_opts.env
	-i	Output each Docker option as individual var. e.g. DOCKER_OPT_MTU=1500
	-c	Output combined Docker options into DOCKER_OPTS var
	-k	Set the combined options key to this value (default DOCKER_OPTS=)
	-m	Do not output --ip-masq (useful for older Docker version)
USAGE
	exit 1
}

flannel_env="/run/flannel/subnet.env"
docker_env="/run/docker_opts.env"
combined_opts_key="DOCKER_OPTS"
indiv_opts=false
combined_opts=false
ipmasq=true

while getopts "f:d:icmk:" opt; do
	case $opt in
	f) flannel_env=$OPTARG ;;
	d) docker_env=$OPTARG ;;
	i) indiv_opts=true ;;
	c) combined_opts=true ;;
	m) ipmasq=false ;;
	k) combined_opts_key=$OPTARG ;;
	*) usage ;;
	esac
done

if [ "$indiv_opts" = false ] && [ "$combined_opts" = false ]; then
	indiv_opts=true
	combined_opts=true
fi

case $combined_opts_key in
'' | [0-9]* | *[!A-Za-z0-9_]*)
	echo "invalid combined key: $combined_opts_key" >&2
	exit 1
	;;
esac

# The combined variable's value from the environment (prepended below), read before sourcing.
eval "combined_prefix=\${$combined_opts_key:-}"

if [ ! -f "$flannel_env" ]; then
	echo "$flannel_env: no such file (is flanneld running?)" >&2
	exit 1
fi
# shellcheck disable=SC1090
. "$flannel_env"

# Refuse when the routing table already routes this node's own subnet via a gateway.
if [ -n "$FLANNEL_SUBNET" ] && command -v ip >/dev/null 2>&1; then
	addr=${FLANNEL_SUBNET%/*}
	len=${FLANNEL_SUBNET#*/}
	old_ifs=$IFS
	IFS=.
	# shellcheck disable=SC2086
	set -- $addr
	IFS=$old_ifs
	if [ $# -eq 4 ] && [ -n "$len" ] && [ "$len" -ge 0 ] 2>/dev/null && [ "$len" -le 32 ]; then
		n=$((($1 << 24) + ($2 << 16) + ($3 << 8) + $4))
		mask=$(((0xffffffff << (32 - len)) & 0xffffffff))
		net=$((n & mask))
		net_addr="$((net >> 24 & 255)).$((net >> 16 & 255)).$((net >> 8 & 255)).$((net & 255))"
		if ip -4 route show "$net_addr/$len" 2>/dev/null | grep -q ' via '; then
			echo "Your routing table already contains the subnet $net_addr/$len" >&2
			exit 1
		fi
	fi
fi

bip=""
mtu=""
masq=""
[ -n "$FLANNEL_SUBNET" ] && bip="--bip=$FLANNEL_SUBNET"
[ -n "$FLANNEL_MTU" ] && mtu="--mtu=$FLANNEL_MTU"
if [ "$ipmasq" = true ]; then
	case $FLANNEL_IPMASQ in
	true) masq="--ip-masq=false" ;;
	false) masq="--ip-masq=true" ;;
	*)
		echo "Invalid value of FLANNEL_IPMASQ: \"$FLANNEL_IPMASQ\" (expected true or false)" >&2
		exit 1
		;;
	esac
fi

tmp="$docker_env.tmp.$$"
{
	if [ "$indiv_opts" = true ]; then
		if [ -n "$bip" ]; then echo "DOCKER_OPT_BIP=\"$bip\""; fi
		if [ -n "$masq" ]; then echo "DOCKER_OPT_IPMASQ=\"$masq\""; fi
		if [ -n "$mtu" ]; then echo "DOCKER_OPT_MTU=\"$mtu\""; fi
	fi
	if [ "$combined_opts" = true ]; then
		val="$combined_prefix"
		for o in "$bip" "$masq" "$mtu"; do
			if [ -n "$o" ]; then val="$val $o"; fi
		done
		echo "$combined_opts_key=\"$val\""
	fi
} >"$tmp" || {
	rm -f "$tmp"
	exit 1
}
mv -f "$tmp" "$docker_env"
