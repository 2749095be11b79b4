/**
 * The remote half of flanneld-ctl.ts: one POSIX sh script that stops, starts or restarts flanneld
 * and waits, on the node itself, until flanneld is ready — one SSH round trip per node instead of a
 * fixed wait (supervisord's startsecs) plus status polls over SSH.
 *
 * Arguments: flanneld-ctl MANAGER ACTION SUBNET_FILE TIMEOUT_S HEALTHZ_PORT SINCE
 *   MANAGER supervisord | systemd; ACTION stop | start | restart | wait;
 *   SINCE (wait only) the subnet.env token read before the caller (re)started flanneld, "-" otherwise.
 * Ready = flanneld wrote subnet.env since the action (a new inode/mtime: flanneld rewrites it
 * atomically on every start, FLANNEL.md §4), the service is up (supervisord STARTING/RUNNING,
 * systemd active = READY=1 for Type=notify), and /healthz answers when a port is set.
 * The caller checks the lease in etcd. After a stop, `after_stop` (appended by the caller) runs the
 * cleanup commands in the same round trip.
 *
 * supervisord is driven through its XML-RPC socket with curl when supervisorctl's own config points
 * at a unix socket without credentials: startProcess(wait=false) returns at once (no startsecs
 * wait) and a status read costs a few ms instead of a Python start-up (~0.2 s CPU). Otherwise, or
 * when the socket does not answer, it falls back to supervisorctl.
 *
 * Output: "@key value" lines (result, why, via, state, token, healthz, backoffs, ms), "@action RC ERR"
 * per cleanup command, then "@subnetenv" followed by subnet.env, or "@links"/"@routes" + JSON.
 */
export const CTL_MARKER = 'flanneld-ctl';

/**
 * POSIX sh, builtins only (no process per call: at 20 nodes polling together, every tr or sed in a
 * loop is a fork and an exec on each node). `member XML NAME` sets $v to the value of the first
 * `<member>` called NAME in an XML-RPC answer (`<string>`, `<int>`/`<i4>` or a bare value; newlines
 * between the tags as supervisord sends them); returns 1 when there is none. `flat TEXT` sets $v to
 * TEXT with its newlines turned into spaces.
 */
export const XML_SH = `member() {
  v=\${1#*<name>$2</name>}
  [ "$v" = "$1" ] && { v=; return 1; }
  v=\${v#*<value>}; v=\${v#<string>}; v=\${v#<int>}; v=\${v#<i4>}; v=\${v%%<*}
}
NL='
'
flat() {
  v= _f=$1
  while :; do
    case "$_f" in *"$NL"*) v="$v\${_f%%"$NL"*} "; _f=\${_f#*"$NL"} ;; *) break ;; esac
  done
  v=$v$_f
}`;

/**
 * POSIX sh that sets $sock to supervisord's unix socket when supervisorctl's own config (the files it
 * searches, first found) names one without credentials (one awk reads serverurl and username of its
 * [supervisorctl] section), and defines `call METHOD [PARAMS]` (curl), `rpc METHOD NAME [PARAMS]` (a call
 * with NAME as its first parameter) and `fault RESPONSE`.
 * Empty $sock: use supervisorctl. Whether the socket speaks XML-RPC is left to the caller: a script
 * that judges every answer itself (the status read, update) falls back on a bad one; the others add
 * SUPERVISOR_PROBE_SH.
 */
