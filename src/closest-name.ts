// Spelling suggestions for unknown option names, shared by every stage that checks options.

/**
 * The entry of `known` that `name` most likely misspells: same letters in another case, a
 * prefix either way, or an edit distance of at most max(2, a third of its length).
 * @example closestName('ringSecond', ['ringSeconds', 'devices']) // 'ringSeconds'
 */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const c = candidate.toLowerCase();
    if (c === lower || (lower.length >= 3 && (c.startsWith(lower) || lower.startsWith(c)))) {
      return candidate;
    }
    const d = editDistance(lower, c);
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost));
    }
    prev = row;
  }
  return prev[b.length]!;
}
