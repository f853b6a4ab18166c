// V8 sizes its heap for throughput, not footprint: the young generation doubles up to 32 MB
// and the old one grows to about twice what is live before a full collection. A capture keeps
// tens of MB live (the open connections) for the whole run, so on 10 M packets that slack was
// 40-60 MiB of the peak RSS. Both limits are set here, at run time (flags on the command line
// would need a second process).
//  - old generation: grow by 25 % over what is live (10 M packets: 16 full collections instead
//    of 4, about 0.1 s of pauses, most of the marking on helper threads);
//  - young generation: stop growing at 8 MB. Only the flag that sets the growth factor can be
//    changed after start-up, and V8 reads it each time it grows the young generation, so it is
//    set to 1 once the size is reached (10 M packets: 173 scavenges instead of 55, 0.06 s more).
// 10 M packets, peak RSS: 248-254 MiB without detectors (was 292-295), 291-296 with them (was
// 328-354); the time did not change beyond this machine's noise (1 M packets with detectors:
// about 0.1 s more of pauses).

import v8 from 'node:v8';

const YOUNG_CAP = 8 << 20;
let capped = false;

/** at the start of an analysis, after its store's Worker has started: V8 sets the young
 *  generation's growth factor back to at least 2 when it sets up a new isolate's heap, so a cap
 *  set before the Worker was lost (when the young generation reached 8 MB before the analysis
 *  started: in 3 of 6 benchmark runs, which then peaked at 322-328 MiB instead of 293-299) */
export function limitHeapGrowth(): void {
  v8.setFlagsFromString('--heap-growing-percent=25');
  capped = false;
  capYoungGeneration();
}

/** call after each chunk read (about 1 MB; cheap, and nothing once capped): stops the young
 *  generation's growth at YOUNG_CAP. V8 doubles it a few times within the first second, a few
 *  scavenges apart: a check per chunk sees each size before the next doubling */
export function capYoungGeneration(): void {
  if (capped) return;
  for (const s of v8.getHeapSpaceStatistics()) {
    if (s.space_name === 'new_space' && s.space_size >= YOUNG_CAP) {
      v8.setFlagsFromString('--semi-space-growth-factor=1');
      capped = true;
    }
  }
}
