"""The Python half of gochannels' redisbench: the same workloads through channels_redis.

Usage: crbench.py '<json config>'; prints one JSON object with the results.
Config: {"hosts": [...], "prefix": "...", "op": "sendrecv"|"group", ...}.
All "processes" are RedisChannelLayer instances in one asyncio loop (one OS process).
"""
import asyncio
import json
import sys
import time

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
    for r in readers:
        r.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    for l in (a, b):
        await l.flush()
        await l.close_pools()
    return {"seconds": dt, "messages": n}


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
    for r in readers:
        r.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    for l in layers + [sender]:
        await l.flush()
        await l.close_pools()
    return {"seconds": dt, "send_seconds": t_sent, "sends": sends,
            "deliveries": counter[0], "commands": after - before}


def main():
    cfg = json.loads(sys.argv[1])
    fn = {"sendrecv": sendrecv, "group": group}[cfg["op"]]
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        res = loop.run_until_complete(fn(cfg))
    finally:
        loop.close()
    sys.stdout.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
