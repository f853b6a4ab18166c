// The HTML report: one self-contained file (inline CSS, inline SVG, no script, no external
// resource of any kind), so it opens offline from a ticket attachment. Every string from
// the store goes through esc().

import { EVIDENCE_PER_KIND, type Report, type ReportFinding } from './model.js';
import { captureName, detailPairs, duration, frameText, isoTime, num, relTime } from './format.js';
import { clockCharts, connectionRateChart, esc, reuseGapChart, timeWaitChart } from './charts.js';

const CSS = `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1d2329; margin: 0; background: #f6f7f9; }
main { max-width: 980px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 22px; margin: 0 0 12px; word-break: break-all; }
h2 { font-size: 18px; margin: 28px 0 10px; border-bottom: 1px solid #e3e6ea; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 8px; }
code, .mono { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f0f2f4; padding: 1px 4px; border-radius: 3px; overflow-wrap: anywhere; }
td code { white-space: nowrap; }
pre { background: #f0f2f4; padding: 8px 10px; border-radius: 4px; overflow-x: auto; }
pre code { background: none; padding: 0; }
table { border-collapse: collapse; margin: 8px 0 12px; }
th, td { border: 1px solid #dde1e5; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f0f2f4; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { border-left: 6px solid #5d6d7e; background: #f4f6f7; padding: 10px 14px; margin: 8px 0 16px; }
.verdict.problem { border-color: #c0392b; background: #fbeeec; }
.verdict.attention { border-color: #d68910; background: #fdf5e6; }
.verdict.clean { border-color: #27ae60; background: #eaf7ef; }
.verdict .headline { font-size: 16px; font-weight: 600; margin: 0 0 4px; }
.sev { font-weight: 600; text-transform: uppercase; font-size: 11.5px; padding: 1px 6px; border-radius: 3px; color: #fff; background: #5d6d7e; }
.sev.critical { background: #c0392b; } .sev.warning { background: #d68910; } .sev.info { background: #7f8c8d; }
ol.evidence > li { margin-bottom: 10px; }
ol.evidence ul { margin: 4px 0 0; padding-left: 18px; color: #333; }
svg.chart { width: 100%; height: auto; max-width: 760px; display: block; background: #fff; }
svg.chart text { font: 11px system-ui, sans-serif; fill: #333; }
svg.chart text.label { fill: #666; }
.nochart { color: #666; font-style: italic; background: #f6f7f9; padding: 10px 12px; border-radius: 4px; }
.legend span { margin-right: 14px; white-space: nowrap; font-size: 12.5px; }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -1px; border-radius: 2px; }
.rec { border: 1px solid #e3e6ea; border-radius: 4px; padding: 4px 14px 8px; margin: 10px 0; }
footer { margin-top: 32px; color: #666; font-size: 12.5px; }
`;

function sev(s: string): string {
  return `<span class="sev ${esc(s)}">${esc(s)}</span>`;
}

function c(s: string): string {
  return `<code>${esc(s)}</code>`;
}

