/**
 * The forge-free part of certificate building: subject attribute order, the subject as node's
 * X509Certificate prints it, and PEM armour. pki.ts needs these on every run (checks of existing
 * files); pki-der.ts (node-forge) loads only when a certificate or CSR is actually built.
 */

export type SubjectNames = Partial<Record<'C' | 'ST' | 'L' | 'O' | 'OU', string>>;
export interface Subject extends SubjectNames {
  CN: string;
}

/** Subject attributes in the order cfssl writes them. */
export const NAME_OIDS: [string, string][] = [
  ['C', '2.5.4.6'],
  ['ST', '2.5.4.8'],
  ['L', '2.5.4.7'],
  ['O', '2.5.4.10'],
  ['OU', '2.5.4.11'],
  ['CN', '2.5.4.3'],
];

/** How node's X509Certificate prints a subject built by nameAsn1 (for comparisons). */
export function subjectText(subject: Subject): string {
  return NAME_OIDS.filter(([k]) => subject[k as keyof Subject])
    .map(([k]) => `${k}=${subject[k as keyof Subject]}`)
    .join('\n');
}

export function toPem(label: string, der: Buffer): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
