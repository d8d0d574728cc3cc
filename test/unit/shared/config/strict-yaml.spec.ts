import { expect } from 'chai';
import { parseStrictYaml, YamlSyntaxError } from '../../../../shared/config/strict-yaml.js';
import { RAW_HOSTILE_YAML } from '../../../helpers/hostile-yaml.js';

describe('shared/config/strict-yaml', () => {
  const refused: Array<[string, string, RegExp]> = [
    ['duplicate keys', 'a: 1\na: 2', /unique/i],
    ['several documents', '---\na: 1\n---\nb: 2', /multiple documents|document/i],
    ['a JavaScript tag', 'x: !!js/function "function(){}"', /tag/i],
    ['a Python object tag', 'x: !<tag:yaml.org,2002:python/object/apply:os.system> ["id"]', /tag/i],
    ['an unsupported version', '%YAML 9.9\n---\nx: 1', /version/i],
    ['an alias bomb', RAW_HOSTILE_YAML[0]!, /alias/i],
    ['a syntax error, with its line', 'a: [1, 2\nb: 3', /line \d+, column \d+/],
  ];
  for (const [what, text, message] of refused) {
    it(`refuses ${what}`, () => {
      expect(() => parseStrictYaml(text)).to.throw(YamlSyntaxError, message);
    });
  }

  it('reads plain data, and empty text as an empty mapping', () => {
    expect(parseStrictYaml('a: [1, 2]\nb: { c: "x" }')).to.deep.equal({ a: [1, 2], b: { c: 'x' } });
    expect(parseStrictYaml('')).to.deep.equal({});
    expect(parseStrictYaml('base: &b { x: 1 }\nuse: *b')).to.deep.equal({ base: { x: 1 }, use: { x: 1 } });
  });
});
