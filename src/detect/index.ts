import type { AnalysisOptions, Detector } from './types.js';

/** the detectors an analysis runs, in the order their findings are stored */
export function createDetectors(_opts: AnalysisOptions): Detector[] {
  return [];
}
