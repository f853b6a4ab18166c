// The Markdown report: renders in GitHub, GitLab and Jira (simple pipe tables, no HTML).

import { EVIDENCE_PER_KIND, type Report, type ReportFinding } from './model.js';
import { captureName, detailPairs, duration, frameText, isoTime, num, relTime } from './format.js';

/** a table cell: one line, pipes escaped */
function cell(s: string | number): string {
  return String(s).replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
}

/** inline code that survives any content (backticks inside get a longer fence) */
export function code(s: string): string {
  const runs = s.match(/`+/g) ?? [];
  const fence = '`'.repeat(Math.max(0, ...runs.map((r) => r.length)) + 1);
  const pad = s.startsWith('`') || s.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${s}${pad}${fence}`;
}

/** text outside code: neutralise characters Markdown would interpret */
function text(s: string): string {
  return s.replace(/([\\`*<|])/g, '\\$1');
}

function table(head: string[], rows: (string | number)[][]): string[] {
  return [`| ${head.map(cell).join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)];
}

const SEV_MARK: Record<string, string> = { critical: 'CRITICAL', warning: 'WARNING', info: 'info' };

function evidence(f: ReportFinding, i: number): string[] {
  const out: string[] = [];
  const when = f.ts !== null ? `${isoTime(f.ts)} (${relTime(f.t)})` : 'time unknown';
  out.push(`${i}. **${SEV_MARK[f.severity] ?? f.severity}** at ${when}: ${text(f.summary)}`);
  if (f.connection) {
    out.push(`   - connection: ${code(f.connection.tuple)} (id ${f.connection.id}, frames ${f.connection.first_frame}-${f.connection.last_frame}, ${f.connection.conn_state ?? '?'}, ${f.connection.close_kind ?? '?'})`);
  }
  if (f.related_connection) {
    out.push(`   - previous connection: ${code(f.related_connection.tuple)} (id ${f.related_connection.id}, frames ${f.related_connection.first_frame}-${f.related_connection.last_frame})`);
  }
  if (f.host) out.push(`   - host: ${code(f.host)}`);
  out.push(`   - frames: ${frameText(f.frames)}`);
  if (f.wireshark_filter) out.push(`   - Wireshark filter: ${code(f.wireshark_filter)}`);
  const pairs = detailPairs(f);
  if (pairs.length) out.push(`   - details: ${pairs.map(([k, v]) => `${k} ${code(v)}`).join(', ')}`);
  return out;
}

export function renderMarkdown(r: Report): string {
  const L: string[] = [];
  const s = r.summary;
  L.push(`# twscope report: ${text(captureName(r.capture.path))}`, '');
  L.push(`## Verdict`, '', `**${text(r.verdict.headline)}** ${text(r.verdict.body)}`, '');

  L.push(
    ...table(
      ['Capture', 'Value'],
      [
        ['file', code(captureName(r.capture.path))],
        ['time', r.capture.first_ts !== null ? `${isoTime(r.capture.first_ts)} to ${isoTime(r.capture.last_ts)} (${duration(s.duration)})` : '-'],
        ['packets', `${num(s.packets)} (${num(s.tcp_segments)} TCP segments)`],
        ['connections', num(s.connections)],
        ['TIME-WAIT length', `${String(r.capture.options.timeWait ?? r.capture.options.time_wait ?? 60)} s`],
        ['ephemeral port range', `${String(r.capture.options.portLow ?? 32768)}-${String(r.capture.options.portHigh ?? 60999)}`],
        ...(r.capture.damaged ? [['damaged', r.capture.damaged]] : []),
        ...r.summary.notes.map((note) => ['note', note]),
      ],
    ),
    '',
  );

  L.push('## Findings', '');
  if (r.findings_by_kind.length === 0) {
    L.push('No findings: nothing in this capture calls for action.', '');
  } else {
    L.push(
      ...table(
        ['Severity', 'Finding', 'Kind', 'Count', 'What it means'],
        r.findings_by_kind.map((g) => [
          SEV_MARK[g.severity] ?? g.severity,
          g.title,
          code(g.kind),
          Object.entries(g.by_severity).length > 1 ? `${g.count} (${Object.entries(g.by_severity).map(([k, v]) => `${v} ${k}`).join(', ')})` : g.count,
          g.meaning,
        ]),
      ),
      '',
    );
    L.push('## Evidence', '');
    L.push('Frame numbers are Wireshark\'s; paste a filter into Wireshark\'s display filter bar to see the frames.', '');
    for (const g of r.findings_by_kind) {
      const list = r.findings.filter((f) => f.kind === g.kind);
      L.push(`### ${g.title} (${code(g.kind)}, ${g.count})`, '');
      list.slice(0, EVIDENCE_PER_KIND).forEach((f, i) => L.push(...evidence(f, i + 1)));
      if (list.length > EVIDENCE_PER_KIND) {
        const db = r.db ?? 'STORE.twscope.db';
        L.push('', `${list.length - EVIDENCE_PER_KIND} more; list them all with:`, '', '```sh', `twscope query ${db} "SELECT ts, severity, summary, frames, wireshark_filter FROM findings WHERE capture_id = ${r.capture.id} AND kind = '${g.kind}' ORDER BY ts"`, '```');
      }
      L.push('');
    }
  }

  L.push('## What to do', '');
  if (r.recommendations.length === 0) {
    L.push(r.findings_by_kind.length === 0 ? 'Nothing: this capture shows no problem, so there is nothing to tune.' : 'Nothing to change for these findings.', '');
  } else {
    r.recommendations.forEach((rec, i) => {
      L.push(`### ${i + 1}. ${text(rec.title)}`, '', `Because of: ${rec.because.map(code).join(', ')}.`, '', text(rec.text), '');
      if (rec.commands.length) L.push('```sh', ...rec.commands, '```', '');
    });
  }

  L.push('## Top offenders', '');
  const { clients, services } = r.top_offenders;
  if (clients.length === 0 && services.length === 0) L.push('No connections.', '');
  if (clients.length) {
    L.push('### Clients', '', ...table(['Client', 'Connections', 'TIME-WAIT held', 'Resets', 'Refused', 'Findings'], clients.map((c) => [code(c.client), num(c.connections), num(c.time_wait_held), num(c.resets), num(c.refused), num(c.findings)])), '');
  }
  if (services.length) {
    L.push(
      '### Services',
      '',
      ...table(
        ['Service', 'Connections', 'Client closed first', 'Server closed first', 'Resets', 'Refused', 'Findings'],
        services.map((v) => [code(v.service), num(v.connections), num(v.client_first), num(v.server_first), num(v.resets), num(v.refused), num(v.findings)]),
      ),
      '',
    );
  }
  L.push('"Findings" counts warning and critical findings on that client\'s or service\'s connections.', '');

  L.push('## Connections', '');
  const kinds = Object.entries(s.by_close_kind);
  const states = Object.entries(s.by_conn_state);
  if (kinds.length) L.push(`- how they ended (close_kind): ${kinds.map(([k, v]) => `${code(k)} ${num(v)}`).join(', ')}`);
  if (states.length) L.push(`- Zeek conn_state: ${states.map(([k, v]) => `${code(k)} ${num(v)}`).join(', ')}`);
  const ac = s.active_closer;
  L.push(`- first FIN sent by: client ${num(ac.client)}, server ${num(ac.server)}, both at once ${num(ac.both)}, nobody ${num(ac.none)}`);
  L.push(`- TIME-WAIT held by: clients ${num(s.time_wait_holders.client)}, servers ${num(s.time_wait_holders.server)}`, '');

  L.push('---', '', `Generated by ${r.generator} at ${r.generated_at}${r.db ? ` from ${code(r.db)}` : ''}. Report schema ${r.schema_version}.`, '');
  return L.join('\n');
}
