/**
 * JUnit XML for CI systems: one testsuite for reachability (one testcase per pair) and one for the
 * health checks (one testcase per check). Failures carry the error; skipped checks are <skipped/>.
 */
import type { VerifyReport } from './verify.js';
import { podJunitCases } from './pods/render.js';

export function xmlEscape(s: string): string {
  return s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

interface Case {
  classname: string;
  name: string;
  seconds: number;
  failure?: string;
  skipped?: string;
}

function suite(name: string, cases: Case[]): string {
  const failures = cases.filter((c) => c.failure !== undefined).length;
  const skipped = cases.filter((c) => c.skipped !== undefined).length;
  const time = cases.reduce((t, c) => t + c.seconds, 0);
  const body = cases.map((c) => {
    const open = `    <testcase classname="${xmlEscape(c.classname)}" name="${xmlEscape(c.name)}" time="${c.seconds.toFixed(3)}"`;
    if (c.failure !== undefined) return `${open}>\n      <failure message="${xmlEscape(c.failure)}">${xmlEscape(c.failure)}</failure>\n    </testcase>`;
    if (c.skipped !== undefined) return `${open}>\n      <skipped message="${xmlEscape(c.skipped)}"/>\n    </testcase>`;
    return `${open}/>`;
  });
  return [
    `  <testsuite name="${xmlEscape(name)}" tests="${cases.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${time.toFixed(3)}">`,
    ...body,
    '  </testsuite>',
  ].join('\n');
}

export function renderJunit(report: VerifyReport): string {
  const pairCases: Case[] = report.pairs.map((p) => ({
    classname: `flanctl.verify.reachability.${p.from}`,
    name: `${p.from} -> ${p.to}${p.target ? ` (${p.target})` : ''}`,
    seconds: (p.rttMs ?? 0) / 1000,
    failure: p.ok ? undefined : p.error ?? 'unreachable',
  }));
  const checkCases: Case[] = report.checks.map((c) => ({
    classname: `flanctl.verify.checks.${c.node}`,
    name: `${c.node}: ${c.name}`,
    seconds: 0,
    failure: c.ok ? undefined : c.detail,
    skipped: c.ok && c.skipped ? c.detail : undefined,
  }));
  const podCases: Case[] = podJunitCases(report.pods);
  const tests = pairCases.length + checkCases.length + podCases.length;
  const failures = [...pairCases, ...checkCases, ...podCases].filter((c) => c.failure !== undefined).length;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="flanctl verify" tests="${tests}" failures="${failures}" errors="0" time="${(report.durationMs / 1000).toFixed(3)}">`,
    suite('reachability', pairCases),
    suite('checks', checkCases),
    ...(report.pods ? [suite('pods', podCases)] : []),
    '</testsuites>',
    '',
  ].join('\n');
}
