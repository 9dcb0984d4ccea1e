#!/usr/bin/env python3
"""Runs the benchmarks of bench/compare.sh (which builds everything first) and writes the
markdown table. Peers run interleaved, round by round, so they share the machine's noise;
every target is a ratio of two figures measured in the same run."""
import argparse
import json
import concurrent.futures
import os
import random
import re
import shutil
import subprocess
import sys
import time

QBOOT = "/usr/share/qemu/qboot.rom"
STARTUP = "swiftvmm start-up only (no VM)"
STATIC = "swiftvmm static executable"
MiB = 1 << 20


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100)."""
    s = sorted(values)
    if not s:
        return float("nan")
    rank = max(1, -(-len(s) * p // 100))
    return s[int(rank) - 1]


def median(values):
    s = sorted(values)
    if not s:
        return float("nan")
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2


def run(cmd, timeout=60, stdin=subprocess.DEVNULL):
    """Runs cmd; returns (seconds from spawn to reaped exit, status, stdout+stderr)."""
    start = time.perf_counter()
    p = subprocess.run(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    return time.perf_counter() - start, p.returncode, p.stdout.decode(errors="replace")


class Peers:
    """The command line that boots a kernel on each peer."""

    def __init__(self, a):
        self.a = a
        self.qemu = shutil.which("qemu-system-x86_64")
        self.qemu_skip = None if self.qemu else "qemu-system-x86_64 not installed"
        self.qboot_args = ["-bios", QBOOT] if os.path.exists(QBOOT) else []
        self.kvm_ok = os.access("/dev/kvm", os.R_OK | os.W_OK)

    def swiftvmm(self, elf, *extra):
        return [self.a.swiftvmm, "boot", elf, "--serial", "stdio", *extra]

    def floor(self, elf, *extra):
        return [self.a.floor, elf, *extra]

    def qemu_cmd(self, elf32, accel, cpus=1, memory="256M", cmdline=None):
        cmd = [self.qemu, "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio",
               "-no-reboot", "-m", memory, "-smp", str(cpus)]
        if memory != "256M":
            # Without reserve=off QEMU reserves swap for all of RAM and a 64 GiB guest
            # fails on a smaller host ("cannot set up guest memory 'pc.ram'").
            cmd += ["-object", f"memory-backend-ram,id=ram0,size={memory},reserve=off",
                    "-machine", "memory-backend=ram0"]
        cmd += [
               "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", elf32]
        if cmdline is not None:
            cmd += ["-append", cmdline]
        if accel == "kvm":
            cmd += ["-accel", "kvm", "-cpu", "host,-arch-capabilities"] + self.qboot_args
        else:
            cmd += ["-accel", "tcg", "-cpu", "max"] + self.qboot_args
        return cmd


def fmt_ms(s):
    return f"{s * 1000:.1f}"


def section_boot(a, peers, out):
    """(1) boot-to-exit wall time of hello, every peer once per round, in shuffled order."""
    hello, hello32 = a.guest("hello"), a.guest("hello", elf32=True)
    cmds = {"swiftvmm": peers.swiftvmm(hello), "floor (C)": peers.floor(hello),
            # Process start-up and command-line parsing alone: a missing kernel fails
            # right after parsing, before /dev/kvm is opened (status 2).
            STARTUP: peers.swiftvmm(f"{a.work}/no-such-kernel.elf")}
    if a.swiftvmm_static:
        cmds[STATIC] = [a.swiftvmm_static, *peers.swiftvmm(hello)[1:]]
    skipped = {}
    if peers.qemu:
        cmds["QEMU+KVM+qboot"] = peers.qemu_cmd(hello32, "kvm")
        cmds["QEMU TCG"] = peers.qemu_cmd(hello32, "tcg")
    else:
        skipped["QEMU"] = peers.qemu_skip
    rounds, by_round = max(a.n, a.boot_rounds), []
    times, bad = interleaved_runs(
        rounds, cmds, lambda k, rc, text: (rc == 1 and "Hello, world!" in text) or (k == STARTUP and rc == 2),
        by_round=by_round)
    out.append("## 1. Boot-to-exit wall time (hello: spawn → debug-exit → process reaped)\n")
    out.append(f"{rounds} runs per peer, interleaved in shuffled order each round.\n")
    out.append("| peer | median ms | p99 ms | min ms | failed runs |")
    out.append("|---|---|---|---|---|")
    med = {}
    for k in cmds:
        if times[k]:
            med[k] = median(times[k])
            out.append(f"| {k} | {fmt_ms(med[k])} | {fmt_ms(percentile(times[k], 99))} | "
                       f"{fmt_ms(min(times[k]))} | {bad[k]} |")
        else:
            out.append(f"| {k} | — | — | — | {bad[k]} (all) |")
    for k, why in skipped.items():
        out.append(f"| {k} | skipped: {why} | | | |")
    out.append("")
    if "swiftvmm" in med and "floor (C)" in med:
        r = med["swiftvmm"] / med["floor (C)"]
        out.append(f"- swiftvmm / floor (median): **{r:.2f}×** (target ≤ 1.25×: "
                   f"{'met' if r <= 1.25 else 'MISSED'})")
    if "swiftvmm" in med and "QEMU+KVM+qboot" in med:
        r = med["QEMU+KVM+qboot"] / med["swiftvmm"]
        out.append(f"- QEMU+KVM+qboot / swiftvmm (median): **{r:.1f}×** (target ≥ 8×: "
                   f"{'met' if r >= 8 else 'MISSED'})")
    if STATIC in med and "floor (C)" in med:
        r = med[STATIC] / med["floor (C)"]
        out.append(f"- {STATIC} / floor (median): **{r:.2f}×**")
        paired = paired_ratio(by_round, STATIC, "floor (C)")
        if paired:
            ratio, low, high, count = paired
            out.append(f"- {STATIC} / floor, paired (median over {count} rounds of the ratio within a round): "
                       f"**{ratio:.3f}×**, 95 % bootstrap interval {low:.3f}–{high:.3f}× (issue 22's target ≤ 1.15×: "
                       f"{'met' if high <= 1.15 else 'met at the median, not across the interval' if ratio <= 1.15 else 'MISSED'})")
    if STARTUP in med and "swiftvmm" in med:
        out.append(f"- of swiftvmm's median, {fmt_ms(med[STARTUP])} ms "
                   f"({med[STARTUP] / med['swiftvmm'] * 100:.0f} %) pass before the VM exists: "
                   "dynamic linking and command-line parsing")
    if "swiftvmm" in med:
        out.append(f"- swiftvmm median {fmt_ms(med['swiftvmm'])} ms (absolute target ≤ 15 ms on a quiet host: "
                   f"{'met' if med['swiftvmm'] <= 0.015 else 'missed'})")
    out.append("")
    return med


def callgrind_total(cmd, outfile):
    """User-space instructions of a whole run under callgrind (all threads)."""
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={outfile}", *cmd],
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=600)
    with open(outfile) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {outfile}")


def callgrind_functions(outfile):
    """Inclusive-free (self) instruction count per function, from callgrind_annotate."""
    p = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", outfile],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    costs = {}
    for line in p.stdout.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(?:\([\s\d.]+%\)\s+)?(.+?)\s*$", line)
        if m and ":" in m.group(2):
            fn = m.group(2)
            fn = fn.split(" [", 1)[0]
            costs[fn] = costs.get(fn, 0) + int(m.group(1).replace(",", ""))
    return costs


def demangle(names):
    tool = shutil.which("swift-demangle")
    if not tool:
        return names
    p = subprocess.run([tool, "--simplified", "--compact"], input="\n".join(names), text=True,
                       stdout=subprocess.PIPE)
    out = p.stdout.splitlines()
    return out if len(out) == len(names) else names


def section_exits(a, peers, out):
    """(2) user-space instructions per exit (callgrind, marginal K vs 2K) and guest cycles."""
    exits = a.guest("exits")
    k = a.k
    out.append("## 2. Port-I/O exit cost (guest `exits`: N × `outb` to unused port 0x9C)\n")
    rows = []
    per_exit = {}
    profile = []
    if not shutil.which("valgrind"):
        out.append("instructions per exit: skipped (valgrind not installed)\n")
    # Valgrind 3.19 cannot read the debug info of the release binary (DWARF 5 forms: "unhandled
    # dwarf2 abbrev form code 0x25"), so profile a copy without it
    # (the symbol table stays, so functions keep their names).
    stripped = f"{a.work}/swiftvmm-nodebug"
    subprocess.run(["strip", "--strip-debug", "-o", stripped, a.swiftvmm], check=True)

    def swiftvmm_nodebug(elf, *extra):
        return [stripped, *peers.swiftvmm(elf, *extra)[1:]]

    for name, mk in (("swiftvmm", peers.swiftvmm), ("floor (C)", peers.floor)):
        extra = ("--cmdline",) if name == "swiftvmm" else ()
        ins = None
        if shutil.which("valgrind"):
            f1, f2 = f"{a.work}/cg.{name[:5]}.{k}", f"{a.work}/cg.{name[:5]}.{2 * k}"
            mkcg = swiftvmm_nodebug if name == "swiftvmm" else mk
            t1 = callgrind_total(mkcg(exits, *extra, str(k)), f1)
            t2 = callgrind_total(mkcg(exits, *extra, str(2 * k)), f2)
            ins = (t2 - t1) / k
            per_exit[name] = ins
            if name == "swiftvmm":
                c1, c2 = callgrind_functions(f1), callgrind_functions(f2)
                diff = {fn: (c2.get(fn, 0) - c1.get(fn, 0)) / k for fn in set(c1) | set(c2)}
                top = sorted(diff.items(), key=lambda kv: -kv[1])[:15]
                names = demangle([fn.split(":", 1)[1] if ":" in fn else fn for fn, _ in top])
                profile = [(n, v, fn.split(":", 1)[0]) for n, (fn, v) in zip(names, top)]
        cycles = []
        for _ in range(a.cycle_runs):
            _, rc, text = run(mk(exits, *extra, str(a.cycle_exits)))
            m = re.search(r"cycles_per_exit=(\d+)", text)
            if rc == 1 and m:
                cycles.append(int(m.group(1)))
        rows.append((name, ins, cycles))
    out.append(f"Instructions: `valgrind --tool=callgrind` totals (all threads) of runs with K={k} "
               f"and 2K={2 * k} exits, (I(2K) − I(K)) / K. Cycles: the guest's rdtsc over "
               f"{a.cycle_exits} exits, median of {a.cycle_runs} runs.\n")
    out.append("| peer | user instructions / exit | guest TSC cycles / exit (median) | min | max |")
    out.append("|---|---|---|---|---|")
    for name, ins, cyc in rows:
        i = f"{ins:.0f}" if ins is not None else "skipped"
        c = (f"{median(cyc):.0f} | {min(cyc)} | {max(cyc)}") if cyc else "— | — | —"
        out.append(f"| {name} | {i} | {c} |")
    out.append("")
    if "swiftvmm" in per_exit and "floor (C)" in per_exit:
        r = per_exit["swiftvmm"] / per_exit["floor (C)"]
        out.append(f"- swiftvmm / floor instructions per exit: **{r:.2f}×** (target ≤ 1.5×: "
                   f"{'met' if r <= 1.5 else 'MISSED'})")
    cyc = {name: median(c) for name, _, c in rows if c}
    if len(cyc) == 2:
        out.append(f"- swiftvmm / floor guest cycles per exit: **{cyc['swiftvmm'] / cyc['floor (C)']:.2f}×**")
    out.append("")
    if profile:
        out.append("Where swiftvmm's instructions per exit go (self cost, marginal, top 15):\n")
        out.append("| instr/exit | function | object |")
        out.append("|---|---|---|")
        for n, v, obj in profile:
            n = n.replace("|", "\\|")
            out.append(f"| {v:.1f} | `{n[:140]}` | {os.path.basename(obj)} |")
        out.append("")
    return per_exit


def parse_timer(text):
    hz = re.search(r"tsc (\d+) Hz", text)
    hz = int(hz.group(1)) if hz else None
    lat = [tuple(int(x) for x in m) for m in
           re.findall(r"cpu \d+ latency p50=(\d+) p99=(\d+) max=(\d+)", text)]
    counts = re.findall(r"cpu \d+ oneshot=(\d+) periodic=(\d+) deadline=(\w+) short=(\d+) past=(\w+) (ok|FAIL)", text)
    verdict = re.search(r"smp-timer: (PASS|FAIL|TIMEOUT)", text)
    return hz, lat, counts, verdict.group(1) if verdict else "no verdict"


def timer_counts_exact(counts, k):
    """Every CPU counted exactly K of each kind (periodic K or K+1: the last period may end
    before the guest stops the timer)."""
    return bool(counts) and all(
        int(c[0]) == k and int(c[1]) in (k, k + 1) and int(c[3]) == k
        and all(x == "skip" or int(x) == k for x in (c[2], c[4])) and c[5] == "ok"
        for c in counts)


def section_timer(a, peers, out):
    """(3) timer-soak --cpus 4, 10,000 interrupts per mode per CPU, on a quiet host and
    beside stress-ng --cpu 4."""
    k, cpus = 10000, 4
    elf, elf32 = a.guest("timer-soak"), a.guest("timer-soak", elf32=True)
    cmds = {"swiftvmm --irqchip user": peers.swiftvmm(elf, "--cpus", str(cpus), "--irqchip", "user"),
            "swiftvmm --irqchip kernel": peers.swiftvmm(elf, "--cpus", str(cpus), "--irqchip", "kernel")}
    if peers.qemu:
        cmds["QEMU+KVM+qboot"] = peers.qemu_cmd(elf32, "kvm", cpus=cpus)
    stress = shutil.which("stress-ng")
    loads = [("quiet", None), ("stress-ng --cpu 4", [stress, "--cpu", "4", "--quiet"] if stress else None)]
    out.append(f"## 3. Timer fidelity (guest `timer-soak`, {cpus} vCPUs on {os.cpu_count()} host cores)\n")
    out.append(f"{a.timer_runs} runs per peer and load, peers interleaved. Each run counts K={k} interrupts "
               "per CPU in each mode (one-shot, periodic, TSC-deadline, short one-shot, TSC-deadline already "
               "past; IF=1 throughout). Latency = programmed TSC deadline → handler entry of the TSC-deadline "
               "mode, in µs (guest TSC / its reported rate): p50 = median over CPUs×runs of each CPU's p50, "
               "p99 = median over runs of the worst CPU's p99, max = worst max. `exact` = runs in which every "
               f"CPU counted exactly K of every mode (periodic K or K+1) and passed its order checks.\n")
    out.append("| peer | load | PASS | exact | p50 µs | p99 µs | max µs | note |")
    out.append("|---|---|---|---|---|---|---|---|")
    ratios = []
    for load, load_cmd in loads:
        if load != "quiet" and load_cmd is None:
            out.append(f"| — | {load} | — | — | — | — | — | stress-ng not installed: loaded runs skipped |")
            continue
        background = subprocess.Popen(load_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) if load_cmd else None
        peers_here = {n: c for n, c in cmds.items() if load == "quiet" or n.startswith("swiftvmm")}
        res = {n: [] for n in peers_here}
        try:
            for _ in range(a.timer_runs):
                for n, cmd in peers_here.items():
                    try:
                        _, rc, text = run(cmd, timeout=1500)
                    except subprocess.TimeoutExpired:
                        rc, text = None, "host timeout"
                    res[n].append((rc, text))
        finally:
            if background:
                background.terminate()
                background.wait()
        p50s, p99s = {}, {}
        for n, runs in res.items():
            passes, exact, p50, p99, mx, notes = 0, 0, [], [], [], set()
            for rc, text in runs:
                hz, lat, counts, verdict = parse_timer(text)
                passes += verdict == "PASS"
                exact += timer_counts_exact(counts, k)
                if verdict != "PASS":
                    notes.add(f"{verdict} (status {rc})")
                if hz and lat:
                    p50 += [l[0] / hz * 1e6 for l in lat]
                    p99.append(max(l[1] for l in lat) / hz * 1e6)
                    mx.append(max(l[2] for l in lat) / hz * 1e6)
                if "tsc-deadline=no" in text:
                    notes.add("no TSC-deadline mode offered: deadline latency not measured")
                notes.update(re.findall(r"only \d+ of \d+ CPUs started", text))
                notes.update(r[:60] for r in re.findall(r"reason: (.*)", text)[:2])
            note = "; ".join(sorted(notes))[:120]
            if p99:
                p50s[n], p99s[n] = median(p50), median(p99)
                out.append(f"| {n} | {load} | {passes}/{len(runs)} | {exact}/{len(runs)} | {median(p50):.0f} | "
                           f"{median(p99):.0f} | {max(mx):.0f} | {note} |")
            else:
                out.append(f"| {n} | {load} | {passes}/{len(runs)} | {exact}/{len(runs)} | — | — | — | "
                           f"{note or 'no latency lines'} |")
        u, kk = "swiftvmm --irqchip user", "swiftvmm --irqchip kernel"
        if u in p99s and kk in p99s:
            r99, r50 = p99s[u] / p99s[kk], p50s[u] / p50s[kk]
            ratios.append(f"- {load}: user / kernel irqchip p99 **{r99:.2f}×** (target ≤ 2×: "
                          f"{'met' if r99 <= 2 else 'MISSED'}); p50 **{r50:.2f}×** (target ≤ 0.2×: "
                          f"{'met' if r50 <= 0.2 else 'MISSED'})")
    out.append("")
    out.extend(ratios)
    out.append("")


def section_smp(a, peers, out):
    """(4) smp-broadcast startup_us for N vCPUs."""
    elf, elf32 = a.guest("smp-broadcast"), a.guest("smp-broadcast", elf32=True)
    counts = [1, 2, 4, 8, 16]
    variants = {"swiftvmm": (), "swiftvmm --irqchip kernel": ("--irqchip", "kernel")}
    peer_names = list(variants) + (["QEMU+KVM+qboot"] if peers.qemu else [])
    table = {}
    for n in counts:
        for _ in range(a.smp_runs):
            for p in peer_names:
                cmd = (peers.swiftvmm(elf, "--cpus", str(n), *variants[p]) if p in variants
                       else peers.qemu_cmd(elf32, "kvm", cpus=n))
                try:
                    t, rc, text = run(cmd, timeout=60)
                except subprocess.TimeoutExpired:
                    t, rc, text = None, None, ""
                m = re.search(r"startup_us=(\d+)", text)
                ok = "smp-broadcast: PASS" in text
                table.setdefault((p, n), []).append((int(m.group(1)) if m and ok else None, t, rc))
    out.append("## 4. SMP bring-up (guest `smp-broadcast`: broadcast INIT+SIPI → last AP counted in)\n")
    out.append(f"Median of {a.smp_runs} runs, µs of guest TSC; in brackets the whole boot-to-exit wall time.\n")
    out.append("| vCPUs | " + " | ".join(peer_names) + " |")
    out.append("|---|" + "---|" * len(peer_names))
    for n in counts:
        cells = []
        for p in peer_names:
            vals = table[(p, n)]
            us = [v[0] for v in vals if v[0] is not None]
            wall = [v[1] for v in vals if v[1] is not None]
            fails = len(vals) - len(us)
            c = f"{median(us):.0f} µs ({fmt_ms(median(wall))} ms)" if us else "—"
            if fails:
                c += f", {fails} failed (status {[v[2] for v in vals if v[0] is None][0]})"
            cells.append(c)
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    out.append("")


def smaps_footprint(pid, guest_bytes):
    """(total RSS, RSS outside the guest-RAM mappings, Private_Dirty and Pss outside them)
    in bytes. Guest RAM = anonymous mappings of at least min(guest size, 128 MiB), larger
    than anything a VMM maps for itself (thread stacks 8 MiB, malloc arenas 64 MiB)."""
    total = vmm = dirty = pss = 0
    size = 0
    name = ""
    guest = False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                size, name = hi - lo, (parts[5] if len(parts) > 5 else "")
                guest = size >= min(guest_bytes, 128 * MiB) and (name == "" or name.startswith("/memfd") or name.startswith("[anon"))
            elif parts[0] == "Rss:":
                rss = int(parts[1]) * 1024
                total += rss
                if not guest:
                    vmm += rss
            elif parts[0] == "Private_Dirty:" and not guest:
                dirty += int(parts[1]) * 1024
            elif parts[0] == "Pss:" and not guest:
                pss += int(parts[1]) * 1024
    return total, vmm, dirty, pss


def threads(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def sample(cmd, guest_bytes, settle):
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 20
        buf = b""
        os.set_blocking(p.stdout.fileno(), False)
        while b"spinning" not in buf and time.time() < deadline and p.poll() is None:
            time.sleep(0.01)
            buf += p.stdout.read() or b""
        if b"spinning" not in buf:
            return None, (buf.decode(errors="replace").strip()[-200:] or f"status {p.poll()}")
        time.sleep(settle)
        total, vmm, dirty, pss = smaps_footprint(p.pid, guest_bytes)
        return (total, vmm, threads(p.pid), dirty, pss), None
    finally:
        p.kill()
        p.wait()


def section_footprint(a, peers, out):
    """(5) VMM RSS minus guest RAM, binary size, threads."""
    spin, spin32 = a.guest("spin"), a.guest("spin", elf32=True)
    rows = []
    for mem, label in ((256 * MiB, "256M"), (64 << 30, "64G")):
        cmds = {"swiftvmm": peers.swiftvmm(spin, "--memory", label)}
        if a.swiftvmm_static:
            cmds[STATIC] = [a.swiftvmm_static, *peers.swiftvmm(spin, "--memory", label)[1:]]
        if peers.qemu:
            cmds["QEMU+KVM+qboot"] = peers.qemu_cmd(spin32, "kvm", memory=label)
        for k, cmd in cmds.items():
            samples, err = [], None
            for _ in range(a.footprint_runs):
                s, err = sample(cmd, mem, a.settle)
                if s:
                    samples.append(s)
            rows.append((k, label, samples, err))
    out.append("## 5. Footprint (guest `spin`, sampled ~1 s after it printed `spinning`)\n")
    out.append("VMM RSS = sum of Rss in /proc/PID/smaps minus the guest-RAM mappings (anonymous "
               "mappings ≥ min(guest RAM, 128 MiB)); private dirty and PSS over the same mappings "
               "(RSS counts shared library pages in full, PSS divides them among the processes "
               f"mapping them); median of {a.footprint_runs} samples. QEMU at 64G needs "
               "`-object memory-backend-ram,size=64G,reserve=off` to start at all on this host.\n")
    out.append("| peer | guest RAM | VMM RSS MiB | of which private dirty MiB | VMM PSS MiB | total RSS MiB | threads |")
    out.append("|---|---|---|---|---|---|---|")
    vmm_rss = {}
    for k, label, samples, err in rows:
        if samples:
            v = median([s[1] for s in samples]) / MiB
            vmm_rss[(k, label)] = v
            out.append(f"| {k} | {label} | {v:.1f} | {median([s[3] for s in samples]) / MiB:.1f} | "
                       f"{median([s[4] for s in samples]) / MiB:.1f} | {median([s[0] for s in samples]) / MiB:.1f} | "
                       f"{median([s[2] for s in samples]):.0f} |")
        else:
            out.append(f"| {k} | {label} | did not run: {err[:100]} | | | | |")
    out.append("")
    for label in ("256M", "64G"):
        for name in ("swiftvmm", STATIC):
            v = vmm_rss.get((name, label))
            if v is None:
                continue
            q = vmm_rss.get(("QEMU+KVM+qboot", label))
            qs = f", QEMU / {name} {q / v:.1f}×" if q else ""
            out.append(f"- {name} VMM RSS at {label}: {v:.1f} MiB (target < 8 MiB: "
                       f"{'met' if v < 8 else 'MISSED'}){qs}")
    sizes = [("swiftvmm", a.swiftvmm)] + ([(STATIC, a.swiftvmm_static)] if a.swiftvmm_static else [])
    if peers.qemu:
        sizes.append(("qemu-system-x86_64", os.path.realpath(peers.qemu)))
    sizes.append(("floor", a.floor))
    line = "\nBinary sizes (file size): " + ", ".join(
        f"{n} {os.path.getsize(p) / MiB:.1f} MiB" for n, p in sizes)
    stripped = f"{a.work}/swiftvmm-stripped"
    if subprocess.run(["strip", "-o", stripped, a.swiftvmm]).returncode == 0:
        line += f"; swiftvmm stripped {os.path.getsize(stripped) / MiB:.1f} MiB"
    libs = subprocess.run(["ldd", a.swiftvmm], stdout=subprocess.PIPE, text=True).stdout
    swiftlibs = [l.split()[2] for l in libs.splitlines() if "=>" in l and "swift" in l.split()[0].lower()
                 and len(l.split()) > 2 and os.path.exists(l.split()[2])]
    if swiftlibs:
        line += (f"; swiftvmm also maps {len(swiftlibs)} shared Swift runtime libraries "
                 f"({sum(os.path.getsize(p) for p in swiftlibs) / MiB:.1f} MiB of files)")
    out.append(line + ".\n")


def section_throughput(a, peers, out):
    """(6) boots per second of hello with 2 parallel jobs."""
    hello, hello32 = a.guest("hello"), a.guest("hello", elf32=True)
    cmds = {"swiftvmm": peers.swiftvmm(hello), "floor (C)": peers.floor(hello)}
    if a.swiftvmm_static:
        cmds[STATIC] = [a.swiftvmm_static, *peers.swiftvmm(hello)[1:]]
    if peers.qemu:
        cmds["QEMU+KVM+qboot"] = peers.qemu_cmd(hello32, "kvm")
    boots = 2 * a.n
    out.append(f"## 6. Throughput: {boots} boots of hello, 2 parallel jobs\n")
    out.append("| peer | boots/s | failed |")
    out.append("|---|---|---|")
    rate = {}
    for k, cmd in cmds.items():
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda _: run(cmd), range(boots)))
        wall = time.perf_counter() - start
        failed = sum(1 for _, rc, text in results if rc != 1 or "Hello, world!" not in text)
        rate[k] = boots / wall
        out.append(f"| {k} | {rate[k]:.1f} | {failed} |")
    out.append("")
    if "QEMU+KVM+qboot" in rate:
        out.append(f"- swiftvmm / QEMU+KVM+qboot boots per second: **{rate['swiftvmm'] / rate['QEMU+KVM+qboot']:.1f}×**")
    out.append(f"- swiftvmm / floor boots per second: **{rate['swiftvmm'] / rate['floor (C)']:.2f}×**\n")


def section_iso(a, peers, out):
    """(7) the cost of booting a GRUB ISO over booting the kernel file in it: paired runs."""
    hello = a.guest("hello-mb2")
    out.append("## 7. GRUB ISO boot (hello-mb2 in a `grub-mkrescue` ISO vs the same file)\n")
    tool = shutil.which("grub-mkrescue")
    if not tool or not os.path.exists("/usr/lib/grub/i386-pc/kernel.img") or not shutil.which("xorriso"):
        out.append("skipped: needs grub-mkrescue, grub-pc-bin and xorriso\n")
        return
    tree = os.path.join(a.work, "iso-tree")
    shutil.rmtree(tree, ignore_errors=True)
    os.makedirs(os.path.join(tree, "boot", "grub"))
    shutil.copy(hello, os.path.join(tree, "boot", "hello.elf"))
    with open(os.path.join(tree, "boot", "grub", "grub.cfg"), "w") as f:
        f.write('set timeout=0\nset default=0\nmenuentry "hello" {\n  multiboot2 /boot/hello.elf\n}\n')
    iso = os.path.join(a.work, "hello.iso")
    subprocess.run([tool, "-o", iso, tree], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ok = lambda rc, text: rc == 1 and "Hello from multiboot 2!" in text
    pairs = max(20, a.n)
    file_times, iso_times, diffs, bad = [], [], [], 0
    for _ in range(pairs):
        order = ["file", "iso"]
        random.shuffle(order)
        got = {}
        for k in order:
            t, rc, text = run(peers.swiftvmm(hello if k == "file" else iso, "--memory", "256M"))
            got[k] = t if ok(rc, text) else None
        if got["file"] is None or got["iso"] is None:
            bad += 1
            continue
        file_times.append(got["file"])
        iso_times.append(got["iso"])
        diffs.append(got["iso"] - got["file"])
    out.append(f"{pairs} pairs, each the kernel file and the ISO (`grub-mkrescue`, "
               f"{os.path.getsize(iso) // 1024} KiB) booted by `swiftvmm boot … --memory 256M` "
               "in shuffled order, 1 vCPU; the difference is taken within each pair.\n")
    out.append("| peer | median ms | p90 ms | min ms | failed |")
    out.append("|---|---|---|---|---|")
    for name, values in [("swiftvmm boot hello-mb2.elf", file_times), ("swiftvmm boot hello.iso", iso_times)]:
        out.append(f"| {name} | {fmt_ms(median(values))} | {fmt_ms(percentile(values, 90))} | {fmt_ms(min(values))} | {bad} |")
    qemu_median = None
    if peers.qemu and peers.kvm_ok:
        runs = max(5, a.n // 6)
        cmd = [peers.qemu, "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
               "-m", "256M", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-cdrom", iso,
               "-accel", "kvm", "-cpu", "host,-arch-capabilities"]
        times = [t for t, rc, text in (run(cmd) for _ in range(runs)) if ok(rc, text)]
        if times:
            qemu_median = median(times)
            out.append(f"| QEMU+KVM+SeaBIOS+GRUB -cdrom hello.iso ({runs} runs) | {fmt_ms(qemu_median)} | "
                       f"{fmt_ms(percentile(times, 90))} | {fmt_ms(min(times))} | {runs - len(times)} |")
    out.append("")
    d = median(diffs)
    out.append(f"- ISO − file, median of the {len(diffs)} paired differences: **{d * 1000:.2f} ms** "
               f"(target < 5 ms: {'met' if d < 0.005 else 'MISSED'}); p90 {percentile(diffs, 90) * 1000:.2f} ms")
    out.append(f"- ISO / file (medians): **{median(iso_times) / median(file_times):.2f}×**")
    if qemu_median:
        out.append(f"- QEMU+KVM+SeaBIOS+GRUB / swiftvmm, booting the same ISO (medians): **{qemu_median / median(iso_times):.0f}×**")
    out.append("")


def interleaved(rounds, keys, measure, by_round=None):
    """Calls measure(key) for every key, in a new shuffled order each round. Returns the
    values by key, and by key how many runs failed (measure returned None). With a list
    `by_round`, each round's values by key are appended to it (a failed run left out), so
    two peers can be compared round by round."""
    values = {k: [] for k in keys}
    failed = {k: 0 for k in keys}
    for _ in range(rounds):
        order = list(keys)
        random.shuffle(order)
        this_round = {}
        for k in order:
            value = measure(k)
            if value is None:
                failed[k] += 1
            else:
                values[k].append(value)
                this_round[k] = value
        if by_round is not None:
            by_round.append(this_round)
    return values, failed


def paired_ratio(by_round, a, b, resamples=2000):
    """The median over rounds of a's time / b's time in the same round, and a 95 % bootstrap
    interval of that median (rounds resampled with replacement; a fixed seed, so a table
    is reproducible from its samples). None when fewer than 10 rounds have both."""
    ratios = [r[a] / r[b] for r in by_round if a in r and b in r]
    if len(ratios) < 10:
        return None
    rng = random.Random(1)
    medians = sorted(median(rng.choices(ratios, k=len(ratios))) for _ in range(resamples))
    return median(ratios), medians[int(0.025 * resamples)], medians[int(0.975 * resamples)], len(ratios)


def interleaved_runs(rounds, cmds, ok, timeout=60, by_round=None):
    """Wall times of `cmds` in interleaved rounds (`interleaved`); a run counts when
    ok(key, status, output) holds, and each key's first failure is printed."""
    reported = set()

    def measure(k):
        t, rc, text = run(cmds[k], timeout=timeout)
        if ok(k, rc, text):
            return t
        if k not in reported:
            reported.add(k)
            print(f"  {k}: status {rc}: {text.strip()[-400:]}", file=sys.stderr)
        return None
    return interleaved(rounds, cmds, measure, by_round)


