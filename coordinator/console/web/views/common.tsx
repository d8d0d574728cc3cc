// Small pieces the views share: state badges, links to operations, meters.
import type { ComponentChildren, JSX } from 'preact';
import { enumLabel, shortId } from '../model/format.js';
import { operationHash } from '../model/route.js';

/** The label of an enum name without its prefix (`NODE_STATE_RUNNING` → `running`). */
export function label(value: string | undefined, prefix: string): string {
  return enumLabel(value ?? '', prefix);
}

/** A coloured badge for a state label (`running`, `failed`, `up` …). */
export function Badge({ text, title }: { text: string; title?: string }): JSX.Element {
  return (
    <span class={`badge badge-${text.replace(/[^a-z0-9-]/gi, '')}`} title={title}>
      {text}
    </span>
  );
}

/** A link to an operation's timeline showing its short id; `-` without one. */
export function OpLink({ id }: { id: string | undefined }): JSX.Element {
  if (!id) return <span class="muted">-</span>;
  return (
    <a class="mono" href={operationHash(id)} title={id}>
      {shortId(id)}
    </a>
  );
}

/** A thin horizontal meter, `part` of `total`. */
export function Meter({ part, total, title }: { part: number; total: number; title?: string }): JSX.Element {
  const pct = total > 0 ? Math.min(100, Math.max(0, (part / total) * 100)) : 0;
  const level = pct >= 90 ? 'high' : pct >= 70 ? 'mid' : 'low';
  return (
    <span class="meter" title={title}>
      <span class={`meter-fill meter-${level}`} style={{ width: `${pct.toFixed(1)}%` }} />
    </span>
  );
}

/** A labelled figure of the overview. */
export function Stat({ label: name, children, testid, tone }: { label: string; children: ComponentChildren; testid: string; tone?: 'bad' | 'ok' }): JSX.Element {
  return (
    <div class={`stat${tone ? ` stat-${tone}` : ''}`} data-testid={testid}>
      <div class="stat-label">{name}</div>
      <div class="stat-value">{children}</div>
    </div>
  );
}

/** A row spanning the table saying there is nothing to show. */
export function EmptyRow({ columns, text }: { columns: number; text: string }): JSX.Element {
  return (
    <tr>
      <td class="empty" colSpan={columns}>
        {text}
      </td>
    </tr>
  );
}
