// 32-bit serial-number arithmetic (RFC 1982) for TCP sequence numbers and timestamps.

/** a - b as a signed 32-bit distance */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** a is after b in serial order */
export function seqAfter(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/** a is at or after b */
export function seqGE(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}
