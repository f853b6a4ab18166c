// The SQLite schema users query. Column lists are declared once here; the DDL (with a
// comment per column, which SQLite keeps in sqlite_master and `twscope schema` prints)
// and the insert statements are generated from them.

export const SCHEMA_VERSION = 1;

export interface Column {
  name: string;
  type: 'INTEGER' | 'REAL' | 'TEXT';
  comment: string;
  /** extra constraint text, e.g. PRIMARY KEY */
  extra?: string;
}

export interface Table {
  name: string;
  comment: string;
  columns: Column[];
  indexes?: string[];
}

const col = (name: string, type: Column['type'], comment: string, extra?: string): Column => ({ name, type, comment, extra });

export const CAPTURES: Table = {
  name: 'captures',
  comment: 'one row per analyze run (one or several capture files read as one timeline)',
  columns: [
    col('id', 'INTEGER', 'capture id', 'PRIMARY KEY'),
    col('path', 'TEXT', 'capture file path as given; several files are joined with a newline'),
    col('format', 'TEXT', "file format(s): pcap, pcap-ns, pcapng, with '+gzip' when compressed"),
    col('link_types', 'TEXT', 'distinct link types, e.g. "1 EN10MB, 276 LINUX_SLL2"'),
    col('packets', 'INTEGER', 'packet records read'),
    col('tcp_segments', 'INTEGER', 'records decoded as TCP segments'),
    col('first_ts', 'REAL', 'first record time, Unix seconds'),
    col('first_ns', 'INTEGER', 'first record time, Unix nanoseconds'),
    col('last_ts', 'REAL', 'last record time, Unix seconds'),
    col('last_ns', 'INTEGER', 'last record time, Unix nanoseconds'),
    col('damaged', 'TEXT', 'the damage that stopped reading (file, frame, byte offset), or NULL'),
    col('options', 'TEXT', 'JSON: analysis options (time_wait, msl, port range, ...)'),
    col('decode_stats', 'TEXT', 'JSON: frames by kind (tcp, udp, arp, fragments, malformed options, ...), what the snapshot length cut (truncated frames, tcpCut, tcpOptionsCut), tunnels (encapsulations opened: GRE, VXLAN, Geneve, MPLS, IP in IP), connections and acked_unseen_connections (an ACK of data not in the capture: packets the capture lost)'),
    col('status', 'TEXT', "'complete', or 'incomplete' if analyze was interrupted (never left by a clean run)"),
    col('connections', 'INTEGER', 'connections reconstructed'),
    col('analyzed_at', 'TEXT', 'ISO time of the analysis'),
    col('twscope_version', 'TEXT', 'twscope version that wrote the rows'),
    col('totals', 'TEXT', 'JSON: counts over the capture\'s connection rows as written, for the summary and reports (GROUP BY over connections gives the same): connections by close_kind, conn_state and active_closer, TIME-WAIT holders, guessed orientations, estimated TIME-WAITs, first and last start, one-sided connections, the 5 busiest services and clients (null past 100,000 distinct ones), and every service and client with its closes and resets (null past 10,000)'),
  ],
};

export const CAPTURE_FILES: Table = {
  name: 'capture_files',
  comment: 'one row per file of a capture',
  columns: [
    col('capture_id', 'INTEGER', 'captures.id'),
    col('file_index', 'INTEGER', '0-based position in the command line'),
    col('path', 'TEXT', 'file path as given'),
    col('format', 'TEXT', 'pcap, pcap-ns or pcapng (+gzip)'),
    col('link_types', 'TEXT', 'distinct link types of the file'),
    col('packets', 'INTEGER', 'packet records read from this file'),
    col('bytes', 'INTEGER', 'bytes read (decompressed)'),
    col('first_ts', 'REAL', 'first record time, Unix seconds'),
    col('last_ts', 'REAL', 'last record time, Unix seconds'),
    col('damaged', 'TEXT', 'damage that stopped reading this file, or NULL'),
  ],
};