def median_rows(out, samples, failed, fmt, second, none_note=""):
    """One table row per peer: the median of its samples and a `second` statistic of them
    (both written by `fmt`), then its failed runs; dashes where none succeeded. Returns the
    medians by peer."""
    med = {}
    for k, values in samples.items():
        if values:
            med[k] = median(values)
            out.append(f"| {k} | {fmt(med[k])} | {fmt(second(values))} | {failed[k]} |")
        else:
            out.append(f"| {k} | — | — | {failed[k]}{none_note} |")
    return med


def cpu_run(cmd):
    """Runs cmd with no output; returns (user+sys CPU seconds, minor page faults, status)
    from the kernel's own accounting of the child (wait4)."""
    null = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_WRONLY, 0) for fd in (1, 2)]
    pid = os.posix_spawn(cmd[0], cmd, os.environ,
                         file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)] + null)
    _, status, usage = os.wait4(pid, 0)
    return usage.ru_utime + usage.ru_stime, usage.ru_minflt, os.waitstatus_to_exitcode(status)


def section_startup(a, peers, out):
    """(8) CPU time from exec to the point where /dev/kvm would be opened: every peer is
    given a kernel file that does not exist, and fails right after parsing its command
    line and trying to open it."""
    missing = f"{a.work}/no-such-kernel.elf"
    options = ["--cpus", "4", "--serial", "none", "--exit-on", "^READY$", "--timeout", "5"]
    cmds = {"floor (C)": [a.floor, missing]}
    if a.swift_floor:
        cmds["Swift static hello"] = [a.swift_floor]
    cmds["swiftvmm"] = [a.swiftvmm, "boot", missing]
    cmds["swiftvmm, 4 options"] = [a.swiftvmm, "boot", missing, *options]
    if a.swiftvmm_static:
        cmds[STATIC] = [a.swiftvmm_static, "boot", missing]
        cmds[f"{STATIC}, 4 options"] = [a.swiftvmm_static, "boot", missing, *options]
    runs = 10 * a.n
    samples, _ = interleaved(runs, cmds, lambda k: cpu_run(cmds[k])[:2])
    cpu = {k: [t for t, _ in samples[k]] for k in cmds}
    faults = {k: [f for _, f in samples[k]] for k in cmds}
    instructions = {}
    if shutil.which("valgrind"):
        for k, cmd in cmds.items():
            # A copy without debug info (valgrind 3.19 cannot read its DWARF 5).
            binary = f"{a.work}/startup-{len(instructions)}"
            subprocess.run(["strip", "--strip-debug", "-o", binary, cmd[0]], check=True)
            instructions[k] = callgrind_total([binary, *cmd[1:]], f"{a.work}/cg.startup.{len(instructions)}")
    out.append("## 8. Start-up CPU before /dev/kvm (`boot no-such-kernel.elf`)\n")
    out.append(f"{runs} runs per peer, interleaved in shuffled order each round. CPU = user + system time "
               "of the child as the kernel accounts it (`wait4`), from exec to exit: the command line is "
               "parsed, the kernel file fails to open, the process exits before it would open /dev/kvm. "
               f"The 4 options are `{' '.join(options)}`. Swift static hello is "
               "`print` in a `swiftc -O -static-executable` program: the Swift runtime's own start-up.\n")
    out.append("| peer | median CPU ms | p90 CPU ms | minor faults | instructions |")
    out.append("|---|---|---|---|---|")
    med = {}
    for k in cmds:
        med[k] = median(cpu[k])
        ins = f"{instructions[k] / 1e6:.2f} M" if k in instructions else "—"
        out.append(f"| {k} | {med[k] * 1000:.2f} | {percentile(cpu[k], 90) * 1000:.2f} | "
                   f"{median(faults[k]):.0f} | {ins} |")
    out.append("")
    best = STATIC if STATIC in med else "swiftvmm"
    out.append(f"- {best}: **{med[best] * 1000:.2f} ms** CPU before /dev/kvm (target ≤ 1 ms: "
               f"{'met' if med[best] <= 0.001 else 'MISSED'}); {med[best] / med['floor (C)']:.2f}× the C floor"
               + (f", {med[best] / med['Swift static hello']:.2f}× a static Swift hello" if "Swift static hello" in med else ""))
    if STATIC in med:
        out.append(f"- swiftvmm (shared Swift libraries) / {STATIC}: **{med['swiftvmm'] / med[STATIC]:.2f}×**")
    out.append("")
    if a.cpu_to_kvm:
        section_startup_at_open(a, runs, out)


