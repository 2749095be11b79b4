/**
 * Fixed POSIX sh scripts that implement Connector.read/write with exec only (through sudo or an
 * nsenter prefix). Values are never spliced into them: paths and modes arrive as positional
 * arguments ("$1", "$2"), i.e. as argv elements.
 */

/** Exit code READ_ARGV uses for "no such file". */
export const MISSING_EXIT = 3;

/** argv that prints the file to stdout, or exits MISSING_EXIT when it does not exist. */
export function readArgv(path: string): string[] {
  return ['sh', '-c', `[ -e "$1" ] || exit ${MISSING_EXIT}; exec cat -- "$1"`, 'flanctl-read', path];
}

/**
 * argv that writes stdin to path atomically: temp file in the same directory, chmod, rename.
 * Creates missing parent directories (0755). Removes the temp file on failure.
 */
export function writeArgv(path: string, mode: number): string[] {
  const script = [
    'set -e',
    'd=$(dirname -- "$1")',
    '[ -d "$d" ] || mkdir -p -m 0755 -- "$d"',
    't=$(mktemp "$d/.flanctl.XXXXXXXX")',
    "trap 'rm -f -- \"$t\"' EXIT",
    'cat > "$t"',
    'chmod "$2" "$t"',
    'mv -f -- "$t" "$1"',
    'trap - EXIT',
  ].join('\n');
  return ['sh', '-c', script, 'flanctl-write', path, modeString(mode)];
}

/**
 * A file's permission bits (octal) and `sha256sum` line in one exec; exits non-zero when it is
 * missing. The hash comes from `openssl dgst -sha256` where the node has it (it uses the CPU's SHA
 * instructions: a 40 MB flanneld in ~30 ms of CPU instead of ~135 ms), printed as sha256sum prints
 * it; else, and for a path sha256sum would escape (a backslash or newline), from sha256sum.
 */
export const STAT_TAG = 'flanctl-stat';
const STAT_SCRIPT = `stat -L -c %a -- "$1" || exit 1
case "$1" in *'\\'*|*'
'*) ;; *)
  if [ -f "$1" ] && command -v openssl >/dev/null 2>&1; then
    h=$(openssl dgst -sha256 -r < "$1" 2>/dev/null) && h=\${h%% *} && [ \${#h} -eq 64 ] &&
      case "$h" in *[!0-9a-f]*) ;; *) printf '%s  %s\\n' "$h" "$1"; exit 0 ;; esac
  fi ;;
esac
exec sha256sum -- "$1"`;
export const statArgv = (path: string) => ['sh', '-c', STAT_SCRIPT, STAT_TAG, path];

export function modeString(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
}