export const CONNECTIONS: Table = {
  name: 'connections',
  comment: 'one row per incarnation of a TCP 4-tuple',
  columns: [
    col('id', 'INTEGER', 'connection id (unique in the database)', 'PRIMARY KEY'),
    col('capture_id', 'INTEGER', 'captures.id'),
    col('client_ip', 'TEXT', 'client address: the side that sent the first SYN (or the guess, see orientation_guessed)'),
    col('client_port', 'INTEGER', 'client port'),
    col('server_ip', 'TEXT', 'server address'),
    col('server_port', 'INTEGER', 'server port'),
    col('ip_version', 'INTEGER', '4 or 6'),
    col('first_frame', 'INTEGER', 'first frame (Wireshark numbering)'),
    col('last_frame', 'INTEGER', 'last frame'),
    col('start_ts', 'REAL', 'first packet time, Unix seconds'),
    col('start_ns', 'INTEGER', 'first packet time, Unix nanoseconds'),
    col('end_ts', 'REAL', 'last packet time, Unix seconds'),
    col('end_ns', 'INTEGER', 'last packet time, Unix nanoseconds'),
    col('duration', 'REAL', 'end_ts - start_ts, seconds'),
    col('orientation_guessed', 'INTEGER', '1 when no SYN was seen and client/server were guessed (SYN-ACK sender, else well-known or lower port)'),
    col('conn_state', 'TEXT', "Zeek conn.log conn_state: S0 S1 SF REJ S2 S3 RSTO RSTR RSTOS0 RSTRH SH SHR OTH"),
    col('history', 'TEXT', 'Zeek conn.log history letters (client upper case, server lower case): S H A D F R T W G I Q ^, as Zeek sets them (G: an acknowledgment of data the capture lacks; no C: checksums are not verified)'),
    col('close_kind', 'TEXT', 'fin | simultaneous | rst | fin-rst | refused | half-close | open | unanswered'),
    col('active_closer', 'TEXT', "who sent the first FIN: 'client', 'server', 'both' (simultaneous close) or NULL"),
    col('time_wait_start', 'REAL', "when the active closer's TIME-WAIT began: its ACK of the peer's FIN (or the peer's FIN, see time_wait_estimated); NULL when a RST came before it got there"),
    col('time_wait_end', 'REAL', 'time_wait_start + the TIME-WAIT length'),
    col('time_wait_estimated', 'INTEGER', "1 when the last ACK is not in the capture and TIME-WAIT is dated from the peer's FIN"),
    col('last_ack_frame', 'INTEGER', "frame of the active closer's ACK of the peer's FIN (the last ACK)"),
    col('rst_by', 'TEXT', "who sent the first RST: 'client', 'server' or NULL"),
    col('rst_kind', 'TEXT', 'refused (RST answering a SYN) | abort (RST with no FIN before) | after-fin'),
    col('rst_frame', 'INTEGER', 'frame of the first RST'),
    col('client_fin_frame', 'INTEGER', "frame of the client's first FIN"),
    col('server_fin_frame', 'INTEGER', "frame of the server's first FIN"),
    col('client_fin_count', 'INTEGER', 'FIN transmissions by the client (more than 1: retransmitted; copies within 1 ms are not counted)'),
    col('server_fin_count', 'INTEGER', 'FIN transmissions by the server, same rule'),
    col('client_state', 'TEXT', "where the client stood when the connection left the analysis (Linux state names: ESTABLISHED, TIME_WAIT, LAST_ACK, ...)"),
    col('server_state', 'TEXT', 'where the server stood, same names'),
    col('end_reason', 'TEXT', "capture-end | superseded (a new incarnation took the 4-tuple) | expired (idle or TIME-WAIT over)"),
    col('client_pkts', 'INTEGER', 'packets client to server'),
    col('server_pkts', 'INTEGER', 'packets server to client'),
    col('client_bytes', 'INTEGER', 'TCP payload bytes client to server (retransmissions included)'),
    col('server_bytes', 'INTEGER', 'TCP payload bytes server to client'),
    col('client_retrans', 'INTEGER', 'client segments re-sending sequence space (SYN and FIN included): data the capture already showed, or data it skipped that comes later than a reordered segment would (a newer TSval, or half a handshake round trip after the skip: lost before the capture point). Not counted: keep-alives, and a segment sent before the one that skipped past it (reordered on the way)'),
    col('server_retrans', 'INTEGER', 'server retransmissions, same rule'),
    col('acked_unseen', 'INTEGER', "1 when one side acknowledged data the capture does not show from the other (Wireshark: \"ACKed segment that wasn't captured\"): the capture lost packets of this connection, and its counters are incomplete"),
    col('client_isn', 'INTEGER', "client's initial sequence number (raw), NULL without SYN"),
    col('server_isn', 'INTEGER', "server's initial sequence number (raw), NULL without SYN-ACK"),
    col('syn_count', 'INTEGER', 'SYN transmissions with the client ISN (more than 1: retransmitted; a copy within 1 ms, the same SYN captured twice, is not counted)'),
    col('ts_enabled', 'INTEGER', '1 when both SYN and SYN-ACK carried TCP timestamps (or both directions did, without handshake)'),
    col('client_mss', 'INTEGER', 'MSS option in the SYN'),
    col('server_mss', 'INTEGER', 'MSS option in the SYN-ACK'),
    col('client_wscale', 'INTEGER', 'window scale shift in the SYN'),
    col('server_wscale', 'INTEGER', 'window scale shift in the SYN-ACK'),
    col('sack_permitted', 'INTEGER', '1 when both SYN and SYN-ACK offered SACK'),
    col('client_first_tsval', 'INTEGER', 'first TSval sent by the client'),
    col('client_last_tsval', 'INTEGER', 'last TSval sent by the client'),
    col('server_first_tsval', 'INTEGER', 'first TSval sent by the server'),
    col('server_last_tsval', 'INTEGER', 'last TSval sent by the server'),
    col('handshake_rtt', 'REAL', "seconds from the (last) SYN to the client's ACK of the SYN-ACK, at the capture point"),
    col('prev_id', 'INTEGER', 'previous incarnation of the same 4-tuple (connections.id), while it was still held: closed and within its TIME-WAIT window, or open and idle for less than the idle timeout'),
    col('reuse_gap', 'REAL', "seconds from the previous incarnation's TIME-WAIT start (or its last packet) to this one's first SYN"),
  ],
  indexes: [
    // one index serves both the per-service questions (server_ip, server_port) and 4-tuple lookups:
    // each index costs a scan of the whole table when a large capture is committed
    'CREATE INDEX IF NOT EXISTS connections_service ON connections(server_ip, server_port, client_ip, client_port)',
    'CREATE INDEX IF NOT EXISTS connections_start ON connections(capture_id, start_ts)',
  ],
};

