// abortive-close and client-closes-first on real teardown captures (Linux in namespaces): a reset
// says what came before it (no FIN, the resetter's own FIN, only the peer's FIN), and
// client-closes-first says TIME-WAIT lands on the clients only where it did. Public captures
// (skipped without ../shared): the UPnP requests of suricata's ftp-data capture, all reset by
// the client after its own FIN.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { corpusDir } from './helpers/env.ts';
import { analyzeInto, storedFindings, type StoredFinding } from './helpers/cli.ts';
import { resetSummary } from '../src/detect/services.ts';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'twscope-closes-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function analyzed(capture: string): Database.Database {
  return new Database(analyzeInto(tmp, capture), { readonly: true });
}

const findings = (capture: string, kind: string): StoredFinding[] => storedFindings(analyzeInto(tmp, capture), kind);

describe('abortive-close says what came before the reset', () => {
  it('no FIN at all: SO_LINGER {1,0} aborts by the server (mixed.pcap)', () => {
    const f = findings('captures/teardown/mixed.pcap', 'abortive-close');
    expect(f.length).toBe(1);
    expect(f[0]!.details).toMatchObject({ reset_by: 'server', connections: 2, total: 20, rst_kinds: { abort: 2 }, after_own_fin: 0, after_peer_fin: 0 });
    expect(f[0]!.summary).toBe(
      '2 of 20 connections to 192.0.2.70:8080 ended with a reset from the server with no FIN before it: an abortive close by SO_LINGER 0, a killed process or a timeout, and data in flight may have been lost; no TIME-WAIT protects the 4-tuple.',
    );
  });

  it("the resetter's own FIN first, then data from the server: a client that closed before the response answers it with RST", () => {
    const f = findings('captures/teardown/close-before-response.pcap', 'abortive-close');
    expect(f.length).toBe(1);
    expect(f[0]!.frames).toEqual([9]);
    expect(f[0]!.details).toMatchObject({ reset_by: 'client', rst_kinds: { 'after-fin': 1 }, after_own_fin: 1, after_own_fin_on_late_data: 1, after_peer_fin: 0 });
    expect(f[0]!.summary).toMatch(
      /^1 of 1 connection to 192\.0\.2\.70:8020 ended with a reset from the client after its own FIN, answering data that came after it: it had closed before reading everything, such as a response it did not wait for, and that data was lost; /,
    );
  });

  it("the resetter's own FIN first and nothing from the server after it: SO_LINGER {1,0} after shutdown (kernel: TCPAbortOnData 1)", () => {
    const f = findings('captures/teardown/linger0-after-fin.pcap', 'abortive-close');
    expect(f.length).toBe(1);
    expect(f[0]!.frames).toEqual([8]);
    expect(f[0]!.details).toMatchObject({ reset_by: 'client', after_own_fin: 1, after_own_fin_on_late_data: 0, after_peer_fin: 0 });
    expect(f[0]!.summary).toMatch(/after its own FIN, with nothing from the server left unacknowledged: it aborted after closing, by SO_LINGER 0 after shutdown or because its socket was killed; /);
  });

  it("only the peer's FIN: a server closing with unread data resets after the client's FIN", () => {
    const f = findings('captures/teardown/unread-after-fin.pcap', 'abortive-close');
    expect(f.length).toBe(1);
    expect(f[0]!.frames).toEqual([8]);
    expect(f[0]!.details).toMatchObject({ reset_by: 'server', rst_kinds: { 'after-fin': 1 }, after_own_fin: 0, after_own_fin_on_late_data: 0, after_peer_fin: 1 });
    expect(f[0]!.summary).toMatch(/ended with a reset from the server after the client's FIN, without a FIN of its own: it closed with received data unread, or aborted; /);
  });
});

describe('abortive-close with several kinds of reset on one service', () => {
  it('names each kind with its count and its cause in one summary (counts as the detector keeps them)', () => {
    const r = { count: 7, kinds: { abort: 3, 'after-fin': 4 }, afterOwnFin: 3, afterOwnFinLateData: 2, afterPeerFin: 1, examples: [] };
    expect(resetSummary(r, 20, '192.0.2.70:8080', 'client')).toBe(
      '7 of 20 connections to 192.0.2.70:8080 ended with a reset from the client: ' +
        '3 with no FIN before it (an abortive close by SO_LINGER 0, a killed process or a timeout, and data in flight may have been lost); ' +
        '2 after its own FIN, answering data that came after it (it had closed before reading everything, such as a response it did not wait for, and that data was lost); ' +
        '1 after its own FIN, with nothing from the server left unacknowledged (it aborted after closing, by SO_LINGER 0 after shutdown or because its socket was killed); ' +
        "1 after the server's FIN, without a FIN of its own (it closed with received data unread, or aborted). In each case no TIME-WAIT protects the 4-tuple.",
    );
  });
});

describe('client-closes-first says whether TIME-WAIT landed on the clients', () => {
  it('a client FIN followed by its own RST leaves no TIME-WAIT: neither the finding nor the connection claims one', () => {
    const f = findings('captures/teardown/close-before-response.pcap', 'client-closes-first');
    expect(f.length).toBe(1);
    expect(f[0]!.details).toMatchObject({ client_first: 1, client_time_wait: 0 });
    expect(f[0]!.summary).toMatch(/, but none of them reached TIME-WAIT on the client: each ended with a reset or was still closing when the capture ended\.$/);
    const d = analyzed('captures/teardown/close-before-response.pcap');
    const c = d.prepare('SELECT active_closer, close_kind, client_fin_frame, server_fin_frame, time_wait_start, time_wait_end, client_state FROM connections').get();
    d.close();
    expect(c).toEqual({ active_closer: 'client', close_kind: 'fin-rst', client_fin_frame: 6, server_fin_frame: 8, time_wait_start: null, time_wait_end: null, client_state: 'CLOSED' });
  });

  it('an orderly client close does land TIME-WAIT on the client', () => {
    const f = findings('captures/teardown/client-closes-first.pcap', 'client-closes-first');
    expect(f[0]!.details).toMatchObject({ client_first: 1, client_time_wait: 1 });
    expect(f[0]!.summary).toMatch(/: TIME-WAIT lands on the clients, whose ephemeral ports it holds for the TIME-WAIT length\.$/);
  });
});

describe('FIN and SYN copies are not retransmissions', () => {
  it('every packet captured twice (dumpcap -i lo -i any, each interface in turn, clocks microseconds apart): one FIN each, no lost-last-ack', () => {
    expect(findings('captures/formats/multi-if.pcapng', 'lost-last-ack')).toEqual([]);
    const d = analyzed('captures/formats/multi-if.pcapng');
    const fins = d.prepare("SELECT max(client_fin_count) AS c, max(server_fin_count) AS s, max(syn_count) AS syns, count(*) AS n FROM connections WHERE close_kind = 'fin'").get();
    d.close();
    // (SYN copies likewise: one SYN transmission each)
    expect(fins).toEqual({ c: 1, s: 1, syns: 1, n: 5 });
  });
  it('a FIN sent again after a retransmission timeout still counts (lost-last-ack-server-side.pcap: 4 transmissions)', () => {
    const f = findings('captures/teardown/lost-last-ack-server-side.pcap', 'lost-last-ack');
    expect(f.map((x) => x.details.fin_transmissions)).toEqual([4]);
  });
});

const ftp = path.join(corpusDir, 'suricata-verify__output-eve-ftp-data__input.pcap');
describe.skipIf(!existsSync(ftp))('public capture: UPnP requests reset after the client closed (suricata ftp-data)', () => {
  it('all 34 resets come after the client FIN, and none of those connections holds TIME-WAIT', () => {
    const a = findings(ftp, 'abortive-close').find((f) => f.details.service === '192.168.0.13:2869');
    expect(a?.details).toMatchObject({ reset_by: 'client', connections: 34, total: 34, after_own_fin: 34, after_own_fin_on_late_data: 34, after_peer_fin: 0 });
    const c = findings(ftp, 'client-closes-first').find((f) => f.details.service === '192.168.0.13:2869');
    expect(c?.details).toMatchObject({ client_first: 27, simultaneous: 7, client_time_wait: 0 });
    const d = analyzed(ftp);
    const n = d.prepare("SELECT count(*) AS n, count(time_wait_start) AS tw FROM connections WHERE server_port = 2869").get();
    d.close();
    expect(n).toEqual({ n: 34, tw: 0 });
  });
});
