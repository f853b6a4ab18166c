// The few lines `analyze` prints: read from the store, like every report.

import type Database from 'better-sqlite3';
import { captureNotes, mostlyOneWay, ONE_WAY_SQL, oneWayNote, type OneWay } from './capture-notes.js';
import { endpointText } from '../decode/format.js';
import { duration, num } from './format.js';
import type { ConnTotalsJSON } from '../store/totals.js';

export interface Summary {
  capture_id: number;
  path: string;
  packets: number;
  tcp_segments: number;
  connections: number;
  duration: number | null;
  damaged: string | null;
  /** what the capture kept from the analysis: its snapshot length, a missing direction */
  notes: string[];
  /** most connections show one side only: the capture misses a direction */
  one_way: boolean;
  by_close_kind: Record<string, number>;
  by_conn_state: Record<string, number>;
  active_closer: { client: number; server: number; both: number; none: number };
  time_wait_holders: { client: number; server: number };
  top_services: { server: string; connections: number; client_first: number; server_first: number; resets: number }[];
  top_clients: { client: string; connections: number }[];
  findings: { kind: string; severity: string; count: number }[];
  /** the most severe finding (earliest first among equals): what a person should read first */
  worst: { kind: string; severity: string; summary: string; frames: number[]; wireshark_filter: string } | null;
}

/** a capture's counts over its connection rows (captures.totals), or null: a store written before
 *  they existed, or totals that cannot be read, are counted with SQL */
export function parseTotals(json: string | null | undefined): ConnTotalsJSON | null {
  if (!json) return null;
  try {
    const t = JSON.parse(json) as ConnTotalsJSON;
    return t.version === 1 ? t : null;
  } catch {
    return null;
  }
}

export function readTotals(db: Database.Database, captureId: number): ConnTotalsJSON | null {
  const row = db.prepare('SELECT * FROM captures WHERE id = ?').get(captureId) as { totals?: string | null } | undefined;
  return parseTotals(row?.totals);
}

/** `totals`: the capture's totals when the caller has read them already; null counts with SQL over
 *  the connection rows even when the capture has totals (what the totals are tested against) */
export function buildSummary(db: Database.Database, captureId: number, opts: { totals?: ConnTotalsJSON | null } = {}): Summary {
  const cap = db.prepare('SELECT * FROM captures WHERE id = ?').get(captureId) as
    | { path: string; packets: number; tcp_segments: number; connections: number; first_ts: number | null; last_ts: number | null; damaged: string | null; decode_stats: string | null; totals?: string | null }
    | undefined;
  if (!cap) throw new Error(`no capture ${captureId} in the database`);
  const totals = opts.totals !== undefined ? opts.totals : parseTotals(cap.totals);
  const counts = (sql: string): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const r of db.prepare(sql).all(captureId) as { k: string; n: number }[]) out[r.k] = r.n;
    return out;
  };
  const closer = totals?.active_closer ?? counts("SELECT coalesce(active_closer, 'none') AS k, count(*) AS n FROM connections WHERE capture_id = ? GROUP BY k");
  const holders =
    totals?.time_wait_holders ??
    (db
      .prepare(
        `SELECT sum(active_closer IN ('client','both')) AS client, sum(active_closer IN ('server','both')) AS server
       FROM connections WHERE capture_id = ? AND time_wait_start IS NOT NULL`,
      )
      .get(captureId) as { client: number | null; server: number | null });
  const services =
    totals?.top_services ??
    (db
      .prepare(
        `SELECT server_ip, server_port, ip_version, count(*) AS n, count(active_closer = 'client' OR NULL) AS cf, count(active_closer = 'server' OR NULL) AS sf,
              count(close_kind IN ('rst','fin-rst','refused') OR NULL) AS r
       FROM connections WHERE capture_id = ? GROUP BY server_ip, server_port ORDER BY n DESC, server_ip, server_port LIMIT 5`,
      )
      .all(captureId) as { server_ip: string; server_port: number; ip_version: number; n: number; cf: number; sf: number; r: number }[]);
  const clients =
    totals?.top_clients ??
    (db.prepare('SELECT client_ip, count(*) AS n FROM connections WHERE capture_id = ? GROUP BY client_ip ORDER BY n DESC, client_ip LIMIT 5').all(captureId) as {
      client_ip: string;
      n: number;
    }[]);
  const oneWay = totals?.one_way ?? (db.prepare(ONE_WAY_SQL).get(captureId) as OneWay);
  const notes = captureNotes(cap.decode_stats, cap.tcp_segments);
  const ow = oneWayNote(oneWay);
  if (ow !== null) notes.push(ow);
  const findings = db
    .prepare(
      `SELECT kind, severity, count(*) AS count FROM findings WHERE capture_id = ? GROUP BY kind, severity
       ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, count DESC, kind`,
    )
    .all(captureId) as { kind: string; severity: string; count: number }[];
  const w = db
    .prepare(
      `SELECT kind, severity, summary, frames, wireshark_filter FROM findings WHERE capture_id = ?
       ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, ts, id LIMIT 1`,
    )
    .get(captureId) as { kind: string; severity: string; summary: string | null; frames: string | null; wireshark_filter: string | null } | undefined;
  let worstFrames: number[] = [];
  try {
    worstFrames = w?.frames ? (JSON.parse(w.frames) as number[]) : [];
  } catch {
    worstFrames = [];
  }
  return {
    capture_id: captureId,
    path: cap.path,
    packets: cap.packets,
    tcp_segments: cap.tcp_segments,
    connections: cap.connections,
    duration: cap.first_ts !== null && cap.last_ts !== null ? cap.last_ts - cap.first_ts : null,
    damaged: cap.damaged,
    notes,
    one_way: mostlyOneWay(oneWay),
    by_close_kind: totals?.close_kind ?? counts('SELECT close_kind AS k, count(*) AS n FROM connections WHERE capture_id = ? GROUP BY k ORDER BY n DESC, k'),
    by_conn_state: totals?.conn_state ?? counts('SELECT conn_state AS k, count(*) AS n FROM connections WHERE capture_id = ? GROUP BY k ORDER BY n DESC, k'),
    active_closer: { client: closer.client ?? 0, server: closer.server ?? 0, both: closer.both ?? 0, none: closer.none ?? 0 },
    time_wait_holders: { client: holders.client ?? 0, server: holders.server ?? 0 },
    top_services: services.map((s) => ({
      server: endpointText(s.ip_version, s.server_ip, s.server_port), connections: s.n, client_first: s.cf, server_first: s.sf, resets: s.r,
    })),
    top_clients: clients.map((c) => ({ client: c.client_ip, connections: c.n })),
    findings,
    worst: w ? { kind: w.kind, severity: w.severity, summary: w.summary ?? '', frames: worstFrames, wireshark_filter: w.wireshark_filter ?? '' } : null,
  };
}

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  green(s: string): string;
}