export const FINDINGS: Table = {
  name: 'findings',
  comment: 'what the detectors found, each with the frames that prove it',
  columns: [
    col('id', 'INTEGER', 'finding id', 'PRIMARY KEY'),
    col('capture_id', 'INTEGER', 'captures.id'),
    col('kind', 'TEXT', 'time-wait-reuse | paws-violation | nat-clock-collision | ts-per-connection | port-exhaustion | lost-last-ack | abortive-close | connection-refused | syn-retransmission | client-closes-first'),
    col('severity', 'TEXT', 'info | warning | critical'),
    col('ts', 'REAL', 'when it happened, Unix seconds'),
    col('connection_id', 'INTEGER', 'connections.id the finding is about (NULL for per-host findings)'),
    col('related_connection_id', 'INTEGER', 'the other connection involved (e.g. the previous incarnation), or NULL'),
    col('frames', 'TEXT', 'JSON array of frame numbers that prove it (Wireshark numbering)'),
    col('host', 'TEXT', 'address the finding is about (client address for NAT and port findings)'),
    col('summary', 'TEXT', 'one sentence a non-expert understands'),
    col('details', 'TEXT', 'JSON: the facts and verdicts behind the finding'),
    col('wireshark_filter', 'TEXT', 'display filter showing the frames in Wireshark'),
  ],
  indexes: ['CREATE INDEX IF NOT EXISTS findings_capture_kind ON findings(capture_id, kind)', 'CREATE INDEX IF NOT EXISTS findings_conn ON findings(connection_id)'],
};

