/** every finding kind twscope can report (the `findings.kind` values) */
export const FINDING_KINDS: string[] = [
  'time-wait-reuse',
  'paws-violation',
  'nat-clock-collision',
  'ts-per-connection',
  'port-exhaustion',
  'lost-last-ack',
  'abortive-close',
  'connection-refused',
  'syn-retransmission',
  'client-closes-first',
];
