/**
 * deploy/prometheus/accord-rules.yaml: a well-formed Prometheus rules file whose expressions parse
 * (Prometheus' own PromQL grammar) and name only metrics a running `accord serve --redis` exports,
 * with runbook links that exist in docs/operations.md.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { api, startTestAccord, type TestAccord } from '../app/harness.js';
import { ROOT } from './helm.js';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const RULES_FILE = path.join(ROOT, 'deploy/prometheus/accord-rules.yaml');
const document = parseDocument(readFileSync(RULES_FILE, 'utf8'), { uniqueKeys: true });
const { groups } = document.toJSON() as { groups: { name: string; rules: Rule[] }[] };
const rules = groups.flatMap((g) => g.rules.map((rule) => ({ group: g.name, rule })));

/** Metric names a PromQL expression selects, or the syntax error's position. */
function selectedMetrics(expr: string): { metrics: string[]; error?: string } {
  const tree = parser.parse(expr);
  const metrics: string[] = [];
  let error: string | undefined;
  tree.iterate({
    enter(node) {
      if (node.type.isError) error ??= `syntax error at ${node.from}: "${expr.slice(Math.max(0, node.from - 10), node.to + 10)}"`;
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') metrics.push(expr.slice(node.from, node.to));
    },
  });
  return { metrics, error };
}

/** GitHub-style heading anchors of a Markdown file. */
function anchors(file: string): Set<string> {
  const headings = readFileSync(file, 'utf8').split('\n').filter((line) => /^#{1,6} /.test(line));
  return new Set(headings.map((h) => h.replace(/^#+ /, '').trim().toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-')));
}

describe('Prometheus rules (deploy/prometheus/accord-rules.yaml)', () => {
  let accord: TestAccord;
  let exported: Set<string>;
  const prefix = `accord-rules-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    accord = await startTestAccord(
      { redis: 'redis://127.0.0.1:6379', redisPrefix: prefix },
      { ACCORD_CA_KEK: 'c'.repeat(64) },
    );
    const text = (await api(accord, 'GET', '/metrics', { token: null })).text;
    exported = new Set<string>();
    for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      const [, name = '', type] = match;
      exported.add(name);
      if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(`${name}${suffix}`);
    }
  }, 60_000);
  afterAll(async () => {
    await accord?.close();
    const redis = new Redis('redis://127.0.0.1:6379');
    const keys = await redis.keys(`{${prefix}}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('is a well-formed rules file: named groups of alerts with expressions, durations, severities and runbooks', () => {
    expect(document.errors).toEqual([]);
    expect(groups.length).toBeGreaterThan(0);
    expect(new Set(groups.map((g) => g.name)).size).toBe(groups.length);
    const alerts = rules.map(({ rule }) => rule.alert);
    expect(new Set(alerts).size).toBe(alerts.length);
    const sections = anchors(path.join(ROOT, 'docs/operations.md'));
    for (const { group, rule } of rules) {
      const where = `${group}/${rule.alert ?? rule.record}`;
      expect(Object.keys(rule).every((k) => ['alert', 'record', 'expr', 'for', 'labels', 'annotations', 'keep_firing_for'].includes(k)), `${where}: fields`).toBe(true);
      expect(rule.alert, `${where}: alert name`).toMatch(/^Accord[A-Z][A-Za-z]+$/);
      expect(typeof rule.expr, `${where}: expr`).toBe('string');
      if (rule.for !== undefined) expect(rule.for, `${where}: for`).toMatch(/^\d+[smhdwy]$/);
      expect(['info', 'warning', 'critical'], `${where}: severity`).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, `${where}: summary`).toBeTruthy();
      const runbook = rule.annotations?.runbook ?? '';
      expect(runbook, `${where}: runbook`).toMatch(/^docs\/operations\.md#/);
      expect(sections, `${where}: ${runbook} names a section of docs/operations.md`).toContain(runbook.split('#')[1]);
    }
  });

  it('covers what the runbooks promise: store unreachable, proxies stale or NACKing, certificates near expiry, rotation stuck, leases expiring en masse', () => {
    const names = rules.map(({ rule }) => rule.alert);
    expect(names).toEqual(
      expect.arrayContaining(['AccordStoreUnreachable', 'AccordProxiesStale', 'AccordProxiesNacking', 'AccordCaCertificateExpiringSoon', 'AccordRootRotationStuck', 'AccordWorkloadCertificatesFailing', 'AccordLeasesExpiringEnMasse']),
    );
  });

  it('every expression parses as PromQL and selects only metrics accord serve exports', () => {
    const problems: string[] = [];
    let selected = 0;
    for (const { rule } of rules) {
      const { metrics, error } = selectedMetrics(rule.expr);
      if (error) problems.push(`${rule.alert}: ${error}`);
      if (metrics.length === 0) problems.push(`${rule.alert}: selects no metric`);
      for (const metric of metrics) {
        selected += 1;
        if (!exported.has(metric)) problems.push(`${rule.alert}: ${metric} is not on /metrics`);
      }
    }
    expect(problems).toEqual([]);
    expect(selected).toBeGreaterThanOrEqual(rules.length);
    // The checks themselves can fail: a misspelt metric and broken PromQL are caught.
    expect(exported.has('accord_registry_store_upp')).toBe(false);
    expect(selectedMetrics('sum(rate(accord_xds_acks_total[5m]) >').error).toBeDefined();
  });
});