export const CLOCKS: Table = {
  name: 'clocks',
  comment: 'TCP timestamp clocks estimated per (source, destination) address pair: every clock seen on several 4-tuples (a host), then at most 50 other clocks per pair (per-connection clocks; the nat-clock-collision / ts-per-connection findings count them all)',
  columns: [
    col('capture_id', 'INTEGER', 'captures.id'),
    col('src_ip', 'TEXT', 'address sending the timestamps'),
    col('dst_ip', 'TEXT', 'address they were sent to'),
    col('clock', 'INTEGER', 'clock number within the address pair (1, 2, ...)'),
    col('rate_hz', 'REAL', 'tick rate snapped to a common value (1, 2, 10, 100, 250, 300, 1000 Hz, 1 MHz); 1000 assumed when a short connection cannot tell (measured_hz NULL)'),
    col('measured_hz', 'REAL', 'tick rate as measured (before snapping)'),
    col('offset', 'REAL', 'TSval the clock would show at Unix time 0 modulo 2^32 (identifies the clock)'),
    col('connections', 'TEXT', 'JSON array of connections.id on this clock (at most 100,000)'),
    col('first_ts', 'REAL', 'first packet time on this clock'),
    col('last_ts', 'REAL', 'last packet time on this clock'),
  ],
};

export const PACKETS: Table = {
  name: 'packets',
  comment: 'every TCP segment (only with analyze --packets)',
  columns: [
    col('capture_id', 'INTEGER', 'captures.id'),
    col('frame', 'INTEGER', 'frame number'),
    col('ts', 'REAL', 'Unix seconds'),
    col('ts_ns', 'INTEGER', 'Unix nanoseconds'),
    col('connection_id', 'INTEGER', 'connections.id'),
    col('dir', 'TEXT', 'c2s or s2c'),
    col('flags', 'TEXT', 'TCP flags, letters as in `twscope packets`'),
    col('seq', 'INTEGER', 'raw sequence number'),
    col('ack', 'INTEGER', 'raw acknowledgment number'),
    col('win', 'INTEGER', 'raw window field (not scaled)'),
    col('len', 'INTEGER', 'TCP payload length'),
    col('tsval', 'INTEGER', 'TSval or NULL'),
    col('tsecr', 'INTEGER', 'TSecr or NULL'),
    col('retransmission', 'INTEGER', "1 when the segment is counted in its side's retransmissions (connections.client_retrans, server_retrans); Wireshark: tcp.analysis.retransmission"),
  ],
  indexes: ['CREATE INDEX IF NOT EXISTS packets_conn ON packets(connection_id)', 'CREATE INDEX IF NOT EXISTS packets_frame ON packets(capture_id, frame)'],
};

export const TIME_WAIT_TIMELINE: Table = {
  name: 'time_wait_timeline',
  comment: "what `ss -s` would have shown: 4-tuples in TIME-WAIT over time, per client host and service",
  columns: [
    col('capture_id', 'INTEGER', 'captures.id'),
    col('ts', 'REAL', 'bucket start, Unix seconds'),
    col('host', 'TEXT', 'the address holding TIME-WAIT (usually the client)'),
    col('server_ip', 'TEXT', "peer address ('*' = all peers of the host)"),
    col('server_port', 'INTEGER', 'peer port (NULL = all)'),
    col('time_wait', 'INTEGER', 'TIME-WAIT entries held at the end of the bucket'),
    col('peak_time_wait', 'INTEGER', 'most TIME-WAIT entries held at once during the bucket'),
    col('new_connections', 'INTEGER', 'new connections (SYNs) in the bucket'),
  ],
  indexes: ['CREATE INDEX IF NOT EXISTS tw_timeline_capture ON time_wait_timeline(capture_id, host, ts)'],
};

export const TABLES: Table[] = [CAPTURES, CAPTURE_FILES, CONNECTIONS, FINDINGS, CLOCKS, PACKETS, TIME_WAIT_TIMELINE];

