// The report's content, read from the store once; Markdown, HTML and JSON are renderings
// of this one object, so they always say the same thing.

import type Database from 'better-sqlite3';
import { buildSummary, readTotals, type Summary } from './summary.js';
import { cmp, type ClientTotals, type ConnTotalsJSON, type ServiceTotals } from '../store/totals.js';
import { endpointText } from '../decode/format.js';
import { kindInfo, recommendationsFor, type Recommendation } from './kinds.js';
import { VERSION } from '../version.js';

export const REPORT_SCHEMA_VERSION = 1;

/** at most this many findings of one kind are shown with their evidence (the JSON has all) */
export const EVIDENCE_PER_KIND = 10;

export type Severity = 'critical' | 'warning' | 'info';
const SEV_RANK: Record<string, number> = { critical: 0, warning: 1, info: 2 };

export interface ConnRef {
  id: number;
  tuple: string;
  start_ts: number;
  first_frame: number;
  last_frame: number;
  close_kind: string | null;
  conn_state: string | null;
}

export interface ReportFinding {
  id: number;
  kind: string;
  severity: string;
  ts: number | null;
  /** seconds since the first packet of the capture */
  t: number | null;
  connection: ConnRef | null;
  related_connection: ConnRef | null;
  frames: number[];
  host: string | null;
  summary: string;
  details: Record<string, unknown>;
  wireshark_filter: string;
}

export interface KindGroup {
  kind: string;
  title: string;
  meaning: string;
  severity: string;
  count: number;
  by_severity: Record<string, number>;
  frames: number;
  first_ts: number | null;
  last_ts: number | null;
}

export interface Verdict {
  status: 'problem' | 'attention' | 'clean';
  severity: string | null;
  headline: string;
  confidence: 'high' | 'medium' | 'low';
  confidence_reason: string;
  action: string;
  /** everything after the headline: the worst finding, confidence, what to do */
  body: string;
  /** headline + body, plain text */
  text: string;
}

export interface ClientOffender {
  client: string;
  connections: number;
  time_wait_held: number;
  resets: number;
  refused: number;
  findings: number;
}

export interface ServiceOffender {
  service: string;
  connections: number;
  client_first: number;
  server_first: number;
  resets: number;
  refused: number;
  findings: number;
}

export interface Point {
  x: number;
  y: number;
}

export interface ChartSeries {
  name: string;
  points: Point[];
}

export interface ClockSeries {
  src_ip: string;
  dst_ip: string;
  clock: number;
  rate_hz: number | null;
  connections: number[];
  /** x = Unix seconds, y = TSval; two points per connection (first and last) where known */
  points: Point[];
}

export interface Charts {
  time_wait: { source: 'time_wait_timeline' | 'connections' | 'none'; series: ChartSeries[] };
  connection_rate: { bucket: number; points: Point[] };
  clocks: { addresses: { src_ip: string; dst_ip: string; clocks: ClockSeries[] }[] };
  reuse_gaps: { time_wait: number; points: (Point & { severity: string; finding: number })[] };
}

export interface Report {
  schema_version: number;
  generator: string;
  generated_at: string;
  db: string | null;
  capture: {
    id: number;
    path: string;
    format: string | null;
    packets: number;
    first_ts: number | null;
    last_ts: number | null;
    damaged: string | null;
    options: Record<string, unknown>;
  };
  summary: Summary;
  verdict: Verdict;
  findings_by_kind: KindGroup[];
  findings: ReportFinding[];
  top_offenders: { clients: ClientOffender[]; services: ServiceOffender[] };
  recommendations: Recommendation[];
  charts: Charts;
}

interface FindingRow {
  id: number;
  kind: string;
  severity: string;
  ts: number | null;
  connection_id: number | null;
  related_connection_id: number | null;
  frames: string | null;
  host: string | null;
  summary: string | null;
  details: string | null;
  wireshark_filter: string | null;
}

