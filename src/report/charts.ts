// Inline SVG charts for the HTML report. Scales, ticks and paths come from d3 (no DOM needed):
// d3-scale for the axes, d3-shape for the lines, d3-array for extents, d3-format and
// d3-time-format for tick labels. Every chart degrades to a short note when it has no data.

import { extent, max } from 'd3-array';
import { format } from 'd3-format';
import { scaleLinear, scaleLog, scaleUtc } from 'd3-scale';
import { line, curveStepAfter, curveLinear } from 'd3-shape';
import { utcFormat } from 'd3-time-format';
import type { Charts, Point } from './model.js';

export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
const SEV_COLOR: Record<string, string> = { critical: '#c0392b', warning: '#d68910', info: '#5d6d7e' };

const W = 760;
const H = 280;
const M = { top: 16, right: 20, bottom: 40, left: 70 };

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const f1 = (v: number): string => (Math.round(v * 1000) / 1000).toString();

interface Frame {
  x: (v: number) => number;
  y: (v: number) => number;
  axes: string;
}

/** x = Unix seconds (shown as UTC clock time), y linear from 0 (or from the data when fromZero is false) */
function frame(xs: number[], ys: number[], yLabel: string, opts: { fromZero?: boolean; yFormat?: string; yMin?: number; yLog?: boolean } = {}): Frame {
  const [x0, x1] = extent(xs) as [number, number];
  const span = x1 - x0 || 1;
  const xScale = scaleUtc()
    .domain([new Date((x0 - (x1 === x0 ? 0.5 : 0)) * 1000), new Date((x1 + (x1 === x0 ? 0.5 : 0)) * 1000)])
    .range([M.left, W - M.right]);
  const [ya, yb] = extent(ys) as [number, number];
  const lo = opts.fromZero === false ? ya : Math.min(0, ya, opts.yMin ?? 0);
  const hi = yb === lo ? lo + 1 : yb;
  let yScale: { (v: number): number; ticks(n: number): number[] };
  if (opts.yLog) {
    // gaps span milliseconds to a minute: a log axis, values at or below the floor drawn on it
    const pos = ys.filter((v) => v > 0);
    const floor = Math.max(1e-6, (pos.length ? Math.min(...pos) : 0.001) / 2);
    const log = scaleLog().domain([floor, Math.max(hi, floor * 10)]).nice().clamp(true).range([H - M.bottom, M.top]);
    yScale = Object.assign((v: number) => log(Math.max(v, log.domain()[0]!)), { ticks: (n: number) => log.ticks(n).filter((t) => Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9) });
  } else {
    yScale = scaleLinear().domain([lo, hi]).nice(5).range([H - M.bottom, M.top]);
  }
  // d3's multi-scale format: 16:18:30, .200, .400 ... (UTC); with the date for captures over two days
  const xFmt = span < 2 * 86400 ? xScale.tickFormat(5) : utcFormat('%m-%d %H:%M');
  const yFmt = format(opts.yFormat ?? '~s');
  const xt = xScale.ticks(5);
  const yt = yScale.ticks(5);
  const parts: string[] = [];
  parts.push(`<g class="axis x-axis"><line x1="${M.left}" x2="${W - M.right}" y1="${H - M.bottom}" y2="${H - M.bottom}" stroke="#555"/>`);
  for (const t of xt) {
    const px = f1(xScale(t));
    parts.push(`<line x1="${px}" x2="${px}" y1="${H - M.bottom}" y2="${H - M.bottom + 5}" stroke="#555"/><text x="${px}" y="${H - M.bottom + 18}" text-anchor="middle">${esc(xFmt(t))}</text>`);
  }
  parts.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 4}" text-anchor="middle" class="label">time (UTC)</text></g>`);
  parts.push(`<g class="axis y-axis"><line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${H - M.bottom}" stroke="#555"/>`);
  for (const t of yt) {
    const py = f1(yScale(t));
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${py}" y2="${py}" stroke="#e5e5e5"/><text x="${M.left - 6}" y="${py}" dy="0.32em" text-anchor="end">${esc(yFmt(t))}</text>`);
  }
  parts.push(`<text transform="translate(14,${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle" class="label">${esc(yLabel)}</text></g>`);
  return { x: (v) => xScale(new Date(v * 1000)), y: (v) => yScale(v), axes: parts.join('') };
}

function svg(id: string, title: string, body: string, attrs: Record<string, number>): string {
  const data = Object.entries(attrs).map(([k, v]) => ` data-${k}="${v}"`).join('');
  return `<svg class="chart" id="${esc(id)}" role="img" aria-label="${esc(title)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg"${data}><title>${esc(title)}</title>${body}</svg>`;
}

function empty(id: string, note: string): string {
  return `<p class="nochart" id="${esc(id)}">${esc(note)}</p>`;
}

function legend(items: { name: string; color: string }[]): string {
  if (items.length < 2) return '';
  return `<p class="legend">${items.map((i) => `<span><i style="background:${i.color}"></i>${esc(i.name)}</span>`).join(' ')}</p>`;
}

function linePath(pts: Point[], f: Frame, step: boolean): string {
  const gen = line<Point>()
    .x((p) => f.x(p.x))
    .y((p) => f.y(p.y))
    .curve(step ? curveStepAfter : curveLinear)
    .digits(2);
  return gen(pts) ?? '';
}

