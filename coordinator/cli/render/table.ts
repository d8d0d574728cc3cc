/** One column of a text table. */
export interface Column {
  /** Header text (printed upper-case as given). */
  header: string;
  /** Right-align (numbers); default left. */
  right?: boolean;
}

/**
 * Renders rows as an aligned text table with a header line, two spaces
 * between columns and no trailing spaces. A row shorter than the columns is
 * padded with empty cells. Returns the lines without newlines.
 */
export function renderTable(columns: readonly Column[], rows: ReadonlyArray<readonly string[]>): string[] {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    columns
      .map((c, i) => {
        const cell = cells[i] ?? '';
        const width = widths[i] ?? 0;
        return c.right ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...rows.map(line)];
}

/** Lines joined with newlines and a final newline, ready to write. */
export function joinLines(lines: readonly string[]): string {
  return lines.length ? `${lines.join('\n')}\n` : '';
}
