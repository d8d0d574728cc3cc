import { expect } from 'chai';
import { status } from '@grpc/grpc-js';
import { connectionAddresses, parseCoordinatorList, resolveConnection, type GlobalOptions } from '../../../../coordinator/cli/connection.js';
import { UsageError } from '../../../../coordinator/cli/errors.js';
import { describeRpcError, type CallTarget } from '../../../../coordinator/cli/render/error-message.js';
import { CoordinatorCallError } from '../../../../shared/rpc/coordinator-client.js';

const coordinator: CallTarget = { what: 'coordinator', address: '10.0.0.1:7080', tls: true };
const err = (code: status, details: string, method = 'Status'): CoordinatorCallError => new CoordinatorCallError(method, code, details);

describe('coordinator/cli/render/error-message: gRPC failures as instructions', () => {
  const cases: Array<{ name: string; error: CoordinatorCallError; target?: CallTarget; first: RegExp; rest?: RegExp }> = [
    {
      name: 'UNAVAILABLE (connection refused) → is the coordinator running, which address',
      error: err(status.UNAVAILABLE, 'No connection established. Last error: Error: connect ECONNREFUSED 10.0.0.1:7080. Resolution note: '),
      first: /^cannot reach the coordinator at 10\.0\.0\.1:7080: is vonode-coordinator running\? check --coordinator \/ VONODE_COORDINATOR$/,
      rest: /ECONNREFUSED 10\.0\.0\.1:7080\)$/,
    },
    {
      name: 'UNAVAILABLE with a certificate error → certificate hint',
      error: err(status.UNAVAILABLE, 'No connection established. Last error: Error: self-signed certificate in certificate chain'),
      first: /^TLS with 10\.0\.0\.1:7080 failed/,
      rest: /--ca must be the site CA .* subjectAltName/,
    },
    {
      name: 'UNAVAILABLE after a cut handshake with TLS → certificate hint',
      error: err(status.UNAVAILABLE, 'No connection established. Last error: read ECONNRESET'),
      first: /accepted the connection but the TLS handshake failed/,
      rest: /--cert\/--key a client pair signed by the same CA/,
    },
    {
      name: 'UNAVAILABLE after a cut handshake in plaintext → drop --insecure',
      error: err(status.UNAVAILABLE, 'No connection established. Last error: Failed to connect (2026-11-25T15:19:44.647Z)'),
      target: { ...coordinator, tls: false },
      first: /accepted the connection but not plaintext gRPC/,
      rest: /requires mutual TLS: pass --ca, --cert and --key .* instead of --insecure/,
    },
    { name: 'UNAUTHENTICATED → certificate hint', error: err(status.UNAUTHENTICATED, 'no client certificate'), first: /refused this client's credentials/, rest: /site CA/ },
    { name: 'PERMISSION_DENIED → certificate hint', error: err(status.PERMISSION_DENIED, 'not an admin'), first: /refused this client's credentials/ },
    {
      name: 'INVALID_ARGUMENT → every detail line',
      error: err(status.INVALID_ARGUMENT, 'invalid count: must be 1 or more\ninvalid vo: unknown VO astro', 'DeployNodes'),
      first: /refused the request as invalid \(DeployNodes\):$/,
      rest: /^ {2}invalid count: must be 1 or more\n {2}invalid vo: unknown VO astro$/,
    },
    { name: 'NOT_FOUND → where to list', error: err(status.NOT_FOUND, 'no node vo-bio-99'), first: /^no node vo-bio-99$/, rest: /vonode nodes/ },
    { name: 'RESOURCE_EXHAUSTED → pool and memory', error: err(status.RESOURCE_EXHAUSTED, 'pool exhausted'), first: /not enough capacity: pool exhausted/, rest: /free pool entries/ },
    { name: 'FAILED_PRECONDITION → current state', error: err(status.FAILED_PRECONDITION, 'node is removing'), first: /cannot do that now: node is removing/ },
    { name: 'UNIMPLEMENTED → wrong daemon', error: err(status.UNIMPLEMENTED, ''), first: /does not implement Status/, rest: /pointing at an agent/ },
    { name: 'DEADLINE_EXCEEDED → timeout', error: err(status.DEADLINE_EXCEEDED, 'Deadline exceeded'), first: /no answer from the coordinator/, rest: /--timeout/ },
    { name: 'INTERNAL → the log', error: err(status.INTERNAL, 'internal error in Status'), first: /failed \(Status: INTERNAL/, rest: /journalctl -u vonode-coordinator/ },
    {
      name: 'UNAVAILABLE for health names the address, not the coordinator',
      error: err(status.UNAVAILABLE, 'connect ECONNREFUSED', 'Health/Check'),
      target: { what: 'server', address: '10.0.0.5:7081', tls: true },
      first: /^cannot reach 10\.0\.0\.5:7081: is the agent or coordinator running there/,
    },
    {
      name: 'UNAVAILABLE from every coordinator of a list → names them all',
      error: err(status.UNAVAILABLE, 'no coordinator of 10.0.0.1:7080, 10.0.0.2:7080 took the call (10.0.0.1:7080: connect ECONNREFUSED 10.0.0.1:7080; 10.0.0.2:7080: connect ECONNREFUSED 10.0.0.2:7080)'),
      target: { ...coordinator, address: '10.0.0.1:7080,10.0.0.2:7080' },
      first: /^cannot reach any coordinator of 10\.0\.0\.1:7080, 10\.0\.0\.2:7080: is vonode-coordinator running there\?/,
      rest: /ECONNREFUSED 10\.0\.0\.2:7080\)\)$/,
    },
    {
      name: 'UNAVAILABLE from a standby with no leader → no leader now, vonode status',
      error: err(status.UNAVAILABLE, 'this coordinator is a standby and no leader is elected now; retry shortly', 'ApplyPolicy'),
      first: /^the coordinators have no leader now, so nothing can be changed \(ApplyPolicy: UNAVAILABLE/,
      rest: /vonode status/,
    },
    {
      name: 'a TLS failure with a list of coordinators → each certificate names its host',
      error: err(status.UNAVAILABLE, 'No connection established. Last error: Error: self-signed certificate in certificate chain'),
      target: { ...coordinator, address: 'c1.site:7080,c2.site:7080' },
      first: /^TLS with c1\.site:7080,c2\.site:7080 failed/,
      rest: /each coordinator's certificate must name its host \(c1\.site, c2\.site\) in its subjectAltName/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const [first, ...rest] = describeRpcError(c.error, c.target ?? coordinator);
      expect(first).to.match(c.first);
      if (c.rest) expect(rest.join('\n')).to.match(c.rest);
      expect(rest.join('\n')).to.not.include('Resolution note');
    });
  }
});

