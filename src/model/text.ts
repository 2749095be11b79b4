/**
 * Text read from remote hosts or etcd, made safe to print on a terminal: control characters (C0, DEL,
 * C1, so also ESC and CSI) are replaced, so a crafted lease cannot move the cursor, recolour or rewrite
 * what the operator sees.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

export function printable(text: string): string {
  return text.replace(CONTROL, '?');
}
