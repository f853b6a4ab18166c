// port-exhaustion and the TIME-WAIT timeline: bucket arithmetic on synthetic connections, and
// the real namespace captures of captures/findings (port-exhaustion, port-exhaustion-server-closes).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_BUCKETS, PortDetector } from '../src/detect/ports.ts';
import type { FindingRow, TimelineRow } from '../src/store/writer.ts';
import { Conn } from '../src/tracker/connection.ts';
import { setAddresses } from './helpers/conn.ts';
import { analyze } from '../src/pipeline/analyze.ts';
import { repoRoot } from './helpers/env.ts';

const OPTS = { timeWait: 60, msl: 30, portLow: 32768, portHigh: 60999, idleTimeout: 300 };
const T0 = 1_700_000_000;

let nextId = 1;
function conn(client: string, cport: number, t: number, closer: 'client' | 'server', tw = 60): Conn {
  const c = new Conn();
  c.id = nextId++;
  setAddresses(c, client, '192.0.2.80');
  c.cport = cport;
  c.sport = 443;
  c.start = t;
  c.end = t + 0.01;
  c.client.synFrame = c.id * 10;
  c.client.synTs = t;
  c.activeCloser = closer;
  c.timeWaitStart = t + 0.01;
  c.timeWaitEnd = t + 0.01 + tw;
  c.lastAckFrame = c.id * 10 + 9;
  return c;
}

function run(conns: Conn[], opts = OPTS, now?: number): { findings: FindingRow[]; timeline: TimelineRow[]; det: PortDetector } {
  const det = new PortDetector(opts);
  const findings: FindingRow[] = [];
  const timeline: TimelineRow[] = [];
  // connections leave memory out of order
  const shuffled = conns.map((c, i) => ({ c, k: (i * 7919) % 104729 })).sort((a, b) => a.k - b.k).map((x) => x.c);
  for (const c of shuffled) det.onConnEnd(c);
  const end = now ?? Math.max(...conns.map((c) => c.end));
  det.finish({ finding: (f) => findings.push(f), clock: () => {}, timeline: (r) => timeline.push(r) }, end);
  return { findings, timeline, det };
}

/** n connections per second for secs seconds from one client */
function steady(client: string, perSec: number, secs: number, closer: 'client' | 'server' = 'client'): Conn[] {
  const out: Conn[] = [];
  const n = Math.round(perSec * secs);
  for (let i = 0; i < n; i++) out.push(conn(client, 32768 + (i % 28232), T0 + i / perSec, closer));
  return out;
}

