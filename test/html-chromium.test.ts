// The HTML report in a real browser (headless Chromium, Debian package): every chart drew
// the marks the store calls for, and the page made no network request.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, afterAll, beforeAll } from 'vitest';
import type { Browser } from 'playwright-core';
import { analyzeInto, query, twscope } from './helpers/cli.ts';
import { capture, tmpDir } from './helpers/env.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = fs.existsSync(CHROMIUM);
if (!hasChromium) console.warn(`html-chromium: skipped, ${CHROMIUM} is not installed (apt-get install -y chromium)`);

const outDir = process.env.TWSCOPE_TEST_OUTPUT ?? path.join(os.tmpdir(), 'twscope-test-output');
const dir = tmpDir('twscope-html-');

interface Marks {
  charts: number;
  twSeries: number;
  rateBars: number;
  clockCharts: number;
  clockLines: number;
  clockPoints: number;
  gapPoints: number;
  notes: string[];
}

const CASES = ['findings/nat-hosts.pcap', 'findings/port-exhaustion-server-closes.pcap', 'findings/reuse-refused.pcap', 'teardown/server-closes-first.pcap'].filter((c) =>
  fs.existsSync(capture(c)),
);

describe.skipIf(!hasChromium)('HTML report in headless Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-quic', '--disable-component-update', '--disable-sync'],
    });
    fs.mkdirSync(outDir, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
  });

  for (const rel of CASES) {
    it(rel, async () => {
      const db = analyzeInto(dir, capture(rel));
      const html = path.join(dir, path.basename(rel) + '.html');
      const r = twscope(['report', db, '-o', html, '-q']);
      expect(r.code, r.stderr).toBe(0);

      const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
      const requests: string[] = [];
      page.on('request', (req) => requests.push(req.url()));
      await page.goto('file://' + html, { waitUntil: 'load' });
      const shot = path.join(outDir, path.basename(rel) + '.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(fs.statSync(shot).size).toBeGreaterThan(10_000);

      const m: Marks = await page.evaluate(() => {
        const q = (s: string): number => document.querySelectorAll(s).length;
        return {
          charts: q('svg.chart'),
          twSeries: q('#chart-time-wait path.series'),
          rateBars: q('#chart-connection-rate rect.bar'),
          clockCharts: q('svg.chart[id^="chart-clocks-"]'),
          clockLines: q('svg.chart[id^="chart-clocks-"] path.clock'),
          clockPoints: q('svg.chart[id^="chart-clocks-"] circle.point'),
          gapPoints: q('#chart-reuse-gaps circle.point'),
          notes: [...document.querySelectorAll('p.nochart')].map((p) => p.id),
        };
      });
      // each drawn path has real geometry
      const emptyPaths = await page.evaluate(() => [...document.querySelectorAll('svg.chart path')].filter((p) => !(p.getAttribute('d') ?? '').startsWith('M')).length);
      expect(emptyPaths).toBe(0);
      await page.close();
      expect(requests).toEqual(['file://' + html]);

      // TIME-WAIT occupancy: one line per host in the timeline (top 6), else one line swept from the connections
      const twHosts = query<{ n: number }>(
        db,
        `SELECT count(*) AS n FROM (SELECT host FROM time_wait_timeline WHERE server_ip = '*' GROUP BY host HAVING max(max(time_wait, coalesce(peak_time_wait, 0))) > 0)`,
      )[0]!.n;
      const twConns = query<{ n: number }>(db, 'SELECT count(*) AS n FROM connections WHERE time_wait_start IS NOT NULL')[0]!.n;
      const expectTw = twHosts > 0 ? Math.min(6, twHosts) : twConns > 0 ? 1 : 0;
      expect(m.twSeries).toBe(expectTw);
      expect(m.notes.includes('chart-time-wait')).toBe(expectTw === 0);

      // new connections per second: one bar per second that saw a connection start (short captures: 1 s buckets)
      const span = query<{ s: number }>(db, 'SELECT max(start_ts) - min(start_ts) AS s FROM connections')[0]!.s;
      expect(span).toBeLessThan(300);
      const seconds = query<{ n: number }>(db, 'SELECT count(DISTINCT CAST(floor(start_ts) AS INTEGER)) AS n FROM connections')[0]!.n;
      expect(m.rateBars).toBe(seconds);

      // TSval per clock, for address pairs with several clocks that are not per-connection randomization
      const pairs = query<{ src_ip: string; dst_ip: string; clocks: number }>(
        db,
        `SELECT k.src_ip, k.dst_ip, count(*) AS clocks FROM clocks k
         WHERE NOT EXISTS (SELECT 1 FROM findings f WHERE f.kind = 'ts-per-connection' AND f.host = k.src_ip AND json_extract(f.details, '$.peer') = k.dst_ip)
         GROUP BY k.src_ip, k.dst_ip HAVING count(*) > 1`,
      );
      let points = 0;
      let lines = 0;
      for (const p of pairs) {
        for (const k of query<{ connections: string }>(db, 'SELECT connections FROM clocks WHERE src_ip = ? AND dst_ip = ?', p.src_ip, p.dst_ip)) {
          let n = 0;
          for (const id of JSON.parse(k.connections) as number[]) {
            const c = query<{ client_ip: string; s: number; e: number; cf: number | null; cl: number | null; sf: number | null; sl: number | null }>(
              db,
              'SELECT client_ip, start_ts AS s, end_ts AS e, client_first_tsval AS cf, client_last_tsval AS cl, server_first_tsval AS sf, server_last_tsval AS sl FROM connections WHERE id = ?',
              id,
            )[0]!;
            const mine = c.client_ip === p.src_ip;
            if ((mine ? c.cf : c.sf) !== null) n++;
            if ((mine ? c.cl : c.sl) !== null && c.e > c.s) n++;
          }
          points += n;
          if (n > 1) lines++;
        }
      }
      expect(m.clockCharts).toBe(pairs.length);
      expect(m.clockPoints).toBe(points);
      expect(m.clockLines).toBe(lines);
      expect(m.notes.includes('chart-clocks')).toBe(pairs.length === 0);

      // reused 4-tuples: one dot per time-wait-reuse finding
      const reuses = query<{ n: number }>(db, "SELECT count(*) AS n FROM findings WHERE kind = 'time-wait-reuse'")[0]!.n;
      expect(m.gapPoints).toBe(reuses);
      expect(m.notes.includes('chart-reuse-gaps')).toBe(reuses === 0);
      expect(m.charts).toBe((expectTw ? 1 : 0) + 1 + pairs.length + (reuses ? 1 : 0));

      if (rel.includes('nat-hosts')) expect(m.clockLines).toBe(3);
      if (rel.includes('port-exhaustion-server-closes')) expect(m.gapPoints).toBeGreaterThanOrEqual(10);
    });
  }
});