function parseJson<T>(s: string | null, fallback: T): T {
  if (s === null || s === '') return fallback;
  try {
    return JSON.parse(s) as T;
  } catch {
    return fallback;
  }
}

function hasTable(db: Database.Database, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

/** the newest capture in the store, or an error a user understands */
export function latestCaptureId(db: Database.Database): number {
  const r = db.prepare('SELECT max(id) AS id FROM captures').get() as { id: number | null } | undefined;
  if (!r || r.id === null) throw new Error('the store holds no capture');
  return r.id;
}

export function buildReport(db: Database.Database, captureId: number, opts: { db?: string; now?: Date } = {}): Report {
  // the store's counts over the connections, read once for every part below (null: count with SQL)
  const totals = readTotals(db, captureId);
  const summary = buildSummary(db, captureId, { totals });
  const cap = db.prepare('SELECT id, path, format, packets, first_ts, last_ts, damaged, options FROM captures WHERE id = ?').get(captureId) as {
    id: number; path: string; format: string | null; packets: number; first_ts: number | null; last_ts: number | null; damaged: string | null; options: string | null;
  };
  const options = parseJson<Record<string, unknown>>(cap.options, {});
  const t0 = cap.first_ts;

  const connStmt = db.prepare(
    'SELECT id, client_ip, client_port, server_ip, server_port, ip_version, start_ts, first_frame, last_frame, close_kind, conn_state FROM connections WHERE id = ?',
  );
  const connCache = new Map<number, ConnRef | null>();
  const connRef = (id: number | null): ConnRef | null => {
    if (id === null) return null;
    if (connCache.has(id)) return connCache.get(id)!;
    const r = connStmt.get(id) as
      | { id: number; client_ip: string; client_port: number; server_ip: string; server_port: number; ip_version: number; start_ts: number; first_frame: number; last_frame: number; close_kind: string | null; conn_state: string | null }
      | undefined;
    const ref = r
      ? {
          id: r.id,
          tuple: `${endpointText(r.ip_version, r.client_ip, r.client_port)} -> ${endpointText(r.ip_version, r.server_ip, r.server_port)}`,
          start_ts: r.start_ts, first_frame: r.first_frame, last_frame: r.last_frame, close_kind: r.close_kind, conn_state: r.conn_state,
        }
      : null;
    connCache.set(id, ref);
    return ref;
  };

  const rows = db
    .prepare(
      `SELECT id, kind, severity, ts, connection_id, related_connection_id, frames, host, summary, details, wireshark_filter
       FROM findings WHERE capture_id = ?
       ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, kind, ts, id`,
    )
    .all(captureId) as FindingRow[];
  // evidence: every finding keeps its connection references only within the per-kind cap
  // (looking up tens of thousands of connections would make a big store slow to report)
  const shownPerKind = new Map<string, number>();
  const findings: ReportFinding[] = rows.map((r) => {
    const shown = shownPerKind.get(r.kind) ?? 0;
    shownPerKind.set(r.kind, shown + 1);
    const withConn = shown < EVIDENCE_PER_KIND;
    return {
      id: r.id,
      kind: r.kind,
      severity: r.severity,
      ts: r.ts,
      t: r.ts !== null && t0 !== null ? r.ts - t0 : null,
      connection: withConn ? connRef(r.connection_id) : null,
      related_connection: withConn ? connRef(r.related_connection_id) : null,
      frames: parseJson<unknown[]>(r.frames, []).filter((f): f is number => typeof f === 'number'),
      host: r.host,
      summary: r.summary ?? '',
      details: parseJson<Record<string, unknown>>(r.details, {}),
      wireshark_filter: r.wireshark_filter ?? '',
    };
  });

  const groups = new Map<string, KindGroup>();
  for (const f of findings) {
    let g = groups.get(f.kind);
    if (!g) {
      const info = kindInfo(f.kind);
      g = { kind: f.kind, title: info.title, meaning: info.meaning, severity: f.severity, count: 0, by_severity: {}, frames: 0, first_ts: null, last_ts: null };
      groups.set(f.kind, g);
    }
    g.count++;
    g.by_severity[f.severity] = (g.by_severity[f.severity] ?? 0) + 1;
    g.frames += f.frames.length;
    if ((SEV_RANK[f.severity] ?? 3) < (SEV_RANK[g.severity] ?? 3)) g.severity = f.severity;
    if (f.ts !== null) {
      g.first_ts = g.first_ts === null ? f.ts : Math.min(g.first_ts, f.ts);
      g.last_ts = g.last_ts === null ? f.ts : Math.max(g.last_ts, f.ts);
    }
  }
  const findingsByKind = [...groups.values()].sort((a, b) => (SEV_RANK[a.severity] ?? 3) - (SEV_RANK[b.severity] ?? 3) || b.count - a.count || a.kind.localeCompare(b.kind));
  const recommendations = recommendationsFor(new Set(groups.keys()), findings);

  const report: Report = {
    schema_version: REPORT_SCHEMA_VERSION,
    generator: `twscope ${VERSION}`,
    generated_at: (opts.now ?? new Date()).toISOString(),
    db: opts.db ?? null,
    capture: { id: cap.id, path: cap.path, format: cap.format, packets: cap.packets, first_ts: cap.first_ts, last_ts: cap.last_ts, damaged: cap.damaged, options },
    summary,
    verdict: buildVerdict(db, captureId, totals, summary, findingsByKind, findings, recommendations),
    findings_by_kind: findingsByKind,
    findings,
    top_offenders: offenders(db, captureId, totals),
    recommendations,
    charts: buildCharts(db, captureId, totals, options, findings),
  };
  return report;
}

function buildVerdict(db: Database.Database, captureId: number, t: ConnTotalsJSON | null, s: Summary, groups: KindGroup[], findings: ReportFinding[], recs: Recommendation[]): Verdict {
  const q =
    t !== null
      ? { n: t.connections, guessed: t.orientation_guessed, closed: t.connections - (t.close_kind.open ?? 0) - (t.close_kind.unanswered ?? 0), estimated: t.time_wait_estimated }
      : (db
          .prepare(
            `SELECT count(*) AS n, sum(orientation_guessed) AS guessed, sum(close_kind NOT IN ('open','unanswered')) AS closed,
              sum(time_wait_estimated) AS estimated
       FROM connections WHERE capture_id = ?`,
          )
          .get(captureId) as { n: number; guessed: number | null; closed: number | null; estimated: number | null });
  const n = q.n;
  const guessed = q.guessed ?? 0;
  const closed = q.closed ?? 0;
  let confidence: Verdict['confidence'] = 'high';
  // each reason can only lower the confidence
  const lower = (to: 'medium' | 'low'): void => {
    if (to === 'low' || confidence === 'high') confidence = to;
  };
  const reasons: string[] = [];
  if (s.damaged) {
    lower('medium');
    reasons.push('the capture is damaged and was read only up to the damage');
  }
  if (s.one_way) {
    lower('low');
    reasons.push('most connections show packets from one side only: the capture misses a direction');
  } else if (s.notes.length > 0 && s.tcp_segments > 0) {
    lower('medium');
    reasons.push('the capture lost part of the traffic: see the capture notes');
  }
  if (n > 0 && guessed / n > 0.5) {
    lower('medium');
    reasons.push(`${guessed} of ${n} connections started before the capture, so their client and server were guessed`);
  }
  if (n > 0 && (q.estimated ?? 0) / n > 0.5) {
    lower('medium');
    reasons.push("most closing ACKs are missing, so TIME-WAIT was dated from the peer's FIN");
  }

  const worst = groups[0];
  if (!worst || worst.severity === 'info') {
    if (n === 0) {
      // frames there were, but the snapshot length left no TCP header readable: capturing elsewhere would not help
      const cut = s.notes.length > 0 && s.tcp_segments === 0;
      const again = cut ? 'Capture again with a larger snapshot length (tcpdump -s 128 or more).' : 'Capture again where the traffic flows, both directions.';
      return {
        status: 'clean', severity: null, confidence: 'low', confidence_reason: cut ? "the capture's snapshot length left no TCP header readable" : 'the capture holds no TCP connection',
        headline: 'Nothing to analyze: no TCP connection in this capture.',
        action: cut ? again : 'Capture again where the traffic flows (both directions, see the README).',
        body: again,
        text: `Nothing to analyze: no TCP connection in this capture. ${again}`,
      };
    }
    if (closed === 0) {
      lower('low');
      reasons.push('no connection was seen closing, so teardown problems could not show');
    }
    const notes = groups.length ? ` ${groups.map((g) => `${g.count} ${g.title}`).join(', ')} (for information only).` : '';
    const headline = `No problem found in ${n.toLocaleString('en-US')} connection${n === 1 ? '' : 's'}.`;
    const action = groups.length ? 'Nothing urgent; the notes below say where TIME-WAIT accumulates.' : 'Nothing to do.';
    const reason = reasons.length ? reasons.join('; ') : `${closed} of ${n} connections were seen from start to close`;
    const body = `No TIME-WAIT reuse, timestamp, NAT, port or teardown problem needs action.${notes} Confidence: ${confidence}, ${reason}. ${action}`;
    return { status: 'clean', severity: worst ? 'info' : null, confidence, confidence_reason: reason, headline, action, body, text: `${headline} ${body}` };
  }
  const top = findings.find((f) => f.kind === worst.kind && f.severity === worst.severity);
  const others = groups.slice(1).filter((g) => g.severity !== 'info');
  const headline = `${worst.severity === 'critical' ? 'Problem' : 'Warning'}: ${worst.title} (${worst.count} finding${worst.count === 1 ? '' : 's'}${worst.by_severity.critical ? `, ${worst.by_severity.critical} critical` : ''}).`;
  if (!reasons.length) reasons.push(`every finding cites the frames that prove it, ${worst.frames} frames for this kind`);
  const rec = recs.find((r) => r.because.includes(worst.kind)) ?? recs[0];
  const action = rec ? `${rec.title}.` : 'Open the cited frames in Wireshark to see the exchange.';
  const also0 = others.length ? ` Also: ${others.map((g) => `${g.title} (${g.count})`).join(', ')}.` : '';
  const body = `${top ? top.summary : worst.meaning}${also0} Confidence: ${confidence}, ${reasons.join('; ')}. What to do: ${action}`;
  return {
    status: worst.severity === 'critical' ? 'problem' : 'attention',
    severity: worst.severity,
    headline,
    confidence,
    confidence_reason: reasons.join('; '),
    action,
    body,
    text: `${headline} ${body}`,
  };
}

function offenders(db: Database.Database, captureId: number, t: ConnTotalsJSON | null): { clients: ClientOffender[]; services: ServiceOffender[] } {
  if (t !== null && t.clients !== null && t.services !== null) return offendersFromTotals(db, captureId, t.clients, t.services);
  const clients = db
    .prepare(
      `WITH f AS (
         SELECT c.client_ip AS ip, count(*) AS n FROM findings x JOIN connections c ON c.id = x.connection_id
         WHERE x.capture_id = ? AND x.severity <> 'info' GROUP BY c.client_ip)
       SELECT c.client_ip AS client, count(*) AS connections,
              coalesce(sum(c.time_wait_start IS NOT NULL AND c.active_closer IN ('client','both')), 0) AS time_wait_held,
              coalesce(sum(c.close_kind IN ('rst','fin-rst')), 0) AS resets, coalesce(sum(c.close_kind = 'refused'), 0) AS refused,
              coalesce((SELECT n FROM f WHERE f.ip = c.client_ip), 0) AS findings
       FROM connections c WHERE c.capture_id = ? GROUP BY c.client_ip
       ORDER BY findings DESC, time_wait_held DESC, connections DESC, client LIMIT 10`,
    )
    .all(captureId, captureId) as ClientOffender[];
  const services = db
    .prepare(
      `WITH f AS (
         SELECT c.server_ip AS ip, c.server_port AS port, count(*) AS n FROM findings x JOIN connections c ON c.id = x.connection_id
         WHERE x.capture_id = ? AND x.severity <> 'info' GROUP BY c.server_ip, c.server_port)
       SELECT c.server_ip, c.server_port, max(c.ip_version) AS v, count(*) AS connections,
              coalesce(sum(c.active_closer = 'client'), 0) AS client_first, coalesce(sum(c.active_closer = 'server'), 0) AS server_first,
              coalesce(sum(c.close_kind IN ('rst','fin-rst')), 0) AS resets, coalesce(sum(c.close_kind = 'refused'), 0) AS refused,
              coalesce((SELECT n FROM f WHERE f.ip = c.server_ip AND f.port = c.server_port), 0) AS findings
       FROM connections c WHERE c.capture_id = ? GROUP BY c.server_ip, c.server_port
       ORDER BY findings DESC, connections DESC, c.server_ip, c.server_port LIMIT 10`,
    )
    .all(captureId, captureId) as { server_ip: string; server_port: number; v: number; connections: number; client_first: number; server_first: number; resets: number; refused: number; findings: number }[];
  return {
    clients,
    services: services.map((s) => ({
      service: endpointText(s.v, s.server_ip, s.server_port), connections: s.connections, client_first: s.client_first, server_first: s.server_first,
      resets: s.resets, refused: s.refused, findings: s.findings,
    })),
  };
}

/** offenders() from the counts the store keeps per client and service: only the findings are
 *  grouped with SQL (a few rows), not every connection (2.9 s on 1 M connections) */
function offendersFromTotals(db: Database.Database, captureId: number, clients: ClientTotals[], services: ServiceTotals[]): { clients: ClientOffender[]; services: ServiceOffender[] } {
  const byClient = new Map<string, number>();
  for (const r of db
    .prepare(
      `SELECT c.client_ip AS ip, count(*) AS n FROM findings x JOIN connections c ON c.id = x.connection_id
       WHERE x.capture_id = ? AND x.severity <> 'info' GROUP BY c.client_ip`,
    )
    .all(captureId) as { ip: string; n: number }[]) byClient.set(r.ip, r.n);
  const byService = new Map<string, number>();
  for (const r of db
    .prepare(
      `SELECT c.server_ip AS ip, c.server_port AS port, count(*) AS n FROM findings x JOIN connections c ON c.id = x.connection_id
       WHERE x.capture_id = ? AND x.severity <> 'info' GROUP BY c.server_ip, c.server_port`,
    )
    .all(captureId) as { ip: string; port: number; n: number }[]) byService.set(`${r.ip} ${r.port}`, r.n);
  const c = clients
    .map((k) => ({ client: k.client_ip, connections: k.n, time_wait_held: k.time_wait_held, resets: k.resets, refused: k.refused, findings: byClient.get(k.client_ip) ?? 0 }))
    .sort((a, b) => b.findings - a.findings || b.time_wait_held - a.time_wait_held || b.connections - a.connections || cmp(a.client, b.client))
    .slice(0, 10);
  const s = services
    .map((k) => ({ k, findings: byService.get(`${k.server_ip} ${k.server_port}`) ?? 0 }))
    .sort((a, b) => b.findings - a.findings || b.k.n - a.k.n || cmp(a.k.server_ip, b.k.server_ip) || a.k.server_port - b.k.server_port)
    .slice(0, 10)
    .map(({ k, findings }) => ({
      service: endpointText(k.ip_version, k.server_ip, k.server_port), connections: k.n, client_first: k.cf, server_first: k.sf, resets: k.resets, refused: k.refused, findings,
    }));
  return { clients: c, services: s };
}

/** at most this many points per line; longer series are thinned evenly (first and last kept) */
const MAX_POINTS = 2000;

function thin<T>(pts: T[], max = MAX_POINTS): T[] {
  if (pts.length <= max) return pts;
  const out: T[] = [];
  const step = (pts.length - 1) / (max - 1);
  for (let i = 0; i < max; i++) out.push(pts[Math.round(i * step)]!);
  return out;
}

function buildCharts(db: Database.Database, captureId: number, totals: ConnTotalsJSON | null, options: Record<string, unknown>, findings: ReportFinding[]): Charts {
  const timeWait = typeof options.time_wait === 'number' ? options.time_wait : typeof options.timeWait === 'number' ? options.timeWait : 60;

  // TIME-WAIT occupancy: the store's timeline (per host, all peers), else swept from the connections
  let tw: Charts['time_wait'] = { source: 'none', series: [] };
  if (hasTable(db, 'time_wait_timeline')) {
    const hosts = db
      .prepare(
        `SELECT host, max(max(time_wait, coalesce(peak_time_wait, 0))) AS peak FROM time_wait_timeline
         WHERE capture_id = ? AND server_ip = '*' GROUP BY host HAVING peak > 0 ORDER BY peak DESC, host LIMIT 6`,
      )
      .all(captureId) as { host: string; peak: number }[];
    const stmt = db.prepare(`SELECT ts, time_wait FROM time_wait_timeline WHERE capture_id = ? AND server_ip = '*' AND host = ? ORDER BY ts`);
    const series = hosts.map((h) => ({ name: h.host, points: thin((stmt.all(captureId, h.host) as { ts: number; time_wait: number }[]).map((r) => ({ x: r.ts, y: r.time_wait }))) }));
    if (series.length) tw = { source: 'time_wait_timeline', series };
  }
  if (tw.series.length === 0) {
    const ev = db
      .prepare(
        `SELECT time_wait_start AS t, 1 AS d FROM connections WHERE capture_id = ? AND time_wait_start IS NOT NULL
         UNION ALL SELECT time_wait_end AS t, -1 AS d FROM connections WHERE capture_id = ? AND time_wait_start IS NOT NULL AND time_wait_end IS NOT NULL
         ORDER BY t, d`,
      )
      .all(captureId, captureId) as { t: number; d: number }[];
    if (ev.length) {
      const pts: Point[] = [];
      let cur = 0;
      for (const e of ev) {
        pts.push({ x: e.t, y: cur });
        cur += e.d;
        pts.push({ x: e.t, y: cur });
      }
      tw = { source: 'connections', series: [{ name: 'all hosts', points: thin(pts) }] };
    }
  }

  // new connections per bucket (1 s, wider for long captures so there are at most ~300 buckets)
  const span =
    totals !== null
      ? { a: totals.start_ts?.min ?? null, b: totals.start_ts?.max ?? null, n: totals.connections }
      : (db.prepare('SELECT min(start_ts) AS a, max(start_ts) AS b, count(*) AS n FROM connections WHERE capture_id = ?').get(captureId) as {
          a: number | null; b: number | null; n: number;
        });
  let rate: Charts['connection_rate'] = { bucket: 1, points: [] };
  if (span.a !== null && span.b !== null && span.n > 0) {
    const nice = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];
    const bucket = nice.find((b) => (span.b! - span.a!) / b <= 300) ?? 86400;
    const rows = db
      .prepare(`SELECT CAST(floor(start_ts / ?) AS INTEGER) AS k, count(*) AS n FROM connections WHERE capture_id = ? GROUP BY k ORDER BY k`)
      .all(bucket, captureId) as { k: number; n: number }[];
    rate = { bucket, points: rows.map((r) => ({ x: r.k * bucket, y: bucket === 1 ? r.n : r.n / bucket })) };
  }

  // TSval against time, per address with more than one clock
  const addresses: Charts['clocks']['addresses'] = [];
  if (hasTable(db, 'clocks')) {
    const multi = db
      .prepare(
        // the per-connection pairs once (their JSON read per clock row and finding took 0.9 s on 12,800 clocks and 512 findings)
        `WITH per_conn AS (SELECT DISTINCT host, json_extract(details, '$.peer') AS peer FROM findings WHERE capture_id = ? AND kind = 'ts-per-connection')
         SELECT k.src_ip, k.dst_ip FROM clocks k WHERE k.capture_id = ?
           AND NOT EXISTS (SELECT 1 FROM per_conn p WHERE p.host = k.src_ip AND p.peer = k.dst_ip)
         GROUP BY k.src_ip, k.dst_ip HAVING count(*) > 1
         ORDER BY count(*) DESC, k.src_ip, k.dst_ip LIMIT 6`,
      )
      .all(captureId, captureId) as { src_ip: string; dst_ip: string }[];
    const clockRows = db.prepare('SELECT clock, rate_hz, connections FROM clocks WHERE capture_id = ? AND src_ip = ? AND dst_ip = ? ORDER BY clock');
    const conn = db.prepare(
      `SELECT id, client_ip, start_ts, end_ts, client_first_tsval, client_last_tsval, server_first_tsval, server_last_tsval FROM connections WHERE id = ?`,
    );
    for (const a of multi) {
      const clocks: ClockSeries[] = [];
      for (const c of clockRows.all(captureId, a.src_ip, a.dst_ip) as { clock: number; rate_hz: number | null; connections: string | null }[]) {
        const ids = parseJson<unknown[]>(c.connections, []).filter((x): x is number => typeof x === 'number');
        const pts: Point[] = [];
        for (const id of ids.slice(0, 1000)) {
          const r = conn.get(id) as
            | { id: number; client_ip: string; start_ts: number; end_ts: number; client_first_tsval: number | null; client_last_tsval: number | null; server_first_tsval: number | null; server_last_tsval: number | null }
            | undefined;
          if (!r) continue;
          const asClient = r.client_ip === a.src_ip;
          const first = asClient ? r.client_first_tsval : r.server_first_tsval;
          const last = asClient ? r.client_last_tsval : r.server_last_tsval;
          if (first !== null) pts.push({ x: r.start_ts, y: first });
          if (last !== null && r.end_ts > r.start_ts) pts.push({ x: r.end_ts, y: last });
        }
        pts.sort((p, q) => p.x - q.x);
        clocks.push({ src_ip: a.src_ip, dst_ip: a.dst_ip, clock: c.clock, rate_hz: c.rate_hz, connections: ids, points: pts });
      }
      if (clocks.some((c) => c.points.length > 0)) addresses.push({ src_ip: a.src_ip, dst_ip: a.dst_ip, clocks });
    }
  }

  // gaps of reused 4-tuples against the TIME-WAIT length
  const gaps: Charts['reuse_gaps']['points'] = [];
  for (const f of findings) {
    if (f.kind !== 'time-wait-reuse' || f.ts === null) continue;
    const g = f.details.gap;
    if (typeof g === 'number') gaps.push({ x: f.ts, y: g, severity: f.severity, finding: f.id });
  }
  gaps.sort((p, q) => p.x - q.x);
  const tws = findings.find((f) => f.kind === 'time-wait-reuse' && typeof f.details.time_wait === 'number');
  return {
    time_wait: tw,
    connection_rate: rate,
    clocks: { addresses },
    reuse_gaps: { time_wait: tws ? (tws.details.time_wait as number) : timeWait, points: thin(gaps) },
  };
}
