"""A Django-runworker-style background worker for gochannels' interop test.

Runs Django Channels' own channels.worker.Worker (what `manage.py runworker` runs) on
channels_redis, serving the channel "background-tasks" with a plain ASGI application that
dispatches by message type, as a Django consumer would. "task.primes" counts the primes below
n and group-sends "task.done" to the task's reply group, like the Go example's worker.

Usage: djworker.py REDIS_URL PREFIX
"""
import asyncio
import sys

from channels.worker import Worker
from channels_redis.core import RedisChannelLayer

layer = RedisChannelLayer(hosts=[sys.argv[1]], prefix=sys.argv[2])


def count_primes(n):
    sieve = bytearray([1]) * n
    sieve[0:2] = b"\x00\x00"
    for i in range(2, int(n ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytearray(len(sieve[i * i::i]))
    return sum(sieve)


async def task_primes(scope, message):
    primes = count_primes(message["n"])
    await layer.group_send(message["reply_group"], {
        "type": "task.done", "id": message["id"], "n": message["n"], "primes": primes,
        "by": "django:" + scope["channel"],
    })


handlers = {"task.primes": task_primes}


async def application(scope, receive, send):
    assert scope["type"] == "channel"
    while True:
        message = await receive()
        await handlers[message["type"]](scope, message)


asyncio.set_event_loop(asyncio.new_event_loop())
print("ready", flush=True)
Worker(application=application, channels=["background-tasks"], channel_layer=layer).run()
