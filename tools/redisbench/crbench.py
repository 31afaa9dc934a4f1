"""The Python half of gochannels' redisbench: the same workloads through channels_redis.

Usage: crbench.py '<json config>'; prints one JSON object with the results.

Config: {"hosts": [...], "prefix": "...", "op": "sendrecv"|"group", "ops": N, "warmup": W,
"senders": S, "receivers": R, "concurrency": C, "capacity": K, "drain": seconds,
"timeout": seconds, "receive_limit": L, and for "sendrecv" "channels", for "group" "members"}.

Every sender and every receiver is its own OS process (forked from this one, which only
coordinates) with its own RedisChannelLayer and asyncio loop, as Django runs one process per
core. Receiver processes create the channels (sendrecv: the channels split over them; group:
members spread round-robin, each process adding its own members to the group) and count
every message they receive. Sender processes share the C concurrent send tasks (task k runs in
process k % S) and so the operations: task k makes operations k, k+C, k+2C, ...

Phases, as on the Go side: W warm-up operations, then a wait until they are delivered (or no
delivery for "drain" seconds); then the clock starts and the N measured operations are made;
the clock stops at the last delivery, once every expected delivery has arrived or none has
for "drain" seconds. Expected deliveries are (W + N) x members (sendrecv: one per message);
the result reports them beside the deliveries received, so that loss is never hidden.
A receiver process stops receiving after "receive_limit" messages (tests use it to make
loss); 0 means no limit.
"""
import asyncio
import json
import multiprocessing
import os
import signal
import sys
import time
import traceback

import redis
from channels.exceptions import ChannelFull
from channels_redis.core import RedisChannelLayer


def new_layer(cfg):
    return RedisChannelLayer(hosts=cfg["hosts"], prefix=cfg["prefix"], capacity=cfg["capacity"])


def commandstats(url):
    r = redis.Redis.from_url(url)
    try:
        return sum(v["calls"] for v in r.info("commandstats").values())
    finally:
        r.close()


def child(fn, *args):
    """Runs fn(*args) in a fresh event loop; any error is printed and ends the process with
    status 1, which the coordinator reports."""
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    code = 0
    try:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        loop.run_until_complete(fn(*args))
    except BaseException:  # noqa: B036 - report anything, then leave at once
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # leftover channels_redis tasks must not hold the exit up


async def receiver(cfg, r, nchans, ready, counts, last):
    """Receiver process r: creates nchans channels (joining them to the group for "group"),
    reports them on ready, then counts every message received until it is killed."""
    layer = new_layer(cfg)
    chans = [await layer.new_channel() for _ in range(nchans)]
    if cfg["op"] == "group":
        for ch in chans:
            await layer.group_add("bench", ch)
    limit = cfg.get("receive_limit", 0)

    async def read(ch):
        while True:
            await layer.receive(ch)
            if limit and counts[r] >= limit:
                return  # a receiver that stops early: the rest is loss
            counts[r] += 1
            last[r] = time.time()

    readers = [asyncio.ensure_future(read(ch)) for ch in chans]
    ready.put(("ready", r, chans))
    await asyncio.gather(*readers)
    await asyncio.Event().wait()  # stopped early: stay until the coordinator ends the process


async def sender(cfg, s, chans, events, out):
    """Sender process s: runs its share of the concurrent send tasks, for the warm-up and then
    for the measured operations, reporting each phase's send errors (ChannelFull) on out."""
    layer = new_layer(cfg)
    conc, nsend = cfg["concurrency"], cfg["senders"]
    tasks = [k for k in range(conc) if k % nsend == s]
    if cfg["op"] == "sendrecv":
        nch = len(chans)

        def op(i):
            return layer.send(chans[i % nch], {"type": "bench.msg", "i": i})
    else:

        def op(i):
            return layer.group_send("bench", {"type": "bench.msg", "i": i})

    async def phase(base, n):
        errors = 0

        async def task(k):
            nonlocal errors
            for i in range(k, n, conc):
                try:
                    await op(base + i)
                except ChannelFull:
                    errors += 1
        await asyncio.gather(*(task(k) for k in tasks))
        return errors

    out.put(("ready", s))
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, events[0].wait)
    out.put(("warm", s, await phase(0, cfg["warmup"])))
    await loop.run_in_executor(None, events[1].wait)
    out.put(("done", s, await phase(cfg["warmup"], cfg["ops"])))
    out.close()
    out.join_thread()  # the queue's feeder thread must deliver before os._exit


