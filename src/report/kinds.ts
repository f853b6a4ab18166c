// What each finding kind means, in the words the reports use; and the recommendations
// each kind calls for. A recommendation appears in a report only when a finding of a
// kind that calls for it is in the capture.

export interface KindInfo {
  title: string;
  /** one sentence: what it means for the user */
  meaning: string;
  /** detail fields worth showing in the evidence, in order (others are shown generically) */
  fields: string[];
}

export const KIND_INFO: Record<string, KindInfo> = {
  'time-wait-reuse': {
    title: 'Port reused during TIME-WAIT',
    meaning: 'a new connection took a 4-tuple (addresses and ports) whose previous connection was still inside its TIME-WAIT period',
    fields: ['gap', 'time_wait', 'holder', 'holder_ip', 'old_state_of_receiver', 'isn_after_old', 'tsval_newer', 'paws_ok', 'linux_verdict', 'outcome', 'delay', 'lost_last_ack', 'time_wait_estimated'],
  },
  'paws-violation': {
    title: 'Old timestamp (PAWS)',
    meaning: 'a segment carried a TCP timestamp older than one the receiver had already seen, so the receiver may throw it away',
    fields: ['direction', 'tsval', 'ts_recent', 'ticks_back', 'time_back', 'arrival', 'clock_hz', 'rst_exempt', 'disordered_ack', 'rfc7323_drop', 'linux_drop', 'ts_recent_ahead', 'more'],
  },
  'nat-clock-collision': {
    title: 'Several hosts behind one address (NAT)',
    meaning: 'the TCP timestamps from one address follow several independent clocks, so several machines share that address',
    fields: ['hosts', 'peer', 'clocks', 'rates', 'recycle_drops'],
  },
  'ts-per-connection': {
    title: 'Timestamps randomized per connection',
    meaning: 'every connection from this address starts its TCP timestamps at its own offset (Linux since 4.10, FreeBSD, macOS): one host, not a NAT, and nothing to fix',
    fields: ['peer', 'clocks', 'connections_with_timestamps', 'rate_hz', 'rate_measured', 'recycle_drop_count'],
  },
  'port-exhaustion': {
    title: 'Ephemeral ports running out',
    meaning: 'a client held so many 4-tuples in TIME-WAIT towards one service that its ephemeral port range was close to used up',
    fields: ['scope', 'server', 'server_port', 'peak_time_wait', 'range', 'share_of_range', 'time_wait_len', 'rate', 'new_connections_rate', 'max_sustainable_rate', 'projected_time_wait'],
  },
  'lost-last-ack': {
    title: 'Last ACK lost',
    meaning: "the side that closed second never got the final ACK and had to send its FIN again, staying in LAST-ACK meanwhile",
    fields: ['passive_closer', 'fin_transmissions', 'fin_frame', 'retransmission_frames', 'acked_frame', 'time_in_last_ack', 'acks_lost_after_capture_point'],
  },
  'abortive-close': {
    title: 'Connections reset instead of closed',
    meaning: 'connections ended with a RST rather than the orderly FIN exchange; data in flight can be lost',
    fields: ['service', 'reset_by', 'connections', 'total', 'share', 'rst_kinds'],
  },
  'connection-refused': {
    title: 'Connections refused',
    meaning: 'SYNs were answered with a RST: the client sees "connection refused"',
    fields: ['service', 'refused', 'clients'],
  },
  'syn-retransmission': {
    title: 'SYNs sent again (slow or failed connects)',
    meaning: 'clients had to send their SYN again because the first got no answer: each retry makes connect() wait a retransmission timeout more (1 s on Linux, longer after a few retries), and one that is never answered fails with ETIMEDOUT',
    fields: ['scope', 'service', 'server', 'attempts', 'delayed', 'answered_before_resend', 'unanswered', 'share', 'syn_retransmissions', 'connect_delay_median', 'connect_delay_max', 'ports', 'clients'],
  },
  'client-closes-first': {
    title: 'Clients close first',
    meaning: 'clients sent the first FIN, so the TIME-WAIT state (and the ephemeral port it pins) stays on the clients',
    fields: ['service', 'connections', 'client_first', 'server_first', 'simultaneous'],
  },
};

export function kindInfo(kind: string): KindInfo {
  return KIND_INFO[kind] ?? { title: kind, meaning: `findings of kind ${kind}`, fields: [] };
}

export interface Recommendation {
  id: string;
  title: string;
  text: string;
  /** the finding kinds present in this capture that call for it */
  because: string[];
  /** shell lines, when there is something to type */
  commands: string[];
}

interface RecDef {
  id: string;
  title: string;
  /** kinds that call for it */
  kinds: string[];
  text: string;
  commands?: string[];
  /** narrower condition on the findings of those kinds (details known for the kind) */
  when?: (findings: { kind: string; severity: string; details: Record<string, unknown> }[]) => boolean;
}

