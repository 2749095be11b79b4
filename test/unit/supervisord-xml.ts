/**
 * supervisord 4's XML-RPC answers as it sends them (newlines between the tags, captured from a lab
 * node), for the tests that run flanctl's shell scripts against a stub curl; and the one place those
 * scripts look for supervisorctl's config, pointed at a test's own file.
 */
export const member = (name: string, value: string) => `<member>\n<name>${name}</name>\n<value>${value}</value>\n</member>\n`;

/** A methodResponse carrying one value. */
export const response = (value: string) => `<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value>${value}</value>\n</param>\n</params>\n</methodResponse>\n`;

export const fault = (code: number, text: string) =>
  `<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n${member('faultCode', `<int>${code}</int>`)}${member('faultString', `<string>${text}</string>`)}</struct></value>\n</fault>\n</methodResponse>\n`;

export interface ProcessInfo {
  name: string;
  group?: string;
  state: string;
  pid?: number;
  description?: string;
}

/** getProcessInfo's struct for one program (the members supervisord sends, in its order). */
export const processStruct = (p: ProcessInfo) =>
  `<struct>\n${member('name', `<string>${p.name}</string>`)}${member('group', `<string>${p.group ?? p.name}</string>`)}${member('start', '<int>1796113125</int>')}` +
  `${member('state', '<int>20</int>')}${member('statename', `<string>${p.state}</string>`)}${member('spawnerr', '<string></string>')}` +
  `${member('pid', `<int>${p.pid ?? 0}</int>`)}${member('description', `<string>${p.description ?? ''}</string>`)}</struct>`;

/** getAllProcessInfo's answer. */
export const allProcessInfo = (procs: ProcessInfo[]) => response(`<array><data>\n${procs.map((p) => `<value>${processStruct(p)}</value>\n`).join('')}</data></array>`);

/** A script's search for supervisorctl's config (SUPERVISOR_SOCK_SH) pointed at `conf` only. */
export const withSupervisorConf = (script: string, conf: string) => script.replace(/for c in [^;]*; do/, `for c in '${conf}'; do`);
