/**
 * Sections of the verify report that html.ts has no renderer of its own for (added by later
 * features, or optional): each top-level key becomes a heading and its value is shown generically —
 * a list of records as a table, a record of plain values as a two-column table, nested records as
 * sub-sections, anything deeper as JSON. Entries with ok: false are marked as failures.
 */
type Esc = (s: unknown) => string;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPlain = (v: unknown) => v === null || ['string', 'number', 'boolean'].includes(typeof v);

/** "podNetworks" / "pod_networks" → "pod networks" */
export const humanKey = (k: string) => k.replace(/[_-]+/g, ' ').replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();

function plain(v: unknown, esc: Esc): string {
  if (v === null || v === undefined) return '<span class="s">–</span>';
  if (v === true) return '<span class="y">✓ yes</span>';
  if (v === false) return '<span class="n">✗ no</span>';
  if (isPlain(v)) return esc(v);
  return `<code>${esc(JSON.stringify(v))}</code>`;
}

function tableOf(rows: Record<string, unknown>[], esc: Esc): string {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const failing = (r: Record<string, unknown>) => r.ok === false;
  const sorted = [...rows].sort((a, b) => Number(failing(b)) - Number(failing(a)));
  const body = sorted.map((r) => `<tr class="${failing(r) ? 'failing' : ''}">${keys.map((k) => `<td>${plain(r[k], esc)}</td>`).join('')}</tr>`);
  return `<table class="t"><thead><tr>${keys.map((k) => `<th>${esc(humanKey(k))}</th>`).join('')}</tr></thead><tbody>\n${body.join('\n')}\n</tbody></table>`;
}

function valueHtml(v: unknown, esc: Esc, depth: number): string {
  if (isPlain(v)) return `<p>${plain(v, esc)}</p>`;
  if (Array.isArray(v)) {
    if (!v.length) return '<p class="sub">(none)</p>';
    if (v.every(isRecord)) return tableOf(v as Record<string, unknown>[], esc);
    if (v.every(isPlain)) return `<p>${v.map((x) => plain(x, esc)).join(', ')}</p>`;
  }
  if (isRecord(v) && depth < 3) {
    const entries = Object.entries(v);
    const flat = entries.filter(([, x]) => isPlain(x));
    const nested = entries.filter(([, x]) => !isPlain(x));
    const kv = flat.length
      ? `<table class="t"><tbody>${flat.map(([k, x]) => `<tr><th>${esc(humanKey(k))}</th><td>${plain(x, esc)}</td></tr>`).join('')}</tbody></table>`
      : '';
    return kv + nested.map(([k, x]) => `<h3>${esc(humanKey(k))}</h3>${valueHtml(x, esc, depth + 1)}`).join('\n');
  }
  return `<pre>${esc(JSON.stringify(v, null, 2))}</pre>`;
}

export function renderExtraSections(extra: Record<string, unknown>, esc: Esc): string {
  return Object.entries(extra)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `<section class="extra" data-section="${esc(k)}">\n<h2>${esc(humanKey(k))}</h2>\n${valueHtml(v, esc, 0)}\n</section>`)
    .join('\n');
}

/** Failures inside sections html.ts does not know: records with ok: false in their lists, at any depth. */
export function countExtraFailures(v: unknown): number {
  if (Array.isArray(v)) return v.reduce((n: number, x) => n + (isRecord(x) && x.ok === false ? 1 : 0) + countExtraFailures(x), 0);
  if (isRecord(v)) return Object.values(v).reduce((n: number, x) => n + countExtraFailures(x), 0);
  return 0;
}
