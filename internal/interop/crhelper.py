"""Drives Django's channels_redis (RedisChannelLayer, or RedisPubSubChannelLayer when the
config asks for "pubsub") for gochannels' interop tests.

Reads one JSON request per line on stdin and writes one JSON answer per line on stdout.
Values are "typed JSON" so that every msgpack type survives the trip exactly:
{"$bytes": base64}, {"$int": "decimal"}, {"$float": "16 hex digits of the IEEE-754 bits"};
strings, booleans, null, lists and objects are themselves.
"""
import asyncio
import base64
import json
import struct
import sys

from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer


def dec(v):
    if isinstance(v, dict):
        if len(v) == 1:
            (k, x), = v.items()
            if k == "$bytes":
                return base64.b64decode(x)
            if k == "$int":
                return int(x)
            if k == "$float":
                return struct.unpack(">d", bytes.fromhex(x))[0]
        return {k: dec(x) for k, x in v.items()}
    if isinstance(v, list):
        return [dec(x) for x in v]
    return v


def enc(v):
    if isinstance(v, bytes):
        return {"$bytes": base64.b64encode(v).decode()}
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return {"$int": str(v)}
    if isinstance(v, float):
        return {"$float": struct.pack(">d", v).hex()}
    if isinstance(v, dict):
        return {k: enc(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [enc(x) for x in v]
    raise TypeError("cannot encode %r" % type(v))


layer = None


async def handle(req):
    global layer
    op = req["op"]
    if op == "config":
        kw = {"hosts": req["hosts"]}
        if req.get("pubsub"):
            if "prefix" in req:
                kw["prefix"] = req["prefix"]
            layer = RedisPubSubChannelLayer(**kw)
            return {"ok": True}
        for k in ("prefix", "expiry", "group_expiry", "capacity"):
            if k in req:
                kw[k] = req[k]
        if req.get("keys"):
            kw["symmetric_encryption_keys"] = req["keys"]
        layer = RedisChannelLayer(**kw)
        return {"ok": True}
    if op == "new_channel":
        return {"channel": await layer.new_channel()}
    if op == "send":
        await layer.send(req["channel"], dec(req["msg"]))
        return {"ok": True}
    if op == "group_send":
        await layer.group_send(req["group"], dec(req["msg"]))
        return {"ok": True}
    if op == "group_add":
        await layer.group_add(req["group"], req["channel"])
        return {"ok": True}
    if op == "group_discard":
        await layer.group_discard(req["group"], req["channel"])
        return {"ok": True}
    if op == "receive":
        msg = await asyncio.wait_for(layer.receive(req["channel"]), req.get("timeout", 10))
        return {"msg": enc(msg)}
    if op == "receive_each":
        # One message from each channel, received concurrently.
        msgs = await asyncio.wait_for(
            asyncio.gather(*(layer.receive(c) for c in req["channels"])), req.get("timeout", 10)
        )
        return {"msgs": [enc(m) for m in msgs]}
    if op == "flush":
        await layer.flush()
        return {"ok": True}
    raise ValueError("unknown op %r" % op)


def main():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            ans = loop.run_until_complete(handle(json.loads(line)))
        except Exception as e:  # report, keep serving
            ans = {"error": "%s: %s" % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(ans) + "\n")
        sys.stdout.flush()
    if isinstance(layer, RedisPubSubChannelLayer):
        loop.run_until_complete(layer.flush())
    elif layer is not None:
        loop.run_until_complete(layer.close_pools())
    loop.close()


if __name__ == "__main__":
    main()