export const VIEWS: { name: string; comment: string; sql: string }[] = [
  {
    name: 'v_reuse',
    comment: '4-tuple reuse inside TIME-WAIT, with both incarnations side by side',
    sql: `SELECT f.capture_id, f.severity, f.ts, n.client_ip, n.client_port, n.server_ip, n.server_port,
  json_extract(f.details, '$.gap') AS gap, json_extract(f.details, '$.holder') AS holder,
  json_extract(f.details, '$.outcome') AS outcome, json_extract(f.details, '$.linux_verdict') AS linux_verdict,
  json_extract(f.details, '$.isn_after_old') AS isn_after_old, json_extract(f.details, '$.tsval_newer') AS tsval_newer,
  f.connection_id AS new_id, f.related_connection_id AS old_id, f.frames, f.summary, f.wireshark_filter
FROM findings f JOIN connections n ON n.id = f.connection_id
WHERE f.kind = 'time-wait-reuse'`,
  },
  {
    name: 'v_paws',
    comment: 'PAWS violations with their timestamps and both verdicts',
    sql: `SELECT f.capture_id, f.ts, c.client_ip, c.client_port, c.server_ip, c.server_port,
  json_extract(f.details, '$.direction') AS direction, json_extract(f.details, '$.tsval') AS tsval,
  json_extract(f.details, '$.ts_recent') AS ts_recent, json_extract(f.details, '$.ticks_back') AS ticks_back,
  json_extract(f.details, '$.rfc7323_drop') AS rfc7323_drop, json_extract(f.details, '$.linux_drop') AS linux_drop,
  f.frames, f.summary, f.connection_id
FROM findings f JOIN connections c ON c.id = f.connection_id
WHERE f.kind = 'paws-violation'`,
  },
  {
    name: 'v_nat',
    comment: 'addresses showing several TCP timestamp clocks (hosts behind NAT)',
    sql: `SELECT f.capture_id, f.host, json_extract(f.details, '$.hosts') AS hosts, json_extract(f.details, '$.peer') AS peer,
  json_extract(f.details, '$.recycle_drop_count') AS recycle_drop_count, json_extract(f.details, '$.recycle_drops') AS recycle_drops, f.severity, f.summary
FROM findings f WHERE f.kind = 'nat-clock-collision'`,
  },
  {
    name: 'v_time_wait',
    comment: 'TIME-WAIT occupancy per host over time (all peers)',
    sql: `SELECT capture_id, ts, host, time_wait, peak_time_wait, new_connections FROM time_wait_timeline WHERE server_ip = '*'`,
  },
  {
    name: 'v_closers',
    comment: 'who closes first, per service (server address and port)',
    sql: `SELECT capture_id, server_ip, server_port, count(*) AS connections,
  sum(active_closer = 'client') AS client_first, sum(active_closer = 'server') AS server_first,
  sum(active_closer = 'both') AS simultaneous, sum(close_kind IN ('rst', 'fin-rst')) AS reset,
  sum(close_kind = 'refused') AS refused
FROM connections GROUP BY capture_id, server_ip, server_port`,
  },
];

export function tableDDL(t: Table): string {
  const lines = t.columns.map((c, i) => {
    const comma = i < t.columns.length - 1 ? ',' : '';
    return `  ${c.name} ${c.type}${c.extra ? ' ' + c.extra : ''}${comma} -- ${c.comment}`;
  });
  return `-- ${t.comment}\nCREATE TABLE IF NOT EXISTS ${t.name} (\n${lines.join('\n')}\n);`;
}

export function schemaSQL(): string {
  const parts: string[] = [];
  for (const t of TABLES) {
    parts.push(tableDDL(t));
    for (const ix of t.indexes ?? []) parts.push(ix + ';');
  }
  for (const v of VIEWS) parts.push(`-- ${v.comment}\nCREATE VIEW IF NOT EXISTS ${v.name} AS\n${v.sql};`);
  return parts.join('\n\n') + '\n';
}

export function insertSQL(t: Table, skipId = false): string {
  const cols = t.columns.filter((c) => !(skipId && c.name === 'id')).map((c) => c.name);
  return `INSERT INTO ${t.name} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`;
}
