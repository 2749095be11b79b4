// The launcher of the weighted flanneld stand-in (TEST EQUIPMENT; build.mjs, FLANCTL_STANDIN_WEIGHT=real):
// a /bin/sh head that hands the program between two marker lines to node; build.mjs pads the file after
// it to a real flanneld's size. Its own module so a test can run the launcher on a small file.

/**
 * sh that answers a lone -version / --version itself, on stderr as flanneld does (a real flanneld is a
 * Go binary that prints it in milliseconds; starting node for it costs ~80 ms of CPU). Both builds'
 * launchers start with it.
 */
export const shVersionAnswer = (version, notice) =>
  `[ "$#" = 1 ] && case "$1" in -version|--version) printf '%s\\n%s\\n' ${version} '${notice}' >&2; exit 0;; esac`;

export const JS_BEGIN = '#__FLANNELD_STANDIN_JS__';
export const JS_END = '#__FLANNELD_STANDIN_END__';

/**
 * The head of a weighted flanneld: launcher, begin marker, program, end marker.
 * sed drops the lines up to the begin marker, prints the program and quits at the end marker, so
 * neither sed, the shell nor node reads the padding after it. (An earlier form deleted the end marker
 * before its quit could match, so sed read all 40 MB at every start: ~75 ms of CPU each.)
 * exec keeps the PID (systemd's main PID, supervisord's child).
 */
export function weightedHead(version, notice, js) {
  const program = Buffer.from(js).toString('utf8').replace(/^#!.*\n/, '');
  if (program.split('\n').some((l) => l === JS_BEGIN || l === JS_END)) throw new Error('marker inside the program');
  return Buffer.from(
    [
      '#!/bin/sh',
      `# flanneld stand-in ${version}: TEST EQUIPMENT for flanctl labs, not the real flannel.`,
      "# Weighted build (FLANCTL_STANDIN_WEIGHT=real): padded to a real flanneld's size; the padding is never read.",
      shVersionAnswer(version, notice),
      `exec node -e "$(sed -n '1,/^${JS_BEGIN}$/d; /^${JS_END}$/q; p' "$0")" flanneld "$@"`,
      'exit 127',
      JS_BEGIN,
      program,
      JS_END,
      '',
    ].join('\n'),
  );
}
