#!/usr/bin/python3
"""Write captures/findings/README.md from the <name>.json files (run by findings_run.py at the end)."""
import glob
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "findings"))

ORDER = ["reuse-server-tw", "reuse-server-tw-late", "reuse-client-tw-bind", "reuse-client-tw-kernel",
         "reuse-refused", "lost-last-ack-reuse", "paws-delayed", "nat-hosts", "nat-kernel-default",
         "port-exhaustion", "port-exhaustion-server-closes", "abortive-close", "syn-drops", "synack-lost", "retrans-loss"]

HEAD = """# captures/findings: real Linux captures that prove twscope's findings

Every capture here was made by `captures/netns/findings.sh` (as root) with real Linux 6.18 TCP stacks in
network namespaces (`twf-*`, veth pairs `twf*`, addresses from 198.51.100.0/24, 203.0.113.0/24 and
2001:db8:2::/64). Nothing is crafted except what a scenario says it injects (paws-delayed: one
segment with an old TSval, built with scapy on the router). Next to each capture, `<name>.json` states
what twscope must report (`expect`, with Wireshark 1-based frame numbers checked with tshark on the
file), what it must not report (`none`), optional `may` entries, the connections, and the kernel's
own counters (`nstat -asz` deltas per namespace, before/after the scenario) as independent truth.
`capture_check` gives the frame count, the size and the frames tshark itself flags as
`tcp.analysis.lost_segment`/`ack_lost_segment` (expected only where the scenario drops, delays or
reuses sequence space: tshark's relative numbers get confused across incarnations).

Regenerate: `sudo captures/netns/findings.sh [scenario ...]` (about 80 s; the 65 s control runs in a
thread beside the others). The helpers: `findings_run.py` (scenarios, tshark checks, JSON),
`findings_sock.py` (socket programs run inside the namespaces), `findings_lib.py` (namespaces,
tcpdump, nstat, tshark), `findings_tsshift.py`, `findings_lastack.py`, `findings_paws.py` (NFQUEUE
handlers on top of `nfq.py`). Frame numbers, ports, ISNs and TSvals change on every run; the JSON is
rewritten with them, the behaviour does not change.

## JSON fields
- `expect[]`: `kind`, `frames` (the frames that prove it), `facts`. For `time-wait-reuse` the facts are
  `holder` (`server`: the SYN's receiver held TIME-WAIT; `client`: the SYN's sender reused its own
  TIME-WAIT), `tw_start_frame` + `tw_start_basis`, `gap_s` (SYN time minus TIME-WAIT start),
  `isn_after_old` (new ISN after the end of the old client sequence space, RFC 1122), `tsval_newer`
  (new SYN TSval newer than the client's last TSval of the old incarnation, RFC 6191; null without
  timestamps), `outcome` (`syn-ack` | `ack-rst-retry` | ...), `accepted`, `delay_s` (first SYN to
  SYN-ACK), `wire_frames`, `answer` (for refused SYNs: the bare ACK, with `ack_is_old_rcv_nxt` /
  `seq_is_old_snd_nxt`), `server_isn_minus_old_server_snd_nxt` (65537 when Linux derived the ISN from the
  TIME-WAIT: `tw_snd_nxt + 65535 + 2`).
- `syn-retransmission` facts (syn-drops), per service: `attempts` (connections with a client SYN),
  `delayed` (answered after at least one SYN retransmission), `unanswered`, `delays_s` / `max_delay_s`
  (the client's ACK of the SYN-ACK minus its first SYN); frames: first SYN + SYN-ACK of each delayed
  connection, or the first SYN of an unanswered one (all of its SYNs in `syn_frames`). Each connection row adds `syn_frames`, `syn_count`,
  `synack_frame`, `connect_delay_s`, `outcome` (`immediate` | `delayed` | `unanswered`) and the client's
  own `client_connect_s`; `check` compares the SYN retransmissions with the server's
  `TcpExtListenDrops` / `TcpExtListenOverflows`. synack-lost adds `answered_before_resend`: delayed
  attempts whose first SYN-ACK is in the capture before the client's repeated SYN.
- `none`: kinds that must not be reported. `connections[]`: per incarnation (a SYN repeating the current
  ISN is a retransmission of the same incarnation, even after the client's RST in SYN-SENT).
- `nstat`: per namespace, the key counters (always listed, also when 0) plus every other non-zero
  `Tcp*`/`TcpExt*` delta. On this kernel the TIME-WAIT PAWS counter is `TcpExtPAWSTimewait`;
  `TcpExtPAWSPassive` does not exist (tcp_tw_recycle is gone); also present: `TcpExtPAWSActive`,
  `TcpExtPAWSEstab`, `TcpExtPAWSOldAck`, `TcpExtTSEcrRejected`, `TcpExtTWRecycled` (counts client-side
  TIME-WAIT reuse), `TcpExtTWKilled`, `TcpExtTCPTimeWaitOverflow`, `TcpExtTCPChallengeACK`,
  `TcpExtTCPSYNChallenge`, `TcpExtTCPACKSkippedTimeWait`, `TcpExtTCPACKSkippedPAWS`.
- `events`: what the socket programs saw (connect() errors such as EADDRNOTAVAIL, times).

## Captures
"""


