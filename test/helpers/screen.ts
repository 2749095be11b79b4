/**
 * A minimal terminal for asserting what a live view leaves on screen: applies text with the
 * escapes our renderers use (cursor up, erase line, cursor to column, \r, \n; colours and cursor
 * show/hide ignored) and returns the lines, scrollback included. Lines never wrap.
 */
export function screenOf(text: string): string[] {
  const lines: string[] = [''];
  let row = 0;
  let col = 0;
  const put = (ch: string) => {
    const l = [...lines[row]];
    while (l.length < col) l.push(' ');
    l[col] = ch;
    lines[row] = l.join('');
    col++;
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\x1b') {
      const m = /^\x1b\[([?\d;]*)([A-Za-z])/.exec(text.slice(i));
      if (!m) continue;
      i += m[0].length - 1;
      const n = Number(m[1] || 1);
      if (m[2] === 'A') row = Math.max(0, row - n);
      else if (m[2] === 'K') lines[row] = m[1] === '2' ? '' : [...lines[row]].slice(0, col).join('');
      else if (m[2] === 'G') col = n - 1;
      continue;
    }
    if (ch === '\r') col = 0;
    else if (ch === '\n') {
      row++;
      col = 0;
      if (row === lines.length) lines.push('');
    } else put(ch);
  }
  while (lines.length && lines.at(-1) === '') lines.pop();
  return lines;
}
