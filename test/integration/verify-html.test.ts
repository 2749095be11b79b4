/**
 * The HTML verify report in a real browser: a recorded 20-node report (test/fixtures, the shape of
 * `flanctl verify --json`) rendered by renderHtml, opened from file:// in headless Chromium (Debian
 * `chromium`, DevTools protocol over a pipe), checked through the DOM, and screenshotted.
 * FLANCTL_UPDATE_SCREENSHOT=1 writes the screenshot to docs/verify-report.png (shown in README).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderHtml } from '../../src/verify/html.js';
import type { VerifyReport } from '../../src/verify/verify.js';
import { CHROMIUM, openPage, type Page } from '../helpers/chromium.js';
import { inCI } from '../helpers/root.js';
import { repoRoot } from '../helpers/cli.js';

const fixture = join(repoRoot, 'test/fixtures/verify-report-20.json');
const report = JSON.parse(readFileSync(fixture, 'utf8')) as VerifyReport;

if (!CHROMIUM && !inCI) console.warn('\n!!! SKIPPED (needs the Debian package chromium): verify --html in headless Chromium\n');
const describeChromium = CHROMIUM || inCI ? describe : describe.skip;

describeChromium('verify --html report in headless Chromium (20 nodes, recorded report)', () => {
  let work: string;
  let page: Page;
  const q = <T = number>(js: string) => page.evaluate<T>(js);

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'flanctl-html-'));
    const file = join(work, 'report.html');
    writeFileSync(file, renderHtml(report));
    page = await openPage(pathToFileURL(file).href, { width: 1400 });
  });

  afterAll(async () => {
    await page?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('draws the 20×20 grid: 341 ok cells shaded by RTT, 39 failed red, 20 self; errors in the titles', async () => {
    expect(await q("document.querySelectorAll('#matrix td.cell').length")).toBe(400);
    expect(await q("document.querySelectorAll('#matrix td.cell.ok').length")).toBe(341);
    expect(await q("document.querySelectorAll('#matrix td.cell.fail').length")).toBe(39);
    expect(await q("document.querySelectorAll('#matrix td.cell.self').length")).toBe(20);
    expect(await q("document.querySelectorAll('#matrix th.row').length")).toBe(20);
    const cell = await q<string>(`document.querySelector('#matrix td[data-from="node16"][data-to="node04"]').title`);
    expect(cell).toBe('node16 → node04 (10.244.4.0): FAILED — no reply within 1 s');
    expect(await q<string>(`getComputedStyle(document.querySelector('#matrix td[data-from="node16"][data-to="node04"]')).backgroundColor`)).toBe('rgb(215, 48, 39)');
    // the fastest and the slowest pair get different shades, the slower one darker
    const shades = await q<number[]>(`(() => {
      const cells = [...document.querySelectorAll('#matrix td.cell.ok')].sort((a, b) => a.dataset.rtt - b.dataset.rtt);
      const lum = (c) => getComputedStyle(c).backgroundColor.match(/\\d+/g).slice(0, 3).reduce((s, v) => s + Number(v), 0);
      return [lum(cells[0]), lum(cells[cells.length - 1])];
    })()`);
    expect(shades[0]).toBeGreaterThan(shades[1]);
    expect(await q("document.querySelector('#matrix').getBoundingClientRect().right")).toBeLessThan(1400);
  });

  it('counts the failures and shows backend, versions and the time of the run', async () => {
    expect(await q<string>("document.querySelector('#failure-count').textContent")).toBe('45');
    expect(await q<string>('document.body.dataset.failures')).toBe('45');
    expect(await q<string>("document.querySelector('#result').textContent")).toBe('FAILED');
    expect(await q<string>("document.querySelector('#backend .v').textContent")).toBe('vxlan');
    expect(await q<string>("document.querySelector('#versions .v').textContent")).toContain('v0.20.1 ×1');
    expect(await q<string>("document.querySelector('#started').textContent")).toBe('2026-11-30 09:41:07 UTC');
  });

  it('lists every node with its checks, failing nodes first, with lease age and cert expiry', async () => {
    const rows = await q<string[]>("[...document.querySelectorAll('#health tr[data-node]')].map((r) => r.dataset.node)");
    expect(rows).toHaveLength(20);
    expect(rows.slice(0, 3)).toEqual(['node07', 'node13', 'node16']);
    expect(await q("document.querySelectorAll('#health tr.failing[data-node]').length")).toBe(3);
    expect(await q("document.querySelectorAll('#health td.n[title]').length")).toBe(6);
    const node13 = await q<string>(`document.querySelector('#health tr[data-node="node13"]').textContent`);
    expect(node13).toContain('2026-12-12 (11 d)');
    expect(node13).toContain('10.244.13.0/24');
    expect(await q<string>(`document.querySelector('#health tr[data-node="node07"] + tr.problems').textContent`)).toContain('flannel.1: flannel.1 does not exist');
  });

  it('is self-contained: no request but the file itself, no console error, the --json data embedded', async () => {
    expect(page.requests.filter((u) => !u.startsWith('file://'))).toEqual([]);
    expect(page.logs).toEqual([]);
    expect(await q<unknown>("JSON.parse(document.getElementById('report-data').textContent)")).toEqual(report);
  });

  it('takes a full-page screenshot', async () => {
    const png = await page.screenshot();
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(1400); // IHDR width
    expect(png.readUInt32BE(20)).toBeGreaterThan(900); // the whole page, not just the viewport
    expect(png.length).toBeGreaterThan(20_000);
    writeFileSync(process.env.FLANCTL_UPDATE_SCREENSHOT === '1' ? join(repoRoot, 'docs/verify-report.png') : join(work, 'shot.png'), png);
  });
});
