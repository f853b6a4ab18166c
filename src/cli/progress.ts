// A one-line progress bar on stderr, only when stderr is a terminal.

export interface ProgressState {
  bytesRead: number;
  totalBytes: number | null;
  frames: number;
  openConnections: number;
}

export class ProgressBar {
  private last = 0;
  private readonly start = performance.now();
  private shown = false;
  readonly enabled: boolean;

  constructor(enabled = Boolean(process.stderr.isTTY) && !process.env.CI) {
    this.enabled = enabled;
  }

  update(p: ProgressState): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.last < 200) return;
    this.last = now;
    const secs = (now - this.start) / 1000;
    const rate = secs > 0 ? p.frames / secs : 0;
    const mb = (n: number): string => (n / 1048576).toFixed(0);
    let bar = '';
    if (p.totalBytes) {
      const frac = Math.min(1, p.bytesRead / p.totalBytes);
      const w = 24;
      const fill = Math.round(frac * w);
      bar = `[${'#'.repeat(fill)}${'.'.repeat(w - fill)}] ${(frac * 100).toFixed(0).padStart(3)}% ${mb(p.bytesRead)}/${mb(p.totalBytes)} MB`;
    } else bar = `${mb(p.bytesRead)} MB`;
    const line = `${bar}  ${fmtRate(rate)} pkts/s  ${p.openConnections.toLocaleString('en-US')} open`;
    process.stderr.write(`\r\x1b[2K${line}`);
    this.shown = true;
  }

  done(): void {
    if (this.shown) process.stderr.write('\r\x1b[2K');
    this.shown = false;
  }
}

function fmtRate(r: number): string {
  if (r >= 1e6) return (r / 1e6).toFixed(2) + 'M';
  if (r >= 1e3) return (r / 1e3).toFixed(0) + 'k';
  return r.toFixed(0);
}
