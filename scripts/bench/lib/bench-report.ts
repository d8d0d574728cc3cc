/** One figure of the benchmark, optionally checked against a target. */
export interface Figure {
  label: string;
  value: string;
  /** e.g. "< 10 s"; empty for figures without a target. */
  target?: string;
  /** undefined: no target; true/false: met or missed. */
  pass?: boolean;
}

/** Collects figures and prints them as a table (label, value, target, PASS/MISS). */
export class BenchReport {
  readonly figures: Figure[] = [];

  /** Adds a figure. */
  add(label: string, value: string, target?: { text: string; pass: boolean }): void {
    this.figures.push({ label, value, ...(target ? { target: target.text, pass: target.pass } : {}) });
  }

  /** Adds a section line. */
  section(title: string): void {
    this.figures.push({ label: `-- ${title}`, value: '' });
  }

  /** The table as text. */
  render(): string {
    const w = Math.max(...this.figures.map((f) => f.label.length), 10);
    const v = Math.max(...this.figures.map((f) => f.value.length), 5);
    const head = `${'figure'.padEnd(w)}  ${'value'.padStart(v)}  ${'target'.padEnd(10)}  result`;
    const rows = this.figures.map((f) =>
      f.label.startsWith('-- ')
        ? f.label
        : `${f.label.padEnd(w)}  ${f.value.padStart(v)}  ${(f.target ?? '').padEnd(10)}  ${f.pass === undefined ? '' : f.pass ? 'PASS' : 'MISS'}`,
    );
    return [head, '-'.repeat(head.length + 4), ...rows].join('\n');
  }

  /** Targets missed. */
  misses(): Figure[] {
    return this.figures.filter((f) => f.pass === false);
  }
}

/** Seconds with 3 decimals. */
export const secs = (ms: number): string => `${(ms / 1000).toFixed(3)} s`;
/** Milliseconds with 1 decimal. */
export const millis = (s: number): string => (Number.isFinite(s) ? `${(s * 1000).toFixed(1)} ms` : 'n/a');
/** Megabytes (10^6) with 1 decimal. */
export const mb = (bytes: number): string => (Number.isFinite(bytes) ? `${(bytes / 1e6).toFixed(1)} MB` : 'n/a');
/** A rate with 1 decimal. */
export const rate = (n: number, ms: number, unit: string): string => `${((n * 1000) / ms).toFixed(1)} ${unit}/s`;