def short(v):
    return {k: x for k, x in v.items() if x}


def main():
    rows = []
    details = []
    total = 0
    for name in ORDER:
        p = os.path.join(OUT, name + ".json")
        if not os.path.exists(p):
            continue
        j = json.load(open(p))
        cc = j.get("capture_check", {})
        total += cc.get("bytes", 0)
        kinds = sorted({e["kind"] for e in j["expect"]}) or ["none"]
        rows.append("| [%s](%s) | %s | %s | %d / %d B | %s |" % (
            j["capture"], j["capture"], name, ", ".join(kinds), cc.get("frames", 0), cc.get("bytes", 0),
            j["made_with"].split(";")[0]))
        d = ["### %s" % name, "", j["scenario"], "", "*Made with:* " + j["made_with"], ""]
        for e in j["expect"]:
            f = e["facts"]
            keep = {k: v for k, v in f.items() if not isinstance(v, (list, dict)) or k in ("wire_frames", "answer", "recycle_drops", "connections_per_host", "rates_hz")}
            d.append("- expect **%s** frames %s: `%s`" % (e["kind"], e["frames"][:30], json.dumps(keep)))
        d.append("- must not report: %s" % (", ".join(j["none"]) or "-"))
        if j.get("may"):
            d.append("- may: `%s`" % json.dumps(j["may"]))
        if j.get("notes"):
            d.append("- notes: " + j["notes"])
        d.append("- nstat truth: " + "; ".join("`%s` %s" % (ns, json.dumps(short(v))) for ns, v in j["nstat"].items()))
        d.append("")
        details.append("\n".join(d))
    body = HEAD
    body += "| capture | scenario | must show | frames / size | link type |\n|---|---|---|---|---|\n"
    body += "\n".join(rows) + "\n\nTotal: %d bytes.\n\n" % total
    body += KERNEL + "\n" + "\n".join(details)
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(body)


