import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { CoordinatorMetrics } from '../../../coordinator/metrics/metrics.js';
import type { OperationRecord } from '../../../coordinator/store/records.js';
import { ProcessRunner, type CommandResult } from '../../../shared/process/command-runner.js';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../packaging/prometheus');
const RULES = path.join(dir, 'vonode-alerts.yml');
const TESTS = path.join(dir, 'vonode-alerts.test.yml');

interface Rule { alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
interface RulesFile { groups: Array<{ name: string; rules: Rule[] }> }
interface AlertTest { alertname: string; exp_alerts?: unknown[] }
interface TestsFile { tests: Array<{ alert_rule_test?: AlertTest[]; promql_expr_test?: Array<{ expr: string }> }> }

/** Runs promtool; a missing promtool fails with what to install. */
async function promtool(...args: string[]): Promise<CommandResult> {
  return new ProcessRunner().run(['promtool', ...args], { timeoutMs: 60_000 }).catch((e: unknown) => {
    throw new Error(`promtool is missing: install the Debian package prometheus (scripts/lib/install-deps.sh)`, { cause: e });
  });
}

/**
 * Every series name the coordinator exports, each with the label names it carries (one of each
 * metric fed, so every labelled family has a value), as PromQL sees them: a histogram is its
 * _bucket (plus le), _sum and _count series; a summary its quantiles, _sum and _count.
 */
async function exportedSeries(): Promise<Map<string, Set<string>>> {
  const m = new CoordinatorMetrics({
    queueDepth: () => ({ queued: 1, running: 1 }), agentsUp: () => 1, agentsDown: () => 1, nodesByState: () => ({ running: 1 }),
    deployHolds: () => new Map([['bio', { failures: 1, untilMs: 1, cause: 'image' }]]), nowMs: () => 0,
  });
  m.onPhase({ operationId: 'op-1', hostname: 'phys-01', phase: 'PT', edge: 'end', monotonicMs: 0, unixMs: 0, durationMs: 5, details: {} });
  m.onFinished({ kind: 'deploy', state: 'succeeded' } as OperationRecord);
  m.onDispatchPass(1);
  const out = new Map<string, Set<string>>();
  for (const metric of await m.registry.getMetricsAsJSON()) {
    const labels = new Set(metric.values.flatMap((v) => Object.keys(v.labels)));
    // prom-client's typings declare a numeric enum, but the value is the type's name ('histogram').
    const type = String(metric.type);
    const names = type === 'histogram' ? ['_bucket', '_sum', '_count'] : type === 'summary' ? ['', '_sum', '_count'] : [''];
    for (const suffix of names) {
      const own = new Set(labels);
      if (suffix !== '_bucket') own.delete('le');
      if (suffix !== '') own.delete('quantile');
      out.set(metric.name + suffix, own);
    }
  }
  return out;
}

/** Selectors of vonode_* series in a PromQL expression: name and the label names matched on. */
function selectors(expr: string): Array<{ name: string; labels: string[] }> {
  const found: Array<{ name: string; labels: string[] }> = [];
  // Names with a colon are recording rules, checked apart; string literals hold no names.
  const code = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  for (const m of code.matchAll(/(?<![\w:])(vonode_[a-zA-Z0-9_]*)(?![\w:])(\{[^}]*\})?/g)) {
    found.push({ name: m[1]!, labels: [...(m[2] ?? '').matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]!) });
  }
  return found;
}

describe('Prometheus rules shipped with the package (packaging/prometheus)', function () {
  this.timeout(60_000);
  let rules: Rule[];

  before(async () => {
    rules = (parse(await readFile(RULES, 'utf8')) as RulesFile).groups.flatMap((g) => g.rules);
  });

  it('pass promtool check rules', async () => {
    const r = await promtool('check', 'rules', RULES);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.match(/SUCCESS: \d+ rules found/);
  });

  it('pass promtool test rules on the recorded series of vonode-alerts.test.yml', async () => {
    const r = await promtool('test', 'rules', TESTS);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.include('SUCCESS');
  });

  it('use only metrics and labels the coordinator exports, and only recording rules the file defines', async () => {
    const exported = await exportedSeries();
    const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));
    const used = new Set<string>();
    for (const rule of rules) {
      for (const s of selectors(rule.expr)) {
        used.add(s.name);
        expect([...exported.keys()], `${rule.alert ?? rule.record}: ${s.name}`).to.include(s.name);
        for (const label of s.labels) expect([...exported.get(s.name)!], `${rule.alert ?? rule.record}: ${s.name}{${label}}`).to.include(label);
      }
      for (const name of rule.expr.match(/\b[a-z_]+:[a-zA-Z0-9_:]+/g) ?? []) expect([...recorded], `${rule.alert ?? rule.record}`).to.include(name);
    }
    // The check above must have had something to check.
    expect([...used]).to.include.members(['vonode_agents', 'vonode_operations_total', 'vonode_queue_depth', 'vonode_phase_duration_seconds_bucket', 'vonode_vo_deploy_hold']);
  });

  it('give every alert a severity, a for: duration, a summary and a runbook description naming vonode commands', () => {
    const alerts = rules.filter((r) => r.alert);
    expect(alerts.map((a) => a.alert)).to.have.members(['VonodeAgentDown', 'VonodeDeploymentsFailing', 'VonodeVoDeploymentsBackedOff', 'VonodeQueueNotDraining', 'VonodePhaseSlow']);
    for (const a of alerts) {
      expect(a.labels?.['severity'], a.alert).to.be.oneOf(['warning', 'critical']);
      expect(a.for, a.alert).to.match(/^\d+[mh]$/);
      expect(a.annotations?.['summary'], a.alert).to.be.a('string').and.not.empty;
      expect(a.annotations?.['description'], a.alert).to.match(/`vonode [a-z]+/);
    }
  });

  it('test every alert both firing and not firing, and every recording rule', async () => {
    const tests = (parse(await readFile(TESTS, 'utf8')) as TestsFile).tests;
    const cases = tests.flatMap((t) => t.alert_rule_test ?? []);
    const exprs = tests.flatMap((t) => t.promql_expr_test ?? []).map((t) => t.expr).join('\n');
    for (const rule of rules) {
      if (rule.record) {
        expect(exprs, rule.record).to.include(rule.record);
        continue;
      }
      const mine = cases.filter((c) => c.alertname === rule.alert);
      expect(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${rule.alert} fires in some case`).to.equal(true);
      expect(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${rule.alert} stays silent in some case`).to.equal(true);
    }
  });
});