def section_startup_at_open(a, runs, out):
    """(8b) The same target measured where it is defined: the CPU a real boot of hello has
    used when it opens /dev/kvm (bench/cpu-to-kvm.c stops it there and reads its schedstat)."""
    hello = f"{a.guests}/hello.elf"
    cmds = {"floor (C)": [a.floor, hello], "swiftvmm": [a.swiftvmm, "boot", hello, "--serial", "none"]}
    if a.swiftvmm_static:
        cmds[STATIC] = [a.swiftvmm_static, "boot", hello, "--serial", "none"]
    def cpu_at_open(k):
        p = subprocess.run([a.cpu_to_kvm, *cmds[k]], stdin=subprocess.DEVNULL, capture_output=True, text=True)
        return int(p.stdout) / 1e9 if p.returncode == 0 else None
    cpu, failed = interleaved(runs, cmds, cpu_at_open)
    out.append("### 8b. The same, at the open of /dev/kvm in a real boot (`boot hello.elf`)\n")
    out.append(f"{runs} runs per peer, interleaved. `bench/cpu-to-kvm.c` starts the program under a seccomp "
               "filter that stops it at every openat; at `openat(\"/dev/kvm\")` it reads the task's CPU time "
               "(user + system, `/proc/PID/schedstat`) and kills it. Nothing after the open is counted, "
               "and no failure path is taken.\n")
    out.append("| peer | median CPU ms | p90 CPU ms | failed |")
    out.append("|---|---|---|---|")
    med = median_rows(out, cpu, failed, lambda v: f"{v * 1000:.2f}", lambda v: percentile(v, 90))
    out.append("")
    best = STATIC if STATIC in med else "swiftvmm"
    if best in med and "floor (C)" in med:
        out.append(f"- {best}: **{med[best] * 1000:.2f} ms** CPU at the open of /dev/kvm (target ≤ 1 ms: "
                   f"{'met' if med[best] <= 0.001 else 'MISSED'}); the C floor {med['floor (C)'] * 1000:.2f} ms; "
                   f"**{med[best] / med['floor (C)']:.2f}×** the C floor")
    out.append("")