export function timeWaitChart(c: Charts['time_wait']): string {
  const series = c.series.filter((s) => s.points.length > 0);
  if (series.length === 0) return empty('chart-time-wait', 'Nothing to chart: no connection reached TIME-WAIT in this capture.');
  const all = series.flatMap((s) => s.points);
  const f = frame(all.map((p) => p.x), all.map((p) => p.y), 'TIME-WAIT entries', { yFormat: ',d' });
  const paths = series.map(
    (s, i) =>
      `<path class="line series" data-name="${esc(s.name)}" d="${linePath(s.points, f, true)}" fill="none" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="2"/>` +
      // a single sample draws no line: show it as a dot
      (s.points.length === 1 ? `<circle class="point" cx="${f1(f.x(s.points[0]!.x))}" cy="${f1(f.y(s.points[0]!.y))}" r="4" fill="${PALETTE[i % PALETTE.length]}"/>` : ''),
  );
  const title = `TIME-WAIT occupancy over time (${c.source === 'time_wait_timeline' ? 'per host holding it' : 'all hosts, from the connections'})`;
  return svg('chart-time-wait', title, f.axes + paths.join(''), { series: series.length }) + legend(series.map((s, i) => ({ name: s.name, color: PALETTE[i % PALETTE.length]! })));
}

export function connectionRateChart(c: Charts['connection_rate']): string {
  if (c.points.length === 0) return empty('chart-connection-rate', 'Nothing to chart: no connection in this capture.');
  const xs = c.points.map((p) => p.x);
  const f = frame([...xs, (max(xs) ?? 0) + c.bucket], c.points.map((p) => p.y), `new connections per second${c.bucket > 1 ? ` (${c.bucket} s buckets)` : ''}`, { yFormat: '~s' });
  const bw = Math.max(1, f.x(c.points[0]!.x + c.bucket) - f.x(c.points[0]!.x) - 1);
  const bars = c.points.map(
    (p) => `<rect class="bar" x="${f1(f.x(p.x))}" y="${f1(f.y(p.y))}" width="${f1(bw)}" height="${f1(Math.max(0, f.y(0) - f.y(p.y)))}" fill="${PALETTE[0]}"><title>${esc(new Date(p.x * 1000).toISOString())}: ${f1(p.y)}/s</title></rect>`,
  );
  return svg('chart-connection-rate', 'New connections per second', f.axes + bars.join(''), { points: c.points.length });
}

export function clockCharts(c: Charts['clocks']): string {
  if (c.addresses.length === 0) return empty('chart-clocks', 'Nothing to chart: no address showed more than one TCP timestamp clock (no sign of several hosts behind one address).');
  const out: string[] = [];
  c.addresses.forEach((a, ai) => {
    const all = a.clocks.flatMap((k) => k.points);
    if (all.length === 0) return;
    const f = frame(all.map((p) => p.x), all.map((p) => p.y), 'TSval', { fromZero: false, yFormat: '~s' });
    const marks: string[] = [];
    a.clocks.forEach((k, i) => {
      const color = PALETTE[i % PALETTE.length]!;
      if (k.points.length > 1) marks.push(`<path class="line clock" data-clock="${k.clock}" d="${linePath(k.points, f, false)}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
      for (const p of k.points) marks.push(`<circle class="point" data-clock="${k.clock}" cx="${f1(f.x(p.x))}" cy="${f1(f.y(p.y))}" r="3" fill="${color}"/>`);
    });
    const title = `TSval against time from ${a.src_ip} to ${a.dst_ip}: ${a.clocks.length} clocks`;
    out.push(`<h3>${esc(title)}</h3>`);
    out.push(svg(`chart-clocks-${ai + 1}`, title, f.axes + marks.join(''), { clocks: a.clocks.length, points: all.length }));
    out.push(legend(a.clocks.map((k, i) => ({ name: `clock ${k.clock}${k.rate_hz ? ` (${k.rate_hz} Hz)` : ''}, ${k.connections.length} connections`, color: PALETTE[i % PALETTE.length]! }))));
  });
  return out.join('\n');
}

export function reuseGapChart(c: Charts['reuse_gaps']): string {
  if (c.points.length === 0) return empty('chart-reuse-gaps', 'Nothing to chart: no 4-tuple was reused inside its TIME-WAIT period.');
  const f = frame(c.points.map((p) => p.x), [...c.points.map((p) => p.y), c.time_wait], 'gap since TIME-WAIT start (s, log)', { yFormat: '~g', yLog: true });
  const ref = `<line class="ref" x1="${M.left}" x2="${W - M.right}" y1="${f1(f.y(c.time_wait))}" y2="${f1(f.y(c.time_wait))}" stroke="#888" stroke-dasharray="6 4"/><text x="${W - M.right}" y="${f1(f.y(c.time_wait) - 5)}" text-anchor="end" class="label">TIME-WAIT length ${c.time_wait} s</text>`;
  const dots = c.points.map(
    (p) => `<circle class="point" data-severity="${esc(p.severity)}" cx="${f1(f.x(p.x))}" cy="${f1(f.y(p.y))}" r="4" fill="${SEV_COLOR[p.severity] ?? '#333'}"><title>finding ${p.finding}: gap ${f1(p.y)} s (${esc(p.severity)})</title></circle>`,
  );
  return svg('chart-reuse-gaps', 'Gaps of reused 4-tuples against the TIME-WAIT length', f.axes + ref + dots.join(''), { points: c.points.length }) +
    legend(['critical', 'warning', 'info'].filter((s) => c.points.some((p) => p.severity === s)).map((s) => ({ name: s, color: SEV_COLOR[s]! })).concat([{ name: 'TIME-WAIT length', color: '#888' }]));
}