describe('port arithmetic', () => {
  it('480 connections/s closed by the client for 50 s: warning, the rate exhausts 28,232 ports', () => {
    const { findings, timeline } = run(steady('10.0.0.1', 480, 50));
    const pe = findings.filter((f) => f.kind === 'port-exhaustion');
    expect(pe).toHaveLength(1);
    const d = pe[0]!.details as Record<string, number>;
    expect(pe[0]!.severity).toBe('warning');
    expect(d.range).toBe(28232);
    expect(d.rate).toBeCloseTo(480, 0);
    expect(d.burst).toBe(false);
    expect(d.projected_time_wait).toBeGreaterThanOrEqual(28232);
    expect(d.peak_time_wait).toBeGreaterThanOrEqual(23900);
    expect(d.peak_time_wait).toBeLessThanOrEqual(24000);
    expect(pe[0]!.summary).toContain('480');
    expect(pe[0]!.summary).toContain('28,232');
    expect(pe[0]!.wiresharkFilter).toBe('ip.src == 10.0.0.1 && ip.dst == 192.0.2.80 && tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.dstport == 443');
    // timeline: per host ('*') and per service, 1 s buckets, counts rising by 470 a second
    const host = timeline.filter((r) => r.serverIp === '*');
    const svc = timeline.filter((r) => r.serverPort === 443);
    expect(host.length).toBe(svc.length);
    expect(svc[10]!.timeWait).toBeGreaterThan(480 * 10);
    expect(svc[10]!.timeWait).toBeLessThanOrEqual(480 * 11);
    expect(svc[10]!.newConnections).toBe(480);
  });

  it('the range is reached: critical', () => {
    const opts = { ...OPTS, portLow: 41000, portHigh: 41015 };
    const conns = Array.from({ length: 16 }, (_, i) => conn('10.0.0.2', 41000 + i, T0 + i * 0.001, 'client'));
    const { findings } = run(conns, opts);
    const pe = findings.filter((f) => f.kind === 'port-exhaustion');
    expect(pe).toHaveLength(1);
    expect(pe[0]!.severity).toBe('critical');
    expect((pe[0]!.details as Record<string, number>).peak_time_wait).toBe(16);
  });

  it('server closes first: no client TIME-WAIT, no finding; 100/s is far from the limit', () => {
    expect(run(steady('10.0.0.3', 470, 50, 'server')).findings).toEqual([]);
    expect(run(steady('10.0.0.4', 100, 120)).findings).toEqual([]);
  });

  it('TIME-WAIT ends when a new incarnation takes over the 4-tuple', () => {
    const opts = { ...OPTS, portLow: 41000, portHigh: 41015 };
    const det = new PortDetector(opts);
    const timeline: TimelineRow[] = [];
    const findings: FindingRow[] = [];
    // one port reused 10 times: never more than one TIME-WAIT
    let prev: Conn | null = null;
    for (let i = 0; i < 10; i++) {
      const c = conn('10.0.0.5', 41000, T0 + i * 2, 'client');
      if (prev) {
        // the tracker marks the old incarnation with the new one's first SYN
        prev.supersededAt = c.start;
        det.onConnEnd(prev);
      }
      prev = c;
    }
    det.onConnEnd(prev!);
    det.finish({ finding: (f) => findings.push(f), clock: () => {}, timeline: (r) => timeline.push(r) }, T0 + 30);
    expect(Math.max(...timeline.map((r) => r.peakTimeWait))).toBe(1);
    expect(findings).toEqual([]);
  });

  it('long captures: buckets widen so that a timeline stays within MAX_BUCKETS rows', () => {
    // 10 hours, 20 connections a minute
    const conns: Conn[] = [];
    for (let i = 0; i < 10 * 60 * 20; i++) conns.push(conn('10.0.0.6', 32768 + (i % 28232), T0 + i * 3, 'client'));
    const { timeline, det } = run(conns, OPTS);
    const host = timeline.filter((r) => r.serverIp === '*');
    expect(host.length).toBeLessThanOrEqual(MAX_BUCKETS);
    expect(det.width).toBeGreaterThan(1);
    // 20 per minute for 60 s: 20 in TIME-WAIT in steady state
    const mid = host[Math.floor(host.length / 2)]!;
    expect(mid.timeWait).toBeGreaterThanOrEqual(19);
    expect(mid.timeWait).toBeLessThanOrEqual(21);
  });

  it('long captures: server-held TIME-WAIT survives the widening of buckets', () => {
    // 10 hours, 20 connections a minute, the server closes first: it holds the TIME-WAIT
    const conns: Conn[] = [];
    for (let i = 0; i < 10 * 60 * 20; i++) conns.push(conn('10.0.0.7', 32768 + (i % 28232), T0 + i * 3, 'server'));
    // in time order: the buckets widen four times with counts already in them
    const det = new PortDetector(OPTS);
    const timeline: TimelineRow[] = [];
    for (const c of conns) det.onConnEnd(c);
    det.finish({ finding: () => {}, clock: () => {}, timeline: (r) => timeline.push(r) }, conns.at(-1)!.end);
    expect(det.width).toBeGreaterThan(1);
    const server = timeline.filter((r) => r.host === '192.0.2.80' && r.serverIp === '*');
    expect(server.length).toBeGreaterThan(100);
    expect(server.length).toBeLessThanOrEqual(MAX_BUCKETS);
    // every TIME-WAIT that starts also ends: the count never goes negative, and is 20 in steady state
    expect(Math.min(...server.map((r) => r.timeWait))).toBeGreaterThanOrEqual(0);
    const mid = server[Math.floor(server.length / 2)]!;
    expect(mid.timeWait).toBeGreaterThanOrEqual(19);
    expect(mid.timeWait).toBeLessThanOrEqual(21);
    // the client holds none
    expect(timeline.filter((r) => r.host === '10.0.0.7')).toEqual([]);
  });
});

// ---- real captures ----