describe('coordinator/cli/connection: resolveConnection', () => {
  const env = { VONODE_COORDINATOR: 'coord.site:7080', VONODE_TLS_CA: '/env/ca.pem', VONODE_TLS_CERT: '/env/c.pem', VONODE_TLS_KEY: '/env/k.pem' };
  const tlsFlags: GlobalOptions = { ca: '/f/ca.pem', cert: '/f/c.pem', key: '/f/k.pem' };

  it('defaults to 127.0.0.1:7080 and refuses plaintext unless --insecure, saying what to pass', () => {
    expect(() => resolveConnection({}, {})).to.throw(UsageError, /pass --ca, --cert and --key .* or --insecure/);
    expect(resolveConnection({ insecure: true }, {})).to.deep.equal({ address: '127.0.0.1:7080', insecure: true, timeoutMs: 30_000 });
  });

  it('takes address and TLS files from the environment, flags first', () => {
    expect(resolveConnection({}, env)).to.deep.include({ address: 'coord.site:7080', tls: { ca: '/env/ca.pem', cert: '/env/c.pem', key: '/env/k.pem' }, insecure: false });
    expect(resolveConnection({ ...tlsFlags, coordinator: 'x:1', timeout: 2.5 }, env)).to.deep.equal({
      address: 'x:1', tls: { ca: '/f/ca.pem', cert: '/f/c.pem', key: '/f/k.pem' }, insecure: false, timeoutMs: 2500,
    });
    expect(resolveConnection({ cert: '/f/c.pem' }, env).tls).to.deep.equal({ ca: '/env/ca.pem', cert: '/f/c.pem', key: '/env/k.pem' });
  });

  it('names the missing TLS files when only some are given', () => {
    expect(() => resolveConnection({ ca: '/f/ca.pem' }, {})).to.throw(UsageError, /missing --cert \(VONODE_TLS_CERT\), --key \(VONODE_TLS_KEY\)/);
  });

  it('lets --insecure override TLS files from the environment, but not TLS flags', () => {
    expect(resolveConnection({ insecure: true }, env)).to.deep.include({ insecure: true, address: 'coord.site:7080' });
    expect(resolveConnection({ insecure: true }, env).tls).to.equal(undefined);
    expect(() => resolveConnection({ insecure: true, ca: '/f/ca.pem' }, env)).to.throw(UsageError, /--insecure contradicts --ca/);
  });

  it('uses an explicit address (health ADDR) over --coordinator', () => {
    expect(resolveConnection({ insecure: true, coordinator: 'c:1' }, env, 'agent:7081').address).to.equal('agent:7081');
  });

  it('takes every coordinator of an HA site, comma-separated, from --coordinator or VONODE_COORDINATOR', () => {
    const flagged = resolveConnection({ insecure: true, coordinator: 'c1.site:7080, c2.site:7080,c3.site:7080' }, env);
    expect(flagged.address).to.equal('c1.site:7080,c2.site:7080,c3.site:7080');
    expect(connectionAddresses(flagged)).to.deep.equal(['c1.site:7080', 'c2.site:7080', 'c3.site:7080']);
    const fromEnv = resolveConnection({ insecure: true }, { VONODE_COORDINATOR: 'c1:7080,c2:7080' });
    expect(connectionAddresses(fromEnv)).to.deep.equal(['c1:7080', 'c2:7080']);
    expect(() => resolveConnection({ insecure: true }, { VONODE_COORDINATOR: 'c1:7080,,c2:7080' })).to.throw(UsageError, /element 2 of VONODE_COORDINATOR "c1:7080,,c2:7080" is empty/);
  });
});