function table(head: string[], rows: string[][], numeric: number[] = []): string {
  const th = head.map((h) => `<th>${esc(h)}</th>`).join('');
  const tr = rows.map((r) => `<tr>${r.map((v, i) => `<td${numeric.includes(i) ? ' class="n"' : ''}>${v}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table>`;
}

function evidence(f: ReportFinding): string {
  const items: string[] = [];
  if (f.connection) items.push(`<li>connection: ${c(f.connection.tuple)} (id ${f.connection.id}, frames ${f.connection.first_frame}-${f.connection.last_frame}, ${esc(f.connection.conn_state ?? '?')}, ${esc(f.connection.close_kind ?? '?')})</li>`);
  if (f.related_connection) items.push(`<li>previous connection: ${c(f.related_connection.tuple)} (id ${f.related_connection.id}, frames ${f.related_connection.first_frame}-${f.related_connection.last_frame})</li>`);
  if (f.host) items.push(`<li>host: ${c(f.host)}</li>`);
  items.push(`<li>frames: <span class="mono frames">${esc(frameText(f.frames))}</span></li>`);
  if (f.wireshark_filter) items.push(`<li>Wireshark filter: <code class="filter">${esc(f.wireshark_filter)}</code></li>`);
  const pairs = detailPairs(f);
  if (pairs.length) items.push(`<li>details: ${pairs.map(([k, v]) => `${esc(k)} ${c(v)}`).join(', ')}</li>`);
  const when = f.ts !== null ? `${esc(isoTime(f.ts))} (${esc(relTime(f.t))})` : 'time unknown';
  return `<li class="finding" data-kind="${esc(f.kind)}">${sev(f.severity)} at ${when}: ${esc(f.summary)}<ul>${items.join('')}</ul></li>`;
}

export function renderHtml(r: Report): string {
  const s = r.summary;
  const B: string[] = [];
  const name = captureName(r.capture.path);
  B.push(`<h1>twscope report: ${esc(name)}</h1>`);
  B.push(`<section class="verdict ${esc(r.verdict.status)}" id="verdict"><p class="headline">${esc(r.verdict.headline)}</p><p>${esc(r.verdict.body)}</p></section>`);
  const rows: string[][] = [
    ['file', c(name)],
    ['time', r.capture.first_ts !== null ? `${esc(isoTime(r.capture.first_ts))} to ${esc(isoTime(r.capture.last_ts))} (${esc(duration(s.duration))})` : '-'],
    ['packets', `${num(s.packets)} (${num(s.tcp_segments)} TCP segments)`],
    ['connections', num(s.connections)],
    ['TIME-WAIT length', `${esc(String(r.capture.options.timeWait ?? r.capture.options.time_wait ?? 60))} s`],
    ['ephemeral port range', `${esc(String(r.capture.options.portLow ?? 32768))}-${esc(String(r.capture.options.portHigh ?? 60999))}`],
  ];
  if (r.capture.damaged) rows.push(['damaged', esc(r.capture.damaged)]);
  for (const note of r.summary.notes) rows.push(['note', esc(note)]);
  B.push(table(['Capture', 'Value'], rows));

  B.push('<h2>Findings</h2>');
  if (r.findings_by_kind.length === 0) B.push('<p id="no-findings">No findings: nothing in this capture calls for action.</p>');
  else {
    B.push(
      table(
        ['Severity', 'Finding', 'Kind', 'Count', 'What it means'],
        r.findings_by_kind.map((g) => [
          sev(g.severity), esc(g.title), c(g.kind),
          esc(Object.keys(g.by_severity).length > 1 ? `${g.count} (${Object.entries(g.by_severity).map(([k, v]) => `${v} ${k}`).join(', ')})` : String(g.count)),
          esc(g.meaning),
        ]),
        [3],
      ),
    );
  }

  B.push('<h2>Charts</h2>');
  B.push('<h3>TIME-WAIT occupancy over time</h3>', timeWaitChart(r.charts.time_wait));
  B.push('<h3>New connections per second</h3>', connectionRateChart(r.charts.connection_rate));
  B.push('<h3>TCP timestamp clocks per address (several clocks: several hosts behind one address)</h3>', clockCharts(r.charts.clocks));
  B.push('<h3>Reused 4-tuples: gap against the TIME-WAIT length</h3>', reuseGapChart(r.charts.reuse_gaps));

  if (r.findings_by_kind.length) {
    B.push('<h2>Evidence</h2>', "<p>Frame numbers are Wireshark's; paste a filter into Wireshark's display filter bar to see the frames.</p>");
    for (const g of r.findings_by_kind) {
      const list = r.findings.filter((f) => f.kind === g.kind);
      B.push(`<h3>${esc(g.title)} (${c(g.kind)}, ${g.count})</h3>`);
      B.push(`<ol class="evidence">${list.slice(0, EVIDENCE_PER_KIND).map(evidence).join('\n')}</ol>`);
      if (list.length > EVIDENCE_PER_KIND) {
        const db = r.db ?? 'STORE.twscope.db';
        B.push(`<p>${list.length - EVIDENCE_PER_KIND} more; list them all with:</p><pre><code>${esc(`twscope query ${db} "SELECT ts, severity, summary, frames, wireshark_filter FROM findings WHERE capture_id = ${r.capture.id} AND kind = '${g.kind}' ORDER BY ts"`)}</code></pre>`);
      }
    }
  }

  B.push('<h2>What to do</h2>');
  if (r.recommendations.length === 0) {
    B.push(`<p id="no-recommendations">${r.findings_by_kind.length === 0 ? 'Nothing: this capture shows no problem, so there is nothing to tune.' : 'Nothing to change for these findings.'}</p>`);
  } else {
    r.recommendations.forEach((rec, i) => {
      B.push(
        `<section class="rec" data-rec="${esc(rec.id)}"><h3>${i + 1}. ${esc(rec.title)}</h3><p>Because of: ${rec.because.map(c).join(', ')}.</p><p>${esc(rec.text)}</p>` +
          (rec.commands.length ? `<pre><code>${esc(rec.commands.join('\n'))}</code></pre>` : '') +
          '</section>',
      );
    });
  }

  B.push('<h2>Top offenders</h2>');
  const { clients, services } = r.top_offenders;
  if (clients.length) {
    B.push('<h3>Clients</h3>', table(['Client', 'Connections', 'TIME-WAIT held', 'Resets', 'Refused', 'Findings'], clients.map((x) => [c(x.client), num(x.connections), num(x.time_wait_held), num(x.resets), num(x.refused), num(x.findings)]), [1, 2, 3, 4, 5]));
  }
  if (services.length) {
    B.push(
      '<h3>Services</h3>',
      table(
        ['Service', 'Connections', 'Client closed first', 'Server closed first', 'Resets', 'Refused', 'Findings'],
        services.map((v) => [c(v.service), num(v.connections), num(v.client_first), num(v.server_first), num(v.resets), num(v.refused), num(v.findings)]),
        [1, 2, 3, 4, 5, 6],
      ),
    );
  }
  if (!clients.length && !services.length) B.push('<p>No connections.</p>');
  else B.push('<p>"Findings" counts warning and critical findings on that client\'s or service\'s connections.</p>');

  B.push('<h2>Connections</h2><ul>');
  const kinds = Object.entries(s.by_close_kind);
  const states = Object.entries(s.by_conn_state);
  if (kinds.length) B.push(`<li>how they ended (close_kind): ${kinds.map(([k, v]) => `${c(k)} ${num(v)}`).join(', ')}</li>`);
  if (states.length) B.push(`<li>Zeek conn_state: ${states.map(([k, v]) => `${c(k)} ${num(v)}`).join(', ')}</li>`);
  const ac = s.active_closer;
  B.push(`<li>first FIN sent by: client ${num(ac.client)}, server ${num(ac.server)}, both at once ${num(ac.both)}, nobody ${num(ac.none)}</li>`);
  B.push(`<li>TIME-WAIT held by: clients ${num(s.time_wait_holders.client)}, servers ${num(s.time_wait_holders.server)}</li></ul>`);
  B.push(`<footer>Generated by ${esc(r.generator)} at ${esc(r.generated_at)}${r.db ? ` from ${c(r.db)}` : ''}. Report schema ${r.schema_version}.</footer>`);

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>twscope report: ${esc(name)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
${B.join('\n')}
</main>
</body>
</html>
`;
}