export function makeStyle(color: boolean): Style {
  const wrap = (code: string) => (s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { bold: wrap('1'), dim: wrap('2'), red: wrap('31'), yellow: wrap('33'), green: wrap('32') };
}

export function useColor(stream: NodeJS.WriteStream): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  if (process.env.FORCE_COLOR) return true;
  return Boolean(stream.isTTY);
}

const n = num;
/** a count and its noun, singular for one */
const count = (v: number, noun: string, style: (x: string) => string = (x) => x): string => `${style(n(v))} ${v === 1 ? noun : noun + 's'}`;

export function renderSummaryText(s: Summary, st: Style): string {
  const lines: string[] = [];
  const dur = s.duration === null ? '' : `, ${s.duration.toFixed(s.duration < 10 ? 3 : 1)} s${s.duration >= 120 ? ` (${duration(s.duration)})` : ''}`;
  const sevStyle = (sev: string, text = sev): string => (sev === 'critical' ? st.red(text) : sev === 'warning' ? st.yellow(text) : st.dim(text));
  lines.push(`${st.bold('twscope')}  ${s.path.split('\n').join(' + ')}`);
  lines.push(`  ${count(s.packets, 'packet')}, ${count(s.tcp_segments, 'TCP segment')}, ${count(s.connections, 'connection', st.bold)}${dur}`);
  if (s.damaged) lines.push(`  ${st.red('damaged:')} ${s.damaged}`);
  for (const note of s.notes) lines.push(`  ${st.yellow('note:')} ${note}`);
  // the verdict first: the worst finding in one sentence, with where to look
  const w = s.worst;
  if (s.tcp_segments === 0) lines.push(`  ${st.yellow(st.bold('NOTHING TO ANALYZE'))}  no TCP segment in this capture`);
  else if (w === null || w.severity === 'info') {
    lines.push(`  ${st.green(st.bold('OK'))}  no problem found${w ? ' (informational notes only)' : ''}`);
  } else {
    lines.push(`  ${sevStyle(w.severity, st.bold(w.severity.toUpperCase()))}  ${w.summary}`);
    if (w.wireshark_filter) lines.push(`  ${st.dim('wireshark:')} ${w.wireshark_filter}`);
  }
  if (s.findings.length) {
    lines.push(`  findings: ${s.findings.map((f) => `${sevStyle(f.severity, f.kind)} ${f.severity === 'info' ? '' : `(${f.severity}) `}x${n(f.count)}`).join(', ')}`);
  }
  const kinds = Object.entries(s.by_close_kind).map(([k, v]) => `${k} ${n(v)}`).join(', ');
  if (kinds) lines.push(`  closed by: ${kinds}`);
  const ac = s.active_closer;
  if (ac.client + ac.server + ac.both > 0) {
    lines.push(
      `  first FIN: client ${n(ac.client)}, server ${n(ac.server)}, simultaneous ${n(ac.both)}` +
        `  (TIME-WAIT held by clients ${n(s.time_wait_holders.client)}, servers ${n(s.time_wait_holders.server)})`,
    );
  }
  if (s.top_services.length) {
    lines.push(`  top services: ${s.top_services.slice(0, 3).map((t) => `${t.server} (${n(t.connections)})`).join(', ')}`);
  }
  return lines.join('\n') + '\n';
}
