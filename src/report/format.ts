// Small formatting helpers shared by the Markdown and HTML renderings.

import { kindInfo } from './kinds.js';
import type { ReportFinding } from './model.js';

/** Unix seconds as UTC ISO time with microseconds: 2024-05-01 12:00:03.123456Z */
export function isoTime(ts: number | null): string {
  if (ts === null || !Number.isFinite(ts)) return '-';
  const whole = Math.floor(ts);
  let us = Math.round((ts - whole) * 1e6);
  let sec = whole;
  if (us >= 1e6) {
    us -= 1e6;
    sec += 1;
  }
  const d = new Date(sec * 1000).toISOString().slice(0, 19).replace('T', ' ');
  return `${d}.${String(us).padStart(6, '0')}Z`;
}

/** seconds since the capture start: +12.345678 s */
export function relTime(t: number | null): string {
  if (t === null || !Number.isFinite(t)) return '';
  return `${t < 0 ? '-' : '+'}${Math.abs(t).toFixed(6)} s`;
}

export function duration(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return '-';
  if (Math.abs(s) < 1) return `${(s * 1000).toFixed(s < 0.01 ? 3 : 1)} ms`;
  if (s < 120) return `${s.toFixed(s < 10 ? 3 : 1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  if (s < 2 * 86400) return `${(s / 3600).toFixed(1)} h`;
  if (s < 2 * YEAR) return `${(s / 86400).toFixed(1)} days`;
  return `${(s / YEAR).toFixed(1)} years`;
}
const YEAR = 365.25 * 86400;

export const num = (v: number | null): string => (v ?? 0).toLocaleString('en-US');

function value(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Math.round(v * 1e6) / 1e6);
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    if (v.length === 0) return 'none';
    if (v.every((x) => typeof x !== 'object' || x === null)) return v.length > 12 ? `${v.slice(0, 12).map(value).join(', ')}, ... (${v.length})` : v.map(value).join(', ');
    return `${v.length} item${v.length === 1 ? '' : 's'}`;
  }
  const s = JSON.stringify(v);
  return s.length > 120 ? s.slice(0, 117) + '...' : s;
}

const SECONDS_FIELDS = new Set(['gap', 'delay', 'time_back', 'time_in_last_ack', 'ts_recent_age', 'time_wait', 'connect_delay_median', 'connect_delay_max']);

/** the detail fields of a finding as (name, text) pairs: the kind's known fields first, then the rest */
export function detailPairs(f: ReportFinding): [string, string][] {
  const known = kindInfo(f.kind).fields;
  const keys = [...known.filter((k) => k in f.details), ...Object.keys(f.details).filter((k) => !known.includes(k)).sort()];
  const out: [string, string][] = [];
  for (const k of keys) {
    const v = f.details[k];
    if (Array.isArray(v) && v.some((x) => typeof x === 'object' && x !== null)) continue; // example lists: the frames cover them
    if (k === 'old_connection') continue; // shown as the related connection
    let t = value(v);
    if (SECONDS_FIELDS.has(k) && typeof v === 'number') t = duration(v);
    out.push([k, t]);
  }
  return out;
}

export function frameText(frames: number[], max = 20): string {
  if (frames.length === 0) return '-';
  return frames.length > max ? `${frames.slice(0, max).join(', ')}, ... (${frames.length} frames)` : frames.join(', ');
}

export function captureName(path: string): string {
  return path.split('\n').join(' + ');
}