export const SUPERVISOR_SOCK_SH = String.raw`sock=
if command -v curl >/dev/null 2>&1; then
  for c in /usr/etc/supervisord.conf /usr/supervisord.conf /etc/supervisord.conf /etc/supervisor/supervisord.conf; do
    [ -f "$c" ] || continue
    sock=$(awk '/^[ \t]*\[/ {s = ($0 ~ /^[ \t]*\[supervisorctl\]/); next}
      s && !hu && /^[ \t]*serverurl[ \t]*=/ {hu = 1; u = $0; sub(/^[^=]*=[ \t]*/, "", u); sub(/[ \t]+;.*$/, "", u)}
      s && !hn && /^[ \t]*username[ \t]*=/ {hn = 1; n = $0; sub(/^[^=]*=[ \t]*/, "", n); sub(/[ \t]+;.*$/, "", n)}
      END {if (u ~ /^unix:\/\// && u !~ /%\(/ && n == "") print substr(u, 8)}' "$c")
    break
  done
fi
call() { curl -s -m 60 --unix-socket "$sock" -H 'Content-Type: text/xml' --data-binary "<?xml version='1.0'?><methodCall><methodName>supervisor.$1</methodName><params>$2</params></methodCall>" http://localhost/RPC2; }
rpc() { call "$1" "<param><value><string>$2</string></value></param>$3"; }
${XML_SH}
fault() { case "$1" in *'<fault>'*) member "$1" faultString; printf '%s' "$v";; *) return 1;; esac; }`;

/** After SUPERVISOR_SOCK_SH: keep $sock only when it answers XML-RPC (any answer, even a fault, shows it does). */
export const SUPERVISOR_PROBE_SH = String.raw`if [ -n "$sock" ]; then
  case "$(rpc getProcessInfo flanctl-probe)" in *'<methodResponse>'*) ;; *) sock= ;; esac
fi`;

