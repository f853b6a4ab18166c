// The SQLite writer runs in its own thread so that inserting rows (3-4 us each)
// overlaps with reading and tracking packets on the main thread.

import { parentPort } from 'node:worker_threads';
import { StoreWriter } from './writer.js';
import { connSlots, TEXT_SEP, type StoreMessage } from './client.js';

const port = parentPort!;
let w: StoreWriter | null = null;
let pending: Int32Array | null = null;
let ring: Float64Array[] = [];

port.on('message', (m: StoreMessage) => {
  try {
    switch (m.op) {
      case 'open':
        w = new StoreWriter(m.dbPath);
        pending = new Int32Array(m.pending);
        ring = connSlots(m.connRing);
        w.begin(m.key);
        port.postMessage({ op: 'opened', captureId: w.captureId, firstConnId: w.firstConnId });
        return;
      case 'conns':
        w!.writeConnRows(ring[m.slot]!, m.texts.split(TEXT_SEP), m.rows, m.replaced);
        break;
      case 'packets':
        w!.writePacketRows(m.values, m.rows);
        break;
      case 'rows':
        for (const r of m.findings) w!.writeFinding(r);
        for (const r of m.clocks) w!.writeClock(r);
        for (const r of m.timeline) w!.writeTimeline(r);
        for (const r of m.files) w!.writeFile(r);
        break;
      case 'commit':
        w!.commit(m.row);
        port.postMessage({ op: 'committed', connections: w!.connectionsWritten });
        return;
      case 'close':
        w?.close();
        w = null;
        port.postMessage({ op: 'closed' });
        return;
    }
  } catch (err) {
    port.postMessage({ op: 'error', message: (err as Error).message, code: (err as { code?: string }).code });
  }
  if (pending !== null && (m.op === 'conns' || m.op === 'packets' || m.op === 'rows')) {
    Atomics.sub(pending, 0, 1);
    Atomics.notify(pending, 0);
  }
});