const dir = path.join(repoRoot, 'captures/findings');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'twscope-ports-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function analyzeCapture(name: string, portLow: number, portHigh: number): Promise<Database.Database> {
  const db = path.join(tmp, name + '.db');
  rmSync(db, { force: true });
  await analyze({ paths: [path.join(dir, name + '.pcap')], dbPath: db, packets: false, options: { ...OPTS, portLow, portHigh } });
  return new Database(db, { readonly: true });
}

const have = (n: string): boolean => existsSync(path.join(dir, n + '.pcap')) && existsSync(path.join(dir, n + '.json'));

describe('real captures', () => {
  it.skipIf(!have('port-exhaustion'))('port-exhaustion: 16-port client range, all in TIME-WAIT: critical with --port-range 41000-41015', async () => {
    const spec = JSON.parse(readFileSync(path.join(dir, 'port-exhaustion.json'), 'utf8'));
    const facts = spec.expect.find((e: { kind: string }) => e.kind === 'port-exhaustion').facts;
    const [lo, hi] = (facts.port_range as string).split('-').map(Number) as [number, number];
    const db = await analyzeCapture('port-exhaustion', lo, hi);
    const rows = db.prepare("SELECT severity, host, frames, details FROM findings WHERE kind = 'port-exhaustion'").all() as Record<string, string>[];
    expect(rows).toHaveLength(1);
    expect(rows[0]!.severity).toBe('critical');
    const d = JSON.parse(rows[0]!.details!);
    expect(d.peak_time_wait).toBe(facts.max_time_wait);
    expect(d.range).toBe(facts.ports);
    expect(d.connections).toBe(facts.connections_ok);
    // the 16 connections closed within a few ms: a burst, from which no rate is projected
    expect(d.burst).toBe(true);
    expect(d.rate_window).toBeLessThan(0.01);
    expect(d.rate).toBeNull();
    expect(d.projected_time_wait).toBeNull();
    // the ports the capture shows are the ones the scenario used
    const ports = (db.prepare('SELECT DISTINCT client_port AS p FROM connections ORDER BY p').all() as { p: number }[]).map((r) => r.p);
    expect(ports).toEqual(facts.client_ports_used);
    // the frames cite the TIME-WAIT starts (last ACKs) of the connections
    const lastAcks = (db.prepare('SELECT last_ack_frame AS f FROM connections ORDER BY f').all() as { f: number }[]).map((r) => r.f);
    const frames = JSON.parse(rows[0]!.frames!) as number[];
    for (const f of lastAcks) expect(frames).toContain(f);
    // the timeline: per host and per service, peaking at the range
    const tl = db.prepare('SELECT server_ip, server_port, time_wait, peak_time_wait FROM time_wait_timeline').all() as Record<string, unknown>[];
    expect(tl.some((r) => r.server_ip === '*' && r.peak_time_wait === 16)).toBe(true);
    expect(tl.some((r) => r.server_port === 8080 && r.peak_time_wait === 16)).toBe(true);
    // the view reads the per-host rows
    const v = db.prepare('SELECT max(peak_time_wait) AS m FROM v_time_wait').get() as { m: number };
    expect(v.m).toBe(16);
    db.close();

    // with the default range (28,232 ports) 16 TIME-WAIT entries are nothing
    const db2 = await analyzeCapture('port-exhaustion', 32768, 60999);
    expect(db2.prepare("SELECT count(*) AS n FROM findings WHERE kind = 'port-exhaustion'").get()).toEqual({ n: 0 });
    db2.close();
  });

  it.skipIf(!have('port-exhaustion-server-closes'))('port-exhaustion-server-closes: no client TIME-WAIT, no finding; the server held 8 at the end', async () => {
    const spec = JSON.parse(readFileSync(path.join(dir, 'port-exhaustion-server-closes.json'), 'utf8'));
    const db = await analyzeCapture('port-exhaustion-server-closes', 41000, 41015);
    expect(db.prepare("SELECT count(*) AS n FROM findings WHERE kind = 'port-exhaustion'").get()).toEqual({ n: 0 });
    // the server's own timeline (what `ss -s` shows there): each reused 4-tuple ended the old TIME-WAIT
    const server = '198.51.100.58';
    const last = db.prepare("SELECT time_wait FROM time_wait_timeline WHERE host = ? AND server_ip = '*' ORDER BY ts DESC LIMIT 1").get(server) as { time_wait: number } | undefined;
    expect(last?.time_wait).toBe(spec.ss_time_wait_at_end['twf-px-s']);
    db.close();
  });
});
