/** The stylesheet of the HTML verify report (html.ts): inline, no fonts or images from anywhere. */
export const STYLE = `
:root { --ok: #1a9850; --fail: #d73027; --warn: #f0a830; --muted: #6b7280; --line: #e5e7eb; --bg: #f9fafb; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #111827; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h2 .count { font-weight: normal; color: var(--muted); font-size: 14px; }
h3 { font-size: 14px; margin: 18px 0 6px; color: #374151; }
.sub { color: var(--muted); margin: 0 0 16px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 12px; color: #fff; font-weight: 600; font-size: 14px; vertical-align: 3px; margin-left: 8px; }
.badge.ok { background: var(--ok); } .badge.fail { background: var(--fail); }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; background: var(--bg); min-width: 130px; }
.card .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .v { font-size: 18px; font-weight: 600; }
.card.bad .v { color: var(--fail); }
.grid-wrap { overflow-x: auto; }
table.grid { border-collapse: separate; border-spacing: 1px; }
table.grid th { font-weight: normal; font-size: clamp(7px, calc(var(--cell) * .85), 12px); line-height: min(var(--cell), 16px); padding: 0; color: #374151; white-space: nowrap; }
table.grid th.row { text-align: right; padding-right: 6px; }
table.grid th.col { vertical-align: bottom; height: 1px; }
table.grid th.col span { writing-mode: vertical-rl; transform: rotate(180deg); display: inline-block; padding-bottom: 4px; width: var(--cell); }
table.grid th.corner { text-align: left; vertical-align: bottom; color: var(--muted); font-size: 11px; }
td.cell { width: var(--cell); height: var(--cell); min-width: var(--cell); padding: 0; border-radius: 2px; text-align: center; font-size: calc(var(--cell) * .6); line-height: var(--cell); color: #fff; }
td.cell.self { background: #f3f4f6; }
td.cell.fail { background: var(--fail); font-weight: 700; }
td.cell.notarget { background: repeating-linear-gradient(45deg, var(--warn), var(--warn) 3px, #fde7b0 3px, #fde7b0 6px); color: #7c4a00; font-weight: 700; }
th.bad, td.bad { color: var(--fail); font-weight: 600; }
.legend { display: flex; align-items: center; gap: 18px; margin: 10px 0 0; color: #374151; font-size: 12px; flex-wrap: wrap; }
.legend .swatch { display: inline-block; width: 14px; height: 14px; border-radius: 2px; vertical-align: -2px; margin-right: 4px; }
.legend .ramp { display: inline-block; width: 140px; height: 12px; vertical-align: -2px; margin: 0 6px; border-radius: 2px; }
table.t { border-collapse: collapse; font-size: 13px; }
table.t th, table.t td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
table.t th { background: var(--bg); font-weight: 600; white-space: nowrap; }
table.t td.c { text-align: center; }
table.t tr.failing td:first-child { border-left: 3px solid var(--fail); }
table.t td.detail { color: #374151; max-width: 900px; }
table.t td { white-space: nowrap; } table.t td.detail { white-space: normal; }
table.t tr.failing:not(.problems) td { border-bottom: none; }
table.t tr.problems td { padding-top: 0; font-size: 12px; color: var(--fail); }
table.t tr.problems td.detail div { color: #374151; } table.t tr.problems b { color: var(--fail); }
.y { color: var(--ok); } .n { color: var(--fail); font-weight: 700; } .s { color: var(--muted); }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 12px; }
details summary { cursor: pointer; color: #374151; margin: 6px 0; }
pre { background: var(--bg); border: 1px solid var(--line); padding: 8px; overflow-x: auto; font-size: 12px; }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; }
`;