class Run:
    """The coordinator's view of the child processes."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.ctx = multiprocessing.get_context("fork")
        self.procs = []
        self.queue = self.ctx.Queue()
        self.deadline = time.time() + cfg["timeout"]

    def start(self, fn, *args):
        p = self.ctx.Process(target=child, args=(fn, *args), daemon=True)
        p.start()
        self.procs.append(p)

    def check(self):
        """Fails if a child process failed (it printed why)."""
        for p in self.procs:
            if p.exitcode not in (None, 0):
                raise RuntimeError("a child process failed (exit %s)" % p.exitcode)

    def get(self, kind):
        """Waits for the next message from a child; fails if a child died or time is up."""
        while True:
            try:
                msg = self.queue.get(timeout=0.1)
            except Exception:  # queue.Empty
                self.check()
                if time.time() > self.deadline:
                    raise TimeoutError("timed out waiting for %s" % kind)
                continue
            if msg[0] != kind:
                raise RuntimeError("expected %s, got %r" % (kind, msg))
            return msg

    def stop(self):
        for p in self.procs:
            if p.is_alive():
                p.kill()
        for p in self.procs:
            p.join(5)


def wait_delivered(run, counts, target):
    """Waits until the receivers have counted target messages, or none arrived for the drain
    time; returns the count."""
    drain = run.cfg["drain"]
    seen, since = -1, time.time()
    while True:
        got = sum(counts)
        if got >= target:
            return got
        now = time.time()
        if got != seen:
            seen, since = got, now
        elif now - since > drain:
            run.check()  # a receiver that crashed is an error, not loss
            return got
        if now > run.deadline:
            raise TimeoutError("%d of %d delivered at the time-out" % (got, target))
        time.sleep(0.002)


def share(n, parts, k):
    """The number of items of n that part k gets when they are dealt out round-robin."""
    return len(range(k, n, parts))


def bench(cfg):
    op, nrecv, nsend = cfg["op"], cfg["receivers"], cfg["senders"]
    members = cfg["members"] if op == "group" else 1
    nitems = cfg["members"] if op == "group" else cfg["channels"]
    run = Run(cfg)
    try:
        counts = run.ctx.RawArray("q", nrecv)
        last = run.ctx.RawArray("d", nrecv)
        for r in range(nrecv):
            run.start(receiver, cfg, r, share(nitems, nrecv, r), run.queue, counts, last)
        chans = []
        for _ in range(nrecv):
            chans += run.get("ready")[2]
        events = (run.ctx.Event(), run.ctx.Event())
        for s in range(nsend):
            run.start(sender, cfg, s, chans, events, run.queue)
        for _ in range(nsend):
            run.get("ready")
        time.sleep(0.2)  # as the Go side: let the receive loops settle

        warm = cfg["warmup"]
        events[0].set()
        errors = sum(run.get("warm")[2] for _ in range(nsend))
        warm_received = wait_delivered(run, counts, warm * members)

        before = commandstats(cfg["hosts"][0])
        t0 = time.time()
        events[1].set()
        errors += sum(run.get("done")[2] for _ in range(nsend))
        expected = (warm + cfg["ops"]) * members
        received = wait_delivered(run, counts, expected)
        end = max(last)
        after = commandstats(cfg["hosts"][0])
        return {"seconds": max(end - t0, 1e-9), "ops": cfg["ops"], "send_errors": errors,
                "expected": expected, "received": received, "warm_received": warm_received,
                "commands": after - before - 1}  # the first INFO is one command
    finally:
        run.stop()


def main():
    cfg = json.loads(sys.argv[1])
    code = 0
    try:
        sys.stdout.write(json.dumps(bench(cfg)) + "\n")
    except BaseException:  # noqa: B036 - report anything, then leave at once
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
