#!/usr/bin/env python3
"""Runs one command and measures it for bench/sandbox.sh: wall time, exit code, and the peak resident
memory of the Pulumi engine (the `pulumi` process), of the program (the `node` processes the language
host starts) and of the providers (`pulumi-resource-*`), each the highest sum over its processes seen in
one sample, and the CPU seconds each group used (user + system, each process as last seen). Samples the
command's process tree through /proc every 50 ms.

With `--track NAME=PID,PID...` (repeatable) it also records NAME_cpu_s: the CPU seconds those long-running
processes and their descendants used during the command, each process's own user + system time as last
seen by the same 50 ms sampling (a process is followed by pid and start time, also after its parent has
exited). A lower bound: a descendant that lives less than one sample is missed, and each one's last
sample is up to 50 ms early (the reaped children's times cannot be used: a sandbox session's sshd often
outlives the socat that started it, and its CPU is then reaped by init). bench/sandbox.sh tracks the
sandbox's own processes: each node's sshd listener (its sessions, the install scripts) as `hosts`, the
API server, etcd, kwok and the API relays as `cluster`.

Usage: measure.py OUT.json [--track NAME=PID,...] -- COMMAND [ARG...]   (its stdout and stderr pass through)
"""
import json
import os
import subprocess
import sys
import threading
import time

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the ppid follows the last ')'.
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def category(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            comm = f.read().strip()
    except OSError:
        return None
    if comm == "pulumi":
        return "engine"
    if comm == "node":
        return "program"
    if comm.startswith("pulumi-resource"):  # comm is cut at 15 characters
        return "providers"
    return None


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime
    except (OSError, IndexError, ValueError):
        return 0


def own(pid):
    """(start time, own user + system ticks) of a process, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[19]), int(fields[11]) + int(fields[12])  # starttime, utime + stime
    except (OSError, IndexError, ValueError):
        return None


class Tracked:
    """The CPU of some process trees over a time, sampled (see the module's doc)."""

    def __init__(self, roots):
        self.roots = roots
        self.first = {}  # (pid, starttime) -> ticks when first seen (0 if it started after the baseline)
        self.last = {}
        self.sample(children_map(), baseline=True)

    def sample(self, kids, baseline=False):
        # The trees as they are now (a new process there counts from 0), then the processes seen before that
        # have left them (their parent exited), each only while the same process (same start time).
        stack, visited = list(self.roots), set()
        while stack:
            pid = stack.pop()
            if pid in visited:
                continue
            visited.add(pid)
            o = own(pid)
            if o is None:
                continue
            key = (pid, o[0])
            self.first.setdefault(key, o[1] if baseline or pid in self.roots else 0)
            self.last[key] = o[1]
            stack.extend(kids.get(pid, []))
        for pid, start in list(self.last):
            o = None if pid in visited else own(pid)
            if o is not None and o[0] == start:
                self.last[(pid, start)] = o[1]

    def seconds(self):
        return round(sum(self.last[k] - self.first[k] for k in self.last) / TICKS, 1)


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE_KB
    except OSError:
        return 0


def main():
    usage = "usage: measure.py OUT.json [--track NAME=PID,...] -- COMMAND [ARG...]"
    out, args, tracked = sys.argv[1], sys.argv[2:], {}
    while args and args[0] == "--track":
        if len(args) < 2 or "=" not in args[1]:
            sys.exit(usage)
        name, pids = args[1].split("=", 1)
        tracked[name] = [int(p) for p in pids.split(",") if p]
        args = args[2:]
    if not args or args[0] != "--":
        sys.exit(usage)
    cmd = args[1:]
    tracked = {name: Tracked(pids) for name, pids in tracked.items()}
    peak = {"engine": 0, "program": 0, "providers": 0}
    cpu = {}  # pid -> (category, ticks as last seen)
    start = time.monotonic()
    proc = subprocess.Popen(cmd)
    done = threading.Event()

    def sample():
        while not done.is_set():
            kids = children_map()
            now = {"engine": 0, "program": 0, "providers": 0}
            stack = [proc.pid]
            while stack:
                pid = stack.pop()
                cat = category(pid)
                if cat:
                    now[cat] += rss_kb(pid)
                    cpu[pid] = (cat, max(cpu.get(pid, (cat, 0))[1], cpu_ticks(pid)))
                stack.extend(kids.get(pid, []))
            for k, v in now.items():
                peak[k] = max(peak[k], v)
            for t in tracked.values():
                t.sample(kids)
            done.wait(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    rc = proc.wait()
    wall = time.monotonic() - start
    done.set()
    t.join()
    with open(out, "w") as f:
        cpu_s = {k: round(sum(t for c, t in cpu.values() if c == k) / TICKS, 1) for k in peak}
        json.dump(
            {"rc": rc, "wall_s": round(wall, 2), **{f"{k}_rss_mb": round(v / 1024, 1) for k, v in peak.items()},
             **{f"{k}_cpu_s": v for k, v in cpu_s.items()},
             **{f"{k}_cpu_s": t.seconds() for k, t in tracked.items()}},
            f, sort_keys=True)
    sys.exit(rc)


if __name__ == "__main__":
    main()
