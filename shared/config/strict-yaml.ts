import { parseDocument } from 'yaml';

/** YAML that vonode refuses to read: syntax errors, several documents, tags or directives it does not use. */
export class YamlSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'YamlSyntaxError';
  }
}

/**
 * Parses one YAML document of plain data: duplicate keys, several documents,
 * unknown tags (`!!js/function`, `!<...python/object...>`) and unsupported
 * `%YAML` versions are errors rather than warnings a daemon would print and
 * then ignore; aliases are capped (a "billion laughs" document is refused).
 * Empty text is an empty mapping. Throws YamlSyntaxError with the first problem.
 */
export function parseStrictYaml(text: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: true }); // prettyErrors (default) puts the line and column in the message
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) throw new YamlSyntaxError(firstLine(problem.message));
  try {
    return doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (e) {
    throw new YamlSyntaxError(firstLine((e as Error).message));
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/:$/, '');
}
