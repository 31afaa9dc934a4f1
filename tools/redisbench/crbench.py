"""The Python half of gochannels' redisbench: the same workloads through channels_redis.

Usage: crbench.py '<json config>'; prints one JSON object with the results.
Config: {"hosts": [...], "prefix": "...", "op": "sendrecv"|"group", ...}.
All "processes" are RedisChannelLayer instances in one asyncio loop (one OS process).
"""
import asyncio
import json
import os
import sys
import time
import traceback

import redis
from channels_redis.core import RedisChannelLayer

CAPACITY = 1000000


def new_layer(cfg):
    return RedisChannelLayer(hosts=cfg["hosts"], prefix=cfg["prefix"], capacity=CAPACITY)


def commandstats(url):
    r = redis.Redis.from_url(url)
    try:
        return sum(v["calls"] for v in r.info("commandstats").values())
    finally:
        r.close()


def emit(res):
    """Writes the result at once: the clean-up after it may not finish (see cleanup)."""
    sys.stdout.write(json.dumps(res) + "\n")
    sys.stdout.flush()


async def cleanup(readers, layers):
    """Cancels the readers and flushes the layers, at most a few seconds: cancelling many
    receive() calls at once can leave channels_redis waiting forever (seen with 1,000
    receivers over 4 layers), which must not hang the benchmark after its measurement."""
    for r in readers:
        r.cancel()
    try:
        await asyncio.wait_for(asyncio.gather(*readers, return_exceptions=True), 5)
        for l in layers:
            await asyncio.wait_for(l.flush(), 5)
            await asyncio.wait_for(l.close_pools(), 5)
    except (asyncio.TimeoutError, asyncio.CancelledError):
        sys.stderr.write("crbench: clean-up did not finish; exiting anyway\n")


async def run_readers(layer, chans, counter, target, done):
    async def reader(ch):
        while True:
            await layer.receive(ch)
            counter[0] += 1
            if counter[0] >= target:
                done.set()
    return [asyncio.ensure_future(reader(c)) for c in chans]


async def send_phase(cfg, fn, n):
    conc = cfg.get("concurrency", 32)

    async def worker(k):
        for i in range(k, n, conc):
            await fn(i)
    await asyncio.gather(*(worker(k) for k in range(conc)))


async def sendrecv(cfg):
    n, nch = cfg["messages"], cfg.get("channels", 100)
    a, b = new_layer(cfg), new_layer(cfg)
    chans = [await b.new_channel() for _ in range(nch)]
    counter, done = [0], asyncio.Event()
    readers = await run_readers(b, chans, counter, n, done)
    await asyncio.sleep(0.2)
    t0 = time.perf_counter()
    await send_phase(cfg, lambda i: a.send(chans[i % nch], {"type": "bench.msg", "i": i}), n)
    await asyncio.wait_for(done.wait(), cfg.get("timeout", 120))
    dt = time.perf_counter() - t0
    emit({"seconds": dt, "messages": n})
    await cleanup(readers, [a, b])


async def group(cfg):
    members, procs, sends = cfg["members"], cfg["procs"], cfg["sends"]
    layers = [new_layer(cfg) for _ in range(procs)]
    sender = new_layer(cfg)
    chans = [[] for _ in range(procs)]
    for m in range(members):
        p = m % procs
        ch = await layers[p].new_channel()
        await layers[p].group_add("bench", ch)
        chans[p].append(ch)
    target = sends * members
    counter, done = [0], asyncio.Event()
    readers = []
    for p in range(procs):
        readers += await run_readers(layers[p], chans[p], counter, target, done)
    await asyncio.sleep(0.2)
    before = commandstats(cfg["hosts"][0])
    t0 = time.perf_counter()
    await send_phase(cfg, lambda i: sender.group_send("bench", {"type": "bench.msg", "i": i}), sends)
    t_sent = time.perf_counter() - t0
    await asyncio.wait_for(done.wait(), cfg.get("timeout", 120))
    dt = time.perf_counter() - t0
    after = commandstats(cfg["hosts"][0])
    emit({"seconds": dt, "send_seconds": t_sent, "sends": sends,
          "deliveries": counter[0], "commands": after - before})
    await cleanup(readers, layers + [sender])


def main():
    cfg = json.loads(sys.argv[1])
    fn = {"sendrecv": sendrecv, "group": group}[cfg["op"]]
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    code = 0
    try:
        loop.run_until_complete(fn(cfg))
    except BaseException:  # noqa: B036 - report anything, then leave at once
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # not loop.close(): leftover channels_redis tasks must not hold the exit up


if __name__ == "__main__":
    main()