// Plain advice, in the order a person should try it. Sources: the background articles on
// TIME-WAIT (Linux TCP_TIMEWAIT_LEN, tcp_tw_reuse, the removed tcp_tw_recycle).
export const RECOMMENDATIONS: RecDef[] = [
  {
    id: 'keepalive-pooling',
    title: 'Open fewer connections: keep them alive and pool them',
    kinds: ['time-wait-reuse', 'port-exhaustion'],
    text:
      'Every short connection leaves a TIME-WAIT entry behind for a minute, and a 4-tuple can only be used again after that. ' +
      'Sending many requests over one connection (HTTP keep-alive, upstream keepalive in a proxy, a connection pool in the database or HTTP client) removes the churn at its source, which is better than any kernel setting.',
  },
  {
    id: 'client-port-reuse',
    title: 'On the client, do not reuse source ports that are still in TIME-WAIT',
    kinds: ['time-wait-reuse'],
    when: (fs) => fs.some((f) => f.kind === 'time-wait-reuse' && f.severity !== 'info' && (f.details.holder === 'client' || f.details.holder === 'both')),
    text:
      'Here the client opened a new connection from a port it still held in TIME-WAIT (tcp_tw_reuse, or an application that binds its source port before connecting). ' +
      'That is only safe if the server has really closed: when the last ACK is lost the server still sits in LAST-ACK and answers the new SYN with an ACK or a reset, so the connection fails or starts late. ' +
      'Let the kernel pick source ports (no bind before connect, or IP_BIND_ADDRESS_NO_PORT) and reuse connections instead of reconnecting quickly.',
  },
  {
    id: 'port-range',
    title: 'Give the clients more ports (or more addresses)',
    kinds: ['port-exhaustion'],
    text:
      'A client can have one connection per local port towards a given server address and port. The default Linux range 32768-60999 gives 28,232 ports, i.e. about 470 new connections per second when each sits in TIME-WAIT for 60 s. ' +
      'Widen the range on the client, or spread the load over more server ports or addresses, or more client source addresses.',
    commands: ['sysctl -w net.ipv4.ip_local_port_range="1024 65535"'],
  },
  {
    id: 'tw-reuse',
    title: 'On the client, let the kernel reuse TIME-WAIT ports safely (tcp_tw_reuse)',
    kinds: ['port-exhaustion'],
    text:
      'With net.ipv4.tcp_tw_reuse=1 a Linux client may pick a port still in TIME-WAIT for a new outgoing connection when TCP timestamps prove the old segments cannot be confused with the new ones. ' +
      'It only helps outgoing connections, needs timestamps on both ends, and does not protect against a lost last ACK (the server, still in LAST-ACK, resets the new SYN).',
    commands: ['sysctl -w net.ipv4.tcp_tw_reuse=1'],
  },
  {
    id: 'keep-timestamps',
    title: 'Keep TCP timestamps on at both ends',
    kinds: ['time-wait-reuse'],
    text:
      'When a 4-tuple comes back while one side still holds it in TIME-WAIT, the new connection is safe only if its sequence numbers start beyond the old ones (RFC 1122) or its timestamp is newer (RFC 6191). ' +
      'Timestamps make the second rule available; with them off, Linux answers such a SYN with a bare ACK and the connection starts late or fails.',
    commands: ['sysctl net.ipv4.tcp_timestamps    # should be 1'],
  },
  {
    id: 'let-server-close',
    title: 'Let the server close the connection',
    kinds: ['client-closes-first', 'port-exhaustion', 'lost-last-ack'],
    text:
      'TIME-WAIT lands on whichever side sends the first FIN. On a server it costs little: its connections differ by client address and port, so it never runs out of 4-tuples. ' +
      'On a client that talks to one service it pins ephemeral ports. Where the protocol allows it (for example the server closing after the response, or an idle timeout on the server), let the server close.',
  },
  {
    id: 'never-tw-recycle',
    title: 'Never enable tcp_tw_recycle (and do not copy tuning guides that do)',
    kinds: ['nat-clock-collision', 'paws-violation'],
    // not for old timestamps that reordering or copies on the path explain
    when: (fs) => fs.some((f) => f.kind === 'nat-clock-collision' || (f.kind === 'paws-violation' && !('violations' in f.details) && f.details.arrival !== 'reordered' && f.details.arrival !== 'duplicate')),
    text:
      'net.ipv4.tcp_tw_recycle made Linux drop SYNs whose timestamp was older than the last one seen from the same address. Behind a NAT several machines share an address, each with its own timestamp clock, so their connections were dropped at random. ' +
      'The option was removed in Linux 4.12; on older kernels make sure it is 0. Do not strip or rewrite TCP timestamps in a middlebox either.',
    commands: ['sysctl net.ipv4.tcp_tw_recycle    # must be 0, or absent (Linux >= 4.12)'],
  },
  {
    id: 'path-reordering',
    title: 'Find what reorders the packets',
    kinds: ['paws-violation'],
    when: (fs) => fs.some((f) => f.kind === 'paws-violation' && f.details.arrival === 'reordered' && f.details.linux_drop === true),
    text:
      'Segments that newer ones overtook on the way carry older timestamps, and Linux drops those more than one tick behind TS.Recent: the receiver throws away data it does not have yet, and the sender has to send it again (its D-SACKs then show the copies). ' +
      'Reordering by a few milliseconds comes from the path: packets of one flow spread over parallel links (ECMP or link aggregation without per-flow hashing), a middlebox or user-space program that holds some of them, or receive queues that split one flow.',
    commands: ['nstat -az TcpExtPAWSEstab TcpExtTCPDSACKRecv TcpExtTCPSACKReorder    # PAWS drops on the receiver; D-SACKs and reordering seen by the sender'],
  },
  {
    id: 'no-linger-zero',
    title: 'Close connections with FIN, not RST',
    kinds: ['abortive-close'],
    text:
      'A RST ends a connection at once and throws away data still in flight. Applications sometimes set SO_LINGER with a zero timeout just to avoid TIME-WAIT; that trades a harmless state for lost data. ' +
      'Find the side that resets (see the evidence) and make it close normally; if a proxy or firewall injects the resets, check its idle timeouts.',
  },
  {
    id: 'check-listener',
    title: 'Check that the service listens and accepts',
    kinds: ['connection-refused'],
    text:
      'A SYN answered with a RST means nothing accepted the connection on that address and port: the service was down or restarting, listened on another address, its accept queue overflowed, or a firewall rejected the SYN.',
    commands: ['ss -ltn    # on the server: is the port listening?', 'nstat -az TcpExtListenOverflows TcpExtListenDrops'],
  },
  {
    id: 'syn-drops',
    title: 'Find where the SYNs are dropped',
    kinds: ['syn-retransmission'],
    // not when the server answered every first SYN: its SYN-ACKs were lost, not the SYNs
    when: (fs) => fs.some((f) => f.kind === 'syn-retransmission' && f.details.scope !== 'host' && synsLost(f.details) > 0),
    text:
      'A SYN that gets no answer is sent again after a retransmission timeout (1 s on Linux, growing after a few retries), so each drop adds a second or more to connect(). ' +
      'A Linux server drops new SYNs while the accept queue of the listening socket is full (the application accepts too slowly, or its listen() backlog, capped by net.core.somaxconn, is too small); it counts them in ListenOverflows and ListenDrops. ' +
      'If those counters stay at zero, look on the path: a firewall or security group, a full conntrack table, or packet loss.',
    commands: [
      'nstat -az TcpExtListenOverflows TcpExtListenDrops    # on the server: SYNs dropped by full queues',
      'ss -ltn    # Recv-Q: connections waiting to be accepted; Send-Q: the backlog',
      'sysctl net.core.somaxconn net.ipv4.tcp_max_syn_backlog',
    ],
  },
  {
    id: 'synack-lost',
    title: 'Find where the SYN-ACKs are lost',
    kinds: ['syn-retransmission'],
    when: (fs) => fs.some((f) => f.kind === 'syn-retransmission' && Number(f.details.answered_before_resend ?? 0) > 0),
    text:
      'The server answered, and the capture shows its SYN-ACK before the client sent its SYN again: the SYN-ACK did not reach the client in time. ' +
      'Look at the path back from the server (a firewall or security group that lets SYNs in but drops the answer, asymmetric routing through a stateful device, a full conntrack table, loss) and capture at the client as well to see whether the SYN-ACK arrives.',
    commands: ['nstat -az TcpExtTCPSynRetrans    # on the client: SYNs sent again', 'conntrack -S    # on stateful devices in between: insert_failed, drop'],
  },
];

/** the recommendations called for by the kinds present, in the catalogue's order */
export function recommendationsFor(kindsPresent: Set<string>, findings: { kind: string; severity: string; details: Record<string, unknown> }[] = []): Recommendation[] {
  const out: Recommendation[] = [];
  for (const r of RECOMMENDATIONS) {
    const because = r.kinds.filter((k) => kindsPresent.has(k));
    if (because.length === 0) continue;
    if (r.when && !r.when(findings)) continue;
    out.push({ id: r.id, title: r.title, text: r.text, because, commands: r.commands ?? [] });
  }
  return out;
}

/** attempts of a syn-retransmission finding whose SYNs were lost (not answered before being sent again) */
function synsLost(d: Record<string, unknown>): number {
  return Number(d.delayed ?? 0) - Number(d.answered_before_resend ?? 0) + Number(d.unanswered ?? 0);
}