describe('coordinator/cli/connection: parseCoordinatorList', () => {
  const good: Array<[string, string[]]> = [
    ['127.0.0.1:7080', ['127.0.0.1:7080']],
    ['coord.site', ['coord.site']],
    ['c1:7080,c2:7080', ['c1:7080', 'c2:7080']],
    [' c1:7080 , c2:7080 ', ['c1:7080', 'c2:7080']],
    ['c1:7080,c1:7080,c2:7080', ['c1:7080', 'c2:7080']],
    ['[::1]:7080,unix:/run/vonode/coord.sock', ['[::1]:7080', 'unix:/run/vonode/coord.sock']],
    ['dns:///coord.site:7080', ['dns:///coord.site:7080']],
  ];
  for (const [text, want] of good) {
    it(`takes "${text}"`, () => expect(parseCoordinatorList(text, '--coordinator')).to.deep.equal(want));
  }
  const bad: Array<[string, RegExp]> = [
    ['', /^--coordinator "" is empty: give host:port, or several coordinators separated by single commas/],
    ['c1:7080,', /^element 2 of --coordinator "c1:7080," is empty/],
    [',c1:7080', /^element 1 of --coordinator ",c1:7080" is empty/],
    ['c1:7080, ,c2:7080', /^element 2 of --coordinator "c1:7080, ,c2:7080" is empty/],
    ['c1:7080;c2:7080', /"c1:7080;c2:7080" is not a coordinator address; use host:port \(port 1-65535\) or unix:\/path/],
    ['c1:7080,c2 :x', /^element 2 of --coordinator "c1:7080,c2 :x": "c2 :x" is not a coordinator address/],
    ['c1:70800', /"c1:70800" is not a coordinator address/],
    ['c1:0', /"c1:0" is not a coordinator address/],
    ['http://c1:7080', /"http:\/\/c1:7080" is not a coordinator address/],
  ];
  for (const [text, message] of bad) {
    it(`refuses "${text}" with a usage error naming the element`, () => expect(() => parseCoordinatorList(text, '--coordinator')).to.throw(UsageError, message));
  }
});
