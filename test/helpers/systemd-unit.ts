/** A parsed systemd unit file: each key's values in order, per section (later lines add values). */
export type UnitFile = Map<string, Map<string, string[]>>;

/** Parses a unit file's text (comments, sections, `Key=value`; no line continuations). */
export function parseUnit(text: string): UnitFile {
  const unit: UnitFile = new Map();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = unit.get(header[1]!) ?? new Map<string, string[]>();
      unit.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (!section || eq < 0) throw new Error(`not a unit file line: ${line}`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

/** The values of `key` in `section` (empty if absent). */
export function unitValues(unit: UnitFile, section: string, key: string): string[] {
  return unit.get(section)?.get(key) ?? [];
}

/** The last value of `key` in `section`, or undefined. */
export function unitValue(unit: UnitFile, section: string, key: string): string | undefined {
  return unitValues(unit, section, key).at(-1);
}

/**
 * An Exec*= command line as an argv: systemd's prefixes (`-`, `@`, `+`, `!`, `:`) dropped, split
 * on blanks. Throws for quoting or `$` expansion, which these units do not use.
 */
export function execArgv(line: string): string[] {
  const command = line.replace(/^[-@+!:]+/, '');
  if (/["'\\$]/.test(command)) throw new Error(`unit command line needs a real parser: ${line}`);
  return command.split(/\s+/).filter(Boolean);
}

/** The `Environment=` assignments of [Service] as an object. */
export function unitEnvironment(unit: UnitFile): Record<string, string> {
  const env: Record<string, string> = {};
  for (const v of unitValues(unit, 'Service', 'Environment')) {
    for (const pair of v.split(/\s+/).filter(Boolean)) {
      const eq = pair.indexOf('=');
      if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return env;
}