def section_snapshot(a, peers, out):
    """(9) restore from a snapshot on disk vs the same run booted from scratch (guest
    `snapshot-input`, 4 vCPUs, 256 MiB): `restore DIR --input exit` against `boot
    --cmdline exit`, which exits at the point the snapshot was taken, paired and shuffled."""
    elf = a.guest("snapshot-input")
    binaries = {"swiftvmm": a.swiftvmm}
    if a.swiftvmm_static:
        binaries[STATIC] = a.swiftvmm_static
    cmds, bad_setup = {}, []
    for name, binary in binaries.items():
        directory = os.path.join(a.work, f"snapshot-{'static' if name == STATIC else 'dynamic'}")
        shutil.rmtree(directory, ignore_errors=True)
        t, rc, text = run([binary, "boot", elf, "--cpus", "4", "--memory", "256", "--save", directory])
        if rc != 0:
            bad_setup.append(f"{name}: boot --save: status {rc}: {text.strip()[-200:]}")
            continue
        cmds[f"{name} boot from scratch"] = [binary, "boot", elf, "--cpus", "4", "--memory", "256", "--cmdline", "exit"]
        cmds[f"{name} restore"] = [binary, "restore", directory, "--input", "exit"]
    times, bad = interleaved_runs(a.n, cmds, lambda k, rc, text: rc == 1 and ("READY" in text) != k.endswith("restore"))
    out.append("## 9. Snapshots: restore from disk vs boot from scratch (guest `snapshot-input`, 4 vCPUs, 256 MiB)\n")
    out.append(f"{a.n} runs per row, interleaved in shuffled order each round. `restore DIR --input exit` "
               "continues the snapshot `boot --save DIR` wrote where the guest writes the snapshot port, right after READY (RAM file mapped "
               "copy-on-write) and the guest exits at once; `boot --cmdline exit` boots the same guest "
               "(APs started) and exits where the snapshot was taken.\n")
    out.append("| run | median ms | p99 ms | min ms | failed runs |")
    out.append("|---|---|---|---|---|")
    med = {}
    for k in cmds:
        if times[k]:
            med[k] = median(times[k])
            out.append(f"| {k} | {fmt_ms(med[k])} | {fmt_ms(percentile(times[k], 99))} | "
                       f"{fmt_ms(min(times[k]))} | {bad[k]} |")
        else:
            out.append(f"| {k} | — | — | — | {bad[k]} (all) |")
    for line in bad_setup:
        out.append(f"| {line} | | | | |")
    out.append("")
    for name in binaries:
        scratch, restore = med.get(f"{name} boot from scratch"), med.get(f"{name} restore")
        if scratch and restore:
            out.append(f"- {name}: restore median {fmt_ms(restore)} ms (target ≤ 10 ms: "
                       f"{'met' if restore <= 0.010 else 'MISSED'}); boot from scratch / restore: "
                       f"**{scratch / restore:.2f}×**")
    out.append("")
    directory = os.path.join(a.work, "snapshot-dynamic")
    if a.fork_floor and a.fork_bench and os.path.isdir(directory):
        section_fork(a, directory, out)
    return med


