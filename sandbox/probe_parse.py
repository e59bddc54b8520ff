#!/usr/bin/env python3
"""Figures of one traffic-probe pinger (sandbox/probe.sh) from its log.

The log is what `ping -n -D -O ...` (Debian's iputils) printed: every reply and "no answer yet" line
starts with a -D timestamp `[epoch.micro]`, and on SIGINT ping ends with its summary
(`N packets transmitted, M received, ...`).

    probe_parse.py LOG [--start EPOCH] [--stop EPOCH] [--dest ADDR] [--error REASON]

prints one line of key=value fields (reason=, when present, is last and runs to the end of the line):

    status=ok|error sent= received= lost= dup= in_flight= errors= foreign= max_gap_ms= max_gap_at_ms=
    duration_ms= [reason=...]

- received: distinct icmp_seq answered by DEST (a "(DUP!)" reply is counted in dup, never in received;
  a reply from another address is counted in foreign). A late reply (after "no answer yet") counts.
- sent: packets ping transmitted (its summary; without one, the highest icmp_seq seen), less the one
  still in flight at the stop: the last packet, unanswered, for which ping had not yet printed
  "no answer yet" (with -O it prints that when it sends the next one, one interval later).
- lost = sent - received.
- max_gap_ms: the longest time without a reply: between consecutive replies (by their timestamps,
  so out-of-order replies are fine), and from START to the first reply and from the last reply to
  STOP. With no reply at all it is the whole STOP - START. START and STOP default to the first and
  last timestamp in the log. max_gap_at_ms: where that gap begins, from START.
- status=error when the log shows ping never started (no "PING" header: a bad netns, a bad
  address), when it has no summary (ping was killed or is still running), or with --error.
"""
import argparse
import ipaddress
import re
import sys

TS = r"^\[(?P<ts>\d+(?:\.\d+)?)\]\s+"
REPLY = re.compile(TS + r"\d+ bytes from (?:\S+ \()?(?P<src>[^\s()]+?)\)?: icmp_seq=(?P<seq>\d+)\b(?P<rest>.*)$")
NO_ANSWER = re.compile(TS + r"no answer yet for icmp_seq=(?P<seq>\d+)")
ERROR_LINE = re.compile(r"^(?:\[\d+(?:\.\d+)?\]\s+)?(?:From \S+.*icmp_seq=\d+|ping: )")
ANY_TS = re.compile(TS)
HEADER = re.compile(r"^PING \S+")
SUMMARY = re.compile(r"^(?P<tx>\d+) packets transmitted, (?P<rx>\d+) received")


def norm(addr):
    try:
        return str(ipaddress.ip_address(addr.split("%")[0]))
    except ValueError:
        return addr


def parse(lines, start=None, stop=None, dest=None, error=None):
    replies = {}          # seq -> first (non-DUP) reply timestamp
    dup = errors = foreign = 0
    no_answer = set()
    max_seq = 0
    header = False
    transmitted = None
    first_ts = last_ts = None
    first_line = ""
    want = norm(dest) if dest else None
    for raw in lines:
        line = raw.rstrip("\n")
        if not first_line and line.strip():
            first_line = line.strip()
        m = ANY_TS.match(line)
        if m:
            t = float(m.group("ts"))
            first_ts = t if first_ts is None else min(first_ts, t)
            last_ts = t if last_ts is None else max(last_ts, t)
        if HEADER.match(line):
            header = True
            continue
        m = SUMMARY.match(line)
        if m:
            transmitted = int(m.group("tx"))    # ping may print it twice (two SIGINTs): same figures
            continue
        m = REPLY.match(line)
        if m:
            seq = int(m.group("seq"))
            if want is not None and norm(m.group("src")) != want:
                foreign += 1
                continue
            max_seq = max(max_seq, seq)
            if "(DUP!)" in m.group("rest") or seq in replies:
                dup += 1
                continue
            replies[seq] = float(m.group("ts"))
            continue
        m = NO_ANSWER.match(line)
        if m:
            seq = int(m.group("seq"))
            no_answer.add(seq)
            max_seq = max(max_seq, seq)
            continue
        if ERROR_LINE.match(line):
            errors += 1

    tx = transmitted if transmitted is not None else max_seq
    in_flight = 1 if tx > 0 and tx not in replies and tx not in no_answer else 0
    sent = tx - in_flight
    received = sum(1 for s in replies if s <= tx)
    lost = max(sent - received, 0)

    start = first_ts if start is None else start
    stop = last_ts if stop is None else stop
    times = sorted(replies.values())
    if start is None:               # an empty log and no START: nothing to measure
        start = stop = 0.0
    if stop is None:
        stop = start
    start = min([start] + times[:1])
    stop = max([stop] + times[-1:])
    points = [start] + times + [stop]
    gap, gap_at = 0.0, 0.0
    for a, b in zip(points, points[1:]):
        if b - a > gap:
            gap, gap_at = b - a, a - start

    problems = []
    if not header:
        problems.append("ping did not start: " + (first_line or "empty log"))
    elif transmitted is None:
        problems.append("no summary from ping (killed, or still running)")
    if error:
        problems.append(error)
    reason = "; ".join(problems) if problems else None
    fields = [
        ("status", "ok" if reason is None else "error"),
        ("sent", sent), ("received", received), ("lost", lost), ("dup", dup),
        ("in_flight", in_flight), ("errors", errors), ("foreign", foreign),
        ("max_gap_ms", round(gap * 1000)), ("max_gap_at_ms", round(gap_at * 1000)),
        ("duration_ms", round((stop - start) * 1000)),
    ]
    out = " ".join(f"{k}={v}" for k, v in fields)
    if reason is not None:
        out += " reason=" + " ".join(reason.split())
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("log")
    ap.add_argument("--start", type=float)
    ap.add_argument("--stop", type=float)
    ap.add_argument("--dest")
    ap.add_argument("--error")
    a = ap.parse_args()
    try:
        with open(a.log, errors="replace") as f:
            lines = f.readlines()
    except FileNotFoundError:
        lines = []
    print(parse(lines, a.start, a.stop, a.dest, a.error))


if __name__ == "__main__":
    sys.exit(main())
