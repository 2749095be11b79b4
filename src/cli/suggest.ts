/**
 * "Did you mean": the nearest command ids to a mistyped one (Damerau–Levenshtein distance), for the
 * command_not_found hook. Pure; ids use oclif's ':' separator ("lab:exec").
 */

/** Edit distance with adjacent transpositions counted as one edit ("bootsrtap" → 1). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * Command ids close to `typed`, nearest first: within a third of the id's length (at least 2 edits),
 * or those the typed word is a prefix of. At most `max` ids; [] when nothing is close.
 */
export function suggestCommands(typed: string, ids: string[], max = 3): string[] {
  const t = typed.toLowerCase();
  const scored = ids
    .map((id) => {
      const dist = editDistance(t, id.toLowerCase());
      const prefix = t.length >= 2 && id.toLowerCase().startsWith(t);
      return { id, dist: prefix ? Math.min(dist, 1) : dist };
    })
    .filter(({ id, dist }) => dist <= Math.max(2, Math.floor(id.length / 3)))
    .sort((a, b) => a.dist - b.dist || a.id.localeCompare(b.id));
  return scored.slice(0, max).map((s) => s.id);
}

/**
 * The mistyped command within what oclif reports: with spaces as separators oclif joins the
 * arguments too ("lab exc node1" → "lab:exc:node1"). The command is the longest known topic plus one
 * word ("lab:exc"), or the first word when no topic matches ("verfy:node1" → "verfy").
 */
export function typedCommand(id: string, topics: string[]): string {
  const parts = id.split(':');
  let k = 0;
  while (k < parts.length - 1 && topics.includes(parts.slice(0, k + 1).join(':'))) k++;
  return parts.slice(0, k + 1).join(':');
}