def section_fork(a, directory, out):
    """(9, in process) `fork-bench` (MachineSnapshot.fork() in one process) against
    `fork-floor` (the same KVM set-up and state restore in C), rounds interleaved."""
    flat = os.path.join(a.work, "snapshot.flat")
    subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "snapshot-flat.py"), directory, flat],
                   check=True)
    per_round = 10
    floor, fork, to_write, to_exit, bad = [], [], [], [], []
    for _ in range(max(3, a.n // 4)):
        order = ["floor", "swiftvmm"]
        random.shuffle(order)
        for k in order:
            if k == "floor":
                _, rc, text = run([a.fork_floor, flat, os.path.join(directory, "ram"), "-n", str(per_round)])
                times = [float(m) for m in re.findall(r"^run \d+: ([0-9.]+) ms", text, re.M)]
                floor += times
            else:
                _, rc, text = run([a.fork_bench, directory, "-n", str(per_round), "--each"])
                rows = re.findall(r"^fork \d+: ([0-9.]+) ms, to the first write ([0-9.]+) ms, to exit ([0-9.]+) ms", text, re.M)
                fork += [float(f) for f, _, _ in rows]
                to_write += [float(w) for _, w, _ in rows]
                to_exit += [float(e) for _, _, e in rows]
            if rc != 0:
                bad.append(f"{k}: status {rc}: {text.strip()[-300:]}")
    out.append("### 9b. In process: `MachineSnapshot.fork()` vs the same KVM work in C\n")
    out.append(f"{len(floor)} and {len(fork)} forks, in rounds of {per_round} alternating in shuffled order, of the "
               "snapshot above; each fork gets `ipi 0` typed into COM1, so its first port write is the first byte of "
               "`ipi 0 round trips`. fork floor (C, bench/fork-floor.c): from KVM_CREATE_VM to the KVM_RUN that returns "
               "that write, with only KVM's calls: the VM, the MSR filter, the RAM file mapped MAP_PRIVATE, 4 vCPUs, "
               "their CPUID and saved state, vCPU 0 run on the calling thread; /dev/kvm opened once per process. "
               "fork-bench: `snapshot.fork()` (/dev/kvm opened, the VM, devices and vCPUs built and restored), then "
               "`run()` (a thread per vCPU and the timer thread) until the serial sink receives that byte; and until "
               "`run()` returned, threads joined.\n")
    out.append("| run | median ms | p90 ms | min ms |")
    out.append("|---|---|---|---|")
    rows = [("fork floor (C), to the first port write", floor), ("swiftvmm `fork()`", fork),
            ("swiftvmm `fork()` to the first port write", to_write), ("swiftvmm `fork()` to `run()` returned", to_exit)]
    for k, values in rows:
        if values:
            out.append(f"| {k} | {median(values):.3f} | {percentile(values, 90):.3f} | {min(values):.3f} |")
    for line in bad:
        out.append(f"| {line} | | | |")
    out.append("")
    if floor and to_write:
        ratio = median(to_write) / median(floor)
        out.append(f"- fork to the first port write: median {median(to_write):.3f} ms (target ≤ 1 ms: "
                   f"{'met' if median(to_write) <= 1 else 'MISSED'}); the C floor takes {median(floor):.3f} ms for the "
                   f"same KVM work, {'so the fallback target applies: ' if median(floor) > 1 else ''}"
                   f"swiftvmm / floor **{ratio:.2f}×** (target ≤ 1.5×: {'met' if ratio <= 1.5 else 'MISSED'})")
    out.append("")


def section_manifest(a, peers, out):
    """(10) `swiftvmm test` on 100 cases that fork one snapshot vs the same 100 cases each
    booted from scratch (guest `snapshot-input`, 4 vCPUs, 256 MiB), whole manifests
    interleaved. A case's test is its input on a fork, its kernel command line on a boot."""
    kinds = [("exit", "exit", []), ("ipi", "ipi 2", ["^ipi 6 round trips$"]), ("mem", "mem 4", ["^mem clean$"])]
    count = 100
    chosen = [kinds[i % len(kinds)] for i in range(count)]
    forked = {"kernelDirectory": a.guests,
              "snapshot": {"kernel": "snapshot-input.elf", "cpus": 4},
              "cases": [{"name": f"{name}-{i}", "input": test, "expect": expect}
                        for i, (name, test, expect) in enumerate(chosen)]}
    booted = {"kernelDirectory": a.guests,
              "cases": [{"name": f"{name}-{i}", "kernel": "snapshot-input.elf", "cpus": 4, "cmdline": test,
                         "expect": expect} for i, (name, test, expect) in enumerate(chosen)]}
    paths = {}
    for label, manifest in (("forked from one snapshot", forked), ("booted from scratch", booted)):
        paths[label] = os.path.join(a.work, f"manifest-{label.split()[0]}.json")
        with open(paths[label], "w") as f:
            json.dump(manifest, f)
    rounds = max(3, a.n // 6)
    times, bad = interleaved_runs(rounds, {k: [a.swiftvmm, "test", path] for k, path in paths.items()},
                                  lambda k, rc, text: rc == 0, timeout=600)
    # Each kind's guest work after READY: a boot running it minus a boot that exits at READY.
    work = {}
    elf = a.guest("snapshot-input")
    single = {test: [] for _, test, _ in kinds}
    for _ in range(max(5, a.n // 2)):
        for test in single:
            t, rc, _ = run([a.swiftvmm, "boot", elf, "--cpus", "4", "--cmdline", test])
            if rc == 1:
                single[test].append(t)
    for name, test, _ in kinds:
        if single[test] and single["exit"]:
            work[name] = max(0.0, median(single[test]) - median(single["exit"]))
    out.append("## 10. Harness: 100 cases from one snapshot vs 100 boots (`swiftvmm test`, guest `snapshot-input`, 4 vCPUs)\n")
    out.append(f"{rounds} runs of each whole manifest, interleaved in shuffled order, `--jobs` at its default "
               f"({len(os.sched_getaffinity(0))}). The 100 cases are {', '.join(f'`{t}`' for _, t, _ in kinds)} in turn: on a "
               "fork of the snapshot taken at READY (`\"input\"`), or booted from scratch with the test as the kernel "
               "command line (`\"cmdline\"`, the guest runs it right after READY). Wall time includes the "
               "snapshot's own boot.\n")
    out.append("| manifest | median s | min s | failed runs |")
    out.append("|---|---|---|---|")
    med = median_rows(out, {k: times[k] for k in paths}, bad, lambda v: f"{v:.3f}", min, " (all)")
    out.append("")
    if work:
        out.append("Guest work per case after READY (median boot running the test minus median boot exiting at "
                   "READY): " + ", ".join(f"`{name}` {fmt_ms(w)} ms" for name, w in work.items()) + ".\n")
    if len(med) == 2:
        ratio = med["booted from scratch"] / med["forked from one snapshot"]
        out.append(f"- booted / forked: **{ratio:.2f}×** (target ≥ 5×: {'met' if ratio >= 5 else 'MISSED'})")
    out.append("")
    return med


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--swiftvmm", required=True)
    ap.add_argument("--swiftvmm-static", help="swiftvmm built as a static executable (optional row)")
    ap.add_argument("--swift-floor", help="a static Swift program that prints one line (section 8's Swift floor)")
    ap.add_argument("--floor", required=True)
    ap.add_argument("--fork-floor", help="bench/fork-floor.c built (section 9's in-process floor)")
    ap.add_argument("--cpu-to-kvm", help="bench/cpu-to-kvm.c built (section 8's CPU at the open of /dev/kvm)")
    ap.add_argument("--fork-bench", help="the fork-bench program (section 9's in-process forks)")
    ap.add_argument("--guests", required=True, help="folder with NAME.elf and NAME32.elf")
    ap.add_argument("--work", required=True)
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--boot-rounds", type=int, default=200,
                    help="at least this many rounds in section 1, whose ratios to the floor are a few percent apart")
    ap.add_argument("-k", type=int, default=2000, help="K exits for the marginal method")
    ap.add_argument("--only", default="1,2,3,4,5,6,7,8,9,10")
    a = ap.parse_args()
    a.cycle_exits, a.cycle_runs = 20000, max(3, a.n // 6)
    a.timer_runs = max(2, a.n // 10)
    a.smp_runs = max(3, a.n // 6)
    a.footprint_runs, a.settle = 3, 1.0
    a.guest = lambda name, elf32=False: os.path.join(a.guests, f"{name}{'32' if elf32 else ''}.elf")
    peers = Peers(a)
    out = []
    sections = {"1": section_boot, "2": section_exits, "3": section_timer, "4": section_smp,
                "5": section_footprint, "6": section_throughput, "7": section_iso, "8": section_startup,
                "9": section_snapshot, "10": section_manifest}
    for s in a.only.split(","):
        print(f"== section {s}", file=sys.stderr, flush=True)
        sections[s](a, peers, out)
        print("\n".join(out), file=sys.stderr, flush=True) if os.environ.get("BENCH_VERBOSE") else None
    print("\n".join(out))


if __name__ == "__main__":
    main()
