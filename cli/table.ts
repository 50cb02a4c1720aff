/**
 * Text tables. Fixed-width columns truncate (OpenNebula's layout); columns
 * without a width take the widest value. Trailing spaces are stripped.
 */
export interface Column<R> {
  header: string;
  value: (row: R) => string;
  width?: number;
  align?: 'left' | 'right';
}

export interface TableOptions {
  separator?: string;
  /** Wraps the header line (bold/underline on a terminal). */
  styleHeader?: (line: string) => string;
}

function fit(text: string, width: number, align: 'left' | 'right'): string {
  const cut = text.length > width ? text.slice(0, width) : text;
  return align === 'right' ? cut.padStart(width) : cut.padEnd(width);
}

export function renderTable<R>(columns: Column<R>[], rows: R[], options: TableOptions = {}): string[] {
  const sep = options.separator ?? '  ';
  const cells = rows.map((r) => columns.map((c) => c.value(r)));
  const widths = columns.map((c, i) => c.width ?? Math.max(c.header.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]) => values.map((v, i) => fit(v, widths[i]!, columns[i]!.align ?? 'left')).join(sep).replace(/\s+$/, '');
  const header = line(columns.map((c) => c.header));
  return [options.styleHeader ? options.styleHeader(header) : header, ...cells.map(line)];
}

/** `KEY                   : value` lines, as OpenNebula's show commands print them. */
export function renderFields(fields: Array<[string, string]>): string[] {
  return fields.map(([k, v]) => `${k.padEnd(22)}: ${v}`.replace(/\s+$/, ''));
}
