import { stringify } from 'yaml';
import { UserError } from './errors';

export type OutputFormat = 'table' | 'json' | 'yaml';

export function parseFormat(value: string, allowed: readonly OutputFormat[]): OutputFormat {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UserError(`-o ${value}: choose one of ${allowed.join(', ')}`);
  }
  return value as OutputFormat;
}

export function printData(data: unknown, format: 'json' | 'yaml'): void {
  process.stdout.write(
    format === 'json' ? `${JSON.stringify(data, null, 2)}\n` : stringify(data, { lineWidth: 0 }),
  );
}

/** A plain aligned text table, like glooctl's and kubectl's. */
export function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]))
      .join('   ')
      .trimEnd();
  process.stdout.write([line(headers), ...rows.map(line)].join('\n') + '\n');
}
