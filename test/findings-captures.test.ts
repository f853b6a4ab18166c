// Findings on real namespace captures (captures/findings/*.json says what each must show,
// and which kinds must NOT appear): analyzed through the real CLI and database.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analyzeInto, storedFindings, type StoredFinding } from './helpers/cli.ts';
import { repoRoot } from './helpers/env.ts';

interface Expect {
  kind: string;
  frames?: number[];
  facts?: Record<string, unknown> & { per_syn?: Record<string, unknown>[]; count?: number };
}
interface Spec {
  capture: string;
  nstat?: Record<string, Record<string, number>>;
  expect: Expect[];
  none?: string[];
  twscope_args?: string[];
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'twscope-findings-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const dir = path.join(repoRoot, 'captures/findings');
const specs = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')).sort() : [];

function findingsOf(spec: Spec): StoredFinding[] {
  return storedFindings(analyzeInto(tmp, path.join(dir, spec.capture), spec.twscope_args ?? []));
}

/** the reuse facts the scenario states, compared with the finding's details */
function reuseFacts(facts: Record<string, unknown>, d: Record<string, unknown>): void {
  for (const k of ['holder', 'outcome', 'isn_after_old', 'tsval_newer', 'accepted'] as const) {
    if (k in facts) expect(d[k], k).toEqual(facts[k]);
  }
  if (typeof facts.gap_s === 'number') expect(Math.abs((d.gap as number) - facts.gap_s)).toBeLessThan(0.002);
}

describe('findings on captures/findings', () => {
  it('has scenario captures', () => expect(specs.length).toBeGreaterThan(0));
  for (const file of specs) {
    const spec = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Spec;
    it(file, () => {
      const rows = findingsOf(spec);
      for (const kind of spec.none ?? []) {
        expect(rows.filter((r) => r.kind === kind).map((r) => r.summary), `${kind} must not be reported`).toEqual([]);
      }
      for (const e of spec.expect) {
        const ofKind = rows.filter((r) => r.kind === e.kind);
        if (['port-exhaustion', 'nat-clock-collision', 'ts-per-connection'].includes(e.kind)) continue; // checked in detect-ports / detect-clocks tests
        expect(ofKind.length, `${e.kind} reported`).toBeGreaterThan(0);
        const perSyn = e.facts?.per_syn;
        if (perSyn) {
          expect(ofKind.length).toBe(e.facts?.count ?? perSyn.length);
          for (const p of perSyn) {
            const f = ofKind.find((r) => r.frames.includes(p.syn_frame as number));
            expect(f, `finding with SYN frame ${p.syn_frame}`).toBeDefined();
            if (e.kind === 'time-wait-reuse') reuseFacts({ ...e.facts, ...p }, f!.details);
          }
          continue;
        }
        const f = ofKind.find((r) => (e.frames ?? []).every((fr) => r.frames.includes(fr)));
        expect(f, `${e.kind} with frames ${JSON.stringify(e.frames)}; got ${JSON.stringify(ofKind.map((r) => r.frames))}`).toBeDefined();
        expect(f!.wireshark_filter).toMatch(/frame\.number|tcp\.port|tcp\.dstport/);
        if (e.kind === 'syn-retransmission' && e.facts) {
          const d = f!.details;
          for (const k of ['service', 'attempts', 'delayed', 'unanswered', 'syn_retransmissions'] as const) if (k in e.facts) expect(d[k], k).toEqual(e.facts[k]);
          if (typeof e.facts.max_delay_s === 'number') expect(Math.abs((d.connect_delay_max as number) - e.facts.max_delay_s)).toBeLessThan(0.005);
          // the service was slow or silent: more than one attempt affected, or nothing answered
          expect(f!.severity).toBe('warning');
          // SYN-ACKs seen before the client's repeated SYN (synack-lost: dropped on the way back), none in syn-drops
          const before = (e.facts.answered_before_resend as number | undefined) ?? 0;
          expect(d.answered_before_resend, 'answered_before_resend').toBe(before);
          const server = Object.entries(spec.nstat ?? {}).find(([ns]) => ns.endsWith('-s'))?.[1];
          if (before === 0) {
            // the kernel's own count: each SYN the listener dropped for a full accept queue is one retransmission on the wire
            if (server && (e.facts.delayed as number) > 0) expect(d.syn_retransmissions).toBe(server.TcpExtListenDrops);
            expect(f!.summary).toMatch(/the SYNs were dropped/);
          } else {
            // the server dropped nothing: it answered every first SYN, the client never got that answer
            if (server) expect(server.TcpExtListenDrops).toBe(0);
            // the client kernel's count of the SYNs it sent again
            const client = Object.entries(spec.nstat ?? {}).find(([ns]) => ns.endsWith('-c'))?.[1];
            if (client) expect(d.syn_retransmissions).toBe(client.TcpExtTCPSynRetrans);
            expect(f!.summary).toMatch(/although the server had answered/);
            expect(f!.summary).toMatch(/the SYN-ACK was lost between the capture point and the client/);
            expect(f!.summary).not.toMatch(/the SYNs were dropped/);
          }
        }
        if (e.kind === 'time-wait-reuse' && e.facts) {
          reuseFacts(e.facts, f!.details);
          if (e.facts.accepted === false || e.facts.outcome !== 'syn-ack') expect(f!.severity).toBe('critical');
        }
        if (e.kind === 'paws-violation' && e.facts) {
          for (const k of ['tsval', 'ts_recent', 'direction'] as const) if (k in e.facts) expect(f!.details[k], k).toEqual(e.facts[k]);
          // the forged segment is 1000 s old in a 2 s connection, but TS.Recent is right: the segment is the stray one
          expect(f!.details.ts_recent_ahead, 'ts_recent_ahead').toBe(false);
          // how each came: the delayed original after its retransmission and the late duplicate are copies of data
          // the server had; the forged one is older than the connection
          const arrival: Record<string, string> = { 'delayed original': 'duplicate', 'late duplicate': 'duplicate', 'forged old TSval (scapy)': 'stray' };
          if (typeof e.facts.what === 'string') expect(f!.details.arrival, String(e.facts.what)).toBe(arrival[e.facts.what]);
          expect(f!.summary).toMatch(/^A segment of 1000 bytes from the client of /);
          // the sender is Linux (1000 Hz): the time back follows, even measured past an old segment
          if ('behind_s_at_1000Hz' in e.facts) {
            expect(f!.details.clock_hz, 'clock_hz').toBe(1000);
            expect(f!.details.time_back as number).toBeCloseTo(e.facts.behind_s_at_1000Hz as number, 2);
          }
        }
      }
    });
  }
});