export const FLANNELD_CTL_SCRIPT = String.raw`mgr=$2 act=$3 sf=$4 tmo=$5 hz=$6 since=$7
prog=flanneld
tok() { stat -c '%i %y' "$sf" 2>/dev/null || echo none; }
now_ms() { t=$(date +%s%N 2>/dev/null); case "$t" in *N|'') echo $(( $(date +%s) * 1000 ));; *) echo $(( t / 1000000 ));; esac; }
# Polls cost processes on the node (20 nodes polling every 0.1 s are a core's worth of forks on a small
# machine): every 0.1 s for the first second, then every 0.25 s; the time waited is counted from the naps
# and re-read from the clock every 10th poll (no date process per poll).
el=0 np=0
nap() {
  nap_ms=100 nap_s=0.1; [ "$el" -ge 1000 ] && nap_ms=250 nap_s=0.25
  if sleep "$nap_s" 2>/dev/null; then el=$((el + nap_ms)); else sleep 1; el=$((el + 1000)); fi
  np=$((np + 1)); [ $((np % 10)) = 0 ] && el=$(( $(now_ms) - t0 ))
}
t0=$(now_ms)
${SUPERVISOR_SOCK_SH}
[ "$mgr" = supervisord ] || sock=
# stop / start / restart judge the answer of their own call (no XML-RPC answer: supervisorctl from
# then on); wait makes no call of its own, so it asks first whether the socket speaks XML-RPC.
if [ "$act" = wait ]; then
${SUPERVISOR_PROBE_SH}
fi
state() {
  case "$mgr" in
  systemd) s=$(systemctl is-active "$prog" 2>/dev/null); [ -n "$s" ] || s=unknown; echo "$s" ;;
  *)
    if [ -n "$sock" ]; then
      r=$(rpc getProcessInfo "$prog")
      case "$r" in *'<fault>'*) echo MISSING; return;; esac
      member "$r" statename && printf '%s\n' "$v"
    else
      supervisorctl status "$prog" 2>/dev/null | awk -v p="$prog" '$1==p {print $2; f=1} END {if (!f) print "MISSING"}'
    fi ;;
  esac
}
out() { flat "$2"; printf '@%s %s\n' "$1" "$v"; }
finish() {
  via=$mgr; [ "$mgr" = supervisord ] && { [ -n "$sock" ] && via=xmlrpc || via=supervisorctl; }
  # The state read in this very poll (just before the healthz probe, or the stop check) is not read again.
  if [ "$s_at" = "$i" ]; then st_end=$s; else st_end=$(state); fi
  out result "$1"; out why "$2"; out via "$via"; out state "$st_end"; out token "$(tok)"; out healthz "$hzs"; out backoffs "$bo"
  out ms $(( $(now_ms) - t0 ))
  if [ "$act" = stop ]; then
    if [ "$1" = stopped ] && command -v after_stop >/dev/null 2>&1; then after_stop; fi
    echo @links; ip -j link show 2>&1; echo; echo @routes; ip -4 -j route show table main 2>&1; echo
  else
    echo @subnetenv; cat "$sf" 2>/dev/null
  fi
  exit 0
}
act_() { e=$("$@" 2>&1 >/dev/null); rc=$?; flat "$e"; printf '@action %s %s\n' "$rc" "$v"; }
# $1 = how many ip commands are on stdin: one ip -force -batch runs them all (one process, not one
# each), and prints "@action" per command as act_ would: ip names each failure "Command failed -:N"
# after its message. An ip that fails without naming a line (busybox's has no -batch) runs each
# command on its own instead (the cleanup's commands are deletions: one run twice only finds it gone).
act_ipb() {
  n=$1 k=1 msg= seen= cmds=
  while IFS= read -r l; do cmds=$cmds$l$NL; done
  e=$(printf '%s' "$cmds" | ip -force -batch - 2>&1 >/dev/null); rc=$?
  while IFS= read -r l; do
    case "$l" in
    'Command failed -:'*)
      f=${'${'}l#Command failed -:}; seen=1
      while [ $k -lt "$f" ] && [ $k -le $n ]; do printf '@action 0 \n'; k=$((k + 1)); done
      flat "$msg"; [ $k -le $n ] && printf '@action 1 %s\n' "$v"; k=$((k + 1)); msg= ;;
    *) msg=${'${'}msg:+$msg$NL}$l ;;
    esac
  done <<FLANCTL_IPB_OUT
$e
FLANCTL_IPB_OUT
  if [ $rc != 0 ] && [ -z "$seen" ]; then
    set -f
    while IFS= read -r l; do [ -n "$l" ] && act_ ip $l; done <<FLANCTL_IPB_ONE
$cmds
FLANCTL_IPB_ONE
    set +f
    return 0
  fi
  while [ $k -le $n ]; do printf '@action 0 \n'; k=$((k + 1)); done
}
hzs=none bo=0 s_at=x said=
do_stop() {
  case "$mgr" in
  systemd) e=$(systemctl stop "$prog" 2>&1) || finish error "systemctl stop $prog: $e" ;;
  *)
    if [ -n "$sock" ]; then
      r=$(rpc stopProcess "$prog" '<param><value><boolean>1</boolean></value></param>')
      case "$r" in *'<methodResponse>'*) ;; *) sock= ;; esac
    fi
    if [ -n "$sock" ]; then
      f=$(fault "$r") && case "$f" in NOT_RUNNING*) ;; *) finish error "supervisord stopProcess: $f" ;; esac
      # stopProcess with wait=true answers true only once the process is STOPPED: no state read after it.
      [ -z "$f" ] && said=STOPPED
    else
      e=$(supervisorctl stop "$prog" 2>&1)
      case "$e" in *'ERROR (not running)'*) ;; *ERROR*) finish error "supervisorctl stop $prog: $e" ;; esac
    fi ;;
  esac
}
do_start() {
  case "$mgr" in
  systemd) e=$(systemctl "$1" --no-block "$prog" 2>&1) || finish error "systemctl $1 $prog: $e" ;;
  *)
    if [ -n "$sock" ]; then
      r=$(rpc startProcess "$prog" '<param><value><boolean>0</boolean></value></param>')
      case "$r" in *'<methodResponse>'*) ;; *) sock= ;; esac
    fi
    if [ -n "$sock" ]; then
      f=$(fault "$r") && case "$f" in ALREADY_STARTED*) already=1 ;; *) finish crash "supervisord startProcess: $f" ;; esac
      # Spawned (a spawn error is a fault): the first poll does not ask the state again.
      [ -z "$f" ] && said=STARTING
    else
      e=$(supervisorctl start "$prog" 2>&1)
      case "$e" in *'ERROR (already started)'*) already=1 ;; *ERROR*) finish crash "supervisorctl start $prog: $e" ;; esac
    fi ;;
  esac
}
already=0
# A rewrite of subnet.env is seen with shell builtins (test -nt against a mark file made before the
# start; dash compares nanoseconds): no stat process per poll. The stat token (inode + mtime) is still
# compared when the state is read (a file system with coarse timestamps), and always for wait (the
# caller's token) or without mktemp.
mark=
case "$act" in start|restart) mark=$(mktemp 2>/dev/null) || mark= ;; esac
[ -n "$mark" ] && trap 'rm -f "$mark"' EXIT
before=$(tok)
case "$act" in
stop)
  do_stop
  i=0
  [ "$said" = STOPPED ] && { s=STOPPED; s_at=$i; finish stopped ''; }
  while :; do
    s=$(state); s_at=$i
    case "$s" in RUNNING|STARTING|BACKOFF|STOPPING|active|activating|deactivating|reloading) ;; *) finish stopped '' ;; esac
    [ "$el" -ge $(( tmo * 1000 )) ] && finish timeout "$prog is still $s"
    nap
  done ;;
start) do_start start ;;
restart)
  if [ "$mgr" = systemd ]; then do_start restart; else do_stop; do_start start; fi ;;
wait) before=$since ;;
*) finish error "unknown action $act" ;;
esac
# A start that found flanneld already running waits for any subnet.env, not a new one.
[ "$already" = 1 ] && before=none
nr0=
if [ "$mgr" = systemd ]; then nr0=$(systemctl show -p NRestarts --value "$prog" 2>/dev/null); fi
i=0 inbo=0 s= s_at=x
every=5; [ "$mgr" = supervisord ] && [ -z "$sock" ] && every=20
rewritten() {
  if [ -n "$mark" ]; then
    [ -e "$sf" ] || return 1
    [ "$before" = none ] && return 0
    [ "$sf" -nt "$mark" ] && return 0
    [ $(( i % every )) = 0 ] || return 1
  fi
  cur=$(tok); [ "$cur" != none ] && [ "$cur" != "$before" ]
}
while :; do
  fresh=0; rewritten && fresh=1
  if [ $fresh = 1 ] || { [ $(( i % every )) = 0 ] && [ "$i$said" != 0STARTING ]; }; then
    s=$(state); s_at=$i
    case "$s" in
    FATAL) finish crash "$prog is FATAL under supervisord (it exited too quickly too often)" ;;
    BACKOFF) [ $inbo = 0 ] && bo=$((bo + 1)); inbo=1 ;;
    EXITED) [ $inbo = 0 ] && bo=$((bo + 1)); inbo=1 ;;
    STOPPED|MISSING) finish crash "$prog is $s" ;;
    failed) finish crash "$prog failed (systemd)" ;;
    *) inbo=0 ;;
    esac
    [ $bo -ge 2 ] && finish crash "$prog exited $bo times while starting"
    if [ -n "$nr0" ]; then
      nr=$(systemctl show -p NRestarts --value "$prog" 2>/dev/null)
      [ -n "$nr" ] && [ $(( nr - nr0 )) -ge 2 ] && finish crash "$prog exited $(( nr - nr0 )) times while starting (systemd NRestarts=$nr)"
    fi
  fi
  if [ $fresh = 1 ]; then
    case "$s" in RUNNING|STARTING|active)
      if [ "$hz" -gt 0 ] 2>/dev/null; then
        if command -v curl >/dev/null 2>&1; then
          c=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hz/healthz"); [ "$c" = 200 ] && hzs=ok || hzs="http $c"
        elif command -v wget >/dev/null 2>&1; then
          wget -q -T 2 -O /dev/null "http://127.0.0.1:$hz/healthz" && hzs=ok || hzs=failed
        else hzs=none; fi
        case "$hzs" in ok|none) finish ready '' ;; esac
      else finish ready ''; fi ;;
    esac
  fi
  if [ "$el" -ge $(( tmo * 1000 )) ]; then
    cur=$(tok)
    if [ $fresh = 1 ]; then finish timeout "$prog is $s and wrote $sf, but http://127.0.0.1:$hz/healthz does not answer ($hzs)"
    elif [ "$cur" = none ]; then finish timeout "$prog is $s but has not written $sf"
    else finish timeout "$prog is $s but has not rewritten $sf since it was (re)started"; fi
  fi
  i=$((i + 1)); nap
done
`;
