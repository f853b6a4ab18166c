import type { AnalysisOptions, Detector } from './types.js';
import { ReuseDetector } from './reuse.js';
import { PawsDetector } from './paws.js';
import { ServiceDetector } from './services.js';
import { ClockDetector } from './clocks.js';
import { PortDetector } from './ports.js';

/** the detectors an analysis runs, in the order their findings are stored */
export function createDetectors(opts: AnalysisOptions): Detector[] {
  return [new ReuseDetector(opts), new PawsDetector(), new ServiceDetector(), new ClockDetector(opts), new PortDetector(opts)];
}