KERNEL = """## What Linux 6.18 did (seen on the wire and in the counters)
- **SYN to a server holding TIME-WAIT, timestamps on** (reuse-server-tw): accepted with a SYN-ACK at once;
  the server's new ISN is exactly the old `snd_nxt + 65537` (`tcp_timewait_state_process` returning
  `TCP_TW_SYN`). Both rules hold: same 4-tuple, so the per-connection TSval offset is the same and the
  clock continues (`tsval_newer`), and the clock-driven ISN (~15.6 M/s) is past the few bytes sent.
- **Client-side reuse** (reuse-client-tw-*): `TcpExtTWRecycled` +1 per reuse; the new ISN is exactly
  the old end + 65537 (`tw_snd_nxt + 65535 + 2`). With a kernel-chosen port (one-port range,
  `tcp_tw_reuse=1`) connect() fails with EADDRNOTAVAIL (no packet) for ~1 s
  (`tcp_tw_reuse_delay`=1000 ms). With an explicit bind() + SO_REUSEADDR the reuse happened 0.2 s after the
  close, no EADDRNOTAVAIL: for a bound socket (`tcp_twsk_unique` with `twp == NULL`) Linux checks only that
  the TIME-WAIT has a timestamp. A one-off check (not a capture) with `tcp_tw_reuse=0` gave the same:
  the bound reconnect 0.2 s after the close succeeded and `TcpExtTWRecycled` was 1. The reused SYN carries
  a non-zero TSecr (the TIME-WAIT's TS.Recent, copied into the new socket) and a TSval on the same clock.
- **Refused SYN** (reuse-refused; timestamps off, new ISN below the old end): the server's TIME-WAIT
  answers with a bare ACK (seq = old snd_nxt, ack = old rcv_nxt), the client in SYN-SENT answers with
  RST (seq = that ack) which kills the TIME-WAIT (no counter moves for that: `TcpExtTWKilled` stays 0),
  and the client retransmits its SYN after only ~10 ms, not 1 s: on an unacceptable ACK in SYN-SENT
  Linux re-arms the SYN timer to `TCP_TIMEOUT_MIN` ("Previous FIN/ACK or RST/ACK might be ignored"),
  client counters `TcpExtTCPTimeouts` +1, `TcpExtTCPSynRetrans` +1, `TcpOutRsts` +1.
- **Lost last ACK + reuse** (lost-last-ack-reuse): the server in LAST-ACK answers the reused SYN with a
  challenge ACK (RFC 5961: `TcpExtTCPSYNChallenge` +1, `TcpExtTCPChallengeACK` +1; seq = its snd_nxt
  after the FIN, ack = old rcv_nxt), the client answers with RST (seq = old rcv_nxt: exact, so the
  LAST-ACK socket is reset), the SYN is retransmitted ~12 ms later and gets a SYN-ACK. No error reaches
  the application; the delay is ~2 jiffies, not the 1 s of the background article.
- **PAWS** (paws-delayed): every segment whose TSval was behind TS.Recent by more than 1 tick was dropped
  (`TcpExtPAWSEstab` equals the number of violations computed from the capture) and answered with a
  duplicate ACK (with a D-SACK block when the data had already arrived).
- **Accept queue full, firewall** (syn-drops): with listen(1) and `tcp_syncookies=0` the listener took
  two connections into its accept queue (it is full when more connections wait than the backlog), then
  dropped SYNs silently (no RST, no SYN-ACK): `TcpExtListenOverflows` and `TcpExtListenDrops` each +1 per
  dropped SYN, equal to the client SYN retransmissions on the wire. The clients sent their SYN again
  every ~1.02 s, not at doubling intervals (1, 2, 4 s): `tcp_syn_linear_timeouts=4` (default on this
  kernel) keeps the first four SYN timeouts at the initial 1 s RTO (the extra ~24 ms is timer-wheel
  slack), so connect() waited about 1, 2 and 4 s instead of 1, 3 and 7. With `tcp_syn_retries=2` a connect() into an iptables DROP still failed with
  ETIMEDOUT after 7.1 s (the time limit is that of 2 exponential retransmissions, 1 + 2 + 4 s) but sent
  6 SYNs in that time; a one-off check (not a capture) with `tcp_syn_linear_timeouts=0` sent 3 SYNs (0,
  1, 3 s) and failed at the same 7.1 s. SYNs dropped by netfilter count in no server TCP counter.
- **SYN-ACK lost on the way back** (synack-lost): the server answered each SYN at once; the client's
  firewall dropped the first SYN-ACK of two of the three handshakes (the nth rule counts across
  connections, so the middle one got through). The client sent its SYN again after its 1 s timeout
  (client `TcpExtTCPSynRetrans` = 2, the repeated SYNs on the wire), the server answered it and also
  retransmitted its SYN-ACK on its own timer (server `TcpExtTCPSynRetrans` = 4); the server's
  `TcpExtListenDrops` stays 0. connect() took about 1.02-1.03 s.
- **Data lost and reordered** (retrans-loss): the client's `TcpRetransSegs` equals the segments twscope
  counts as retransmissions (`client_retrans`, and `packets.retransmission`) in every run: the dropped
  segments' retransmissions fill their gaps a round trip (20 ms) later with a newer TSval; the held
  segments fill theirs 5 ms late with their own older TSval and are not counted. With `reord_seen` still
  0 and the connection in SACK recovery, RACK's reordering window is 0, so the client also resent every
  held segment as soon as a SACK above it arrived (`TcpExtTCPDSACKRecv`: the server reported the copies):
  those copies re-send data the capture already showed and count. The server's PAWS dropped the held
  originals that were more than one tick behind TS.Recent (`TcpExtPAWSEstab`), the others passed the
  1-tick window: twscope's Linux verdict gives the same number. tshark agrees frame by frame but calls a
  retransmission out-of-order when it comes within its first round trip of the newest data.
"""

if __name__ == "__main__":
    main()
