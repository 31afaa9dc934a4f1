"""Echo check against a gochannels server with AutobahnPython's asyncio client.

Usage: client.py URL plain|deflate

Sends text, binary, large, fragmented and UTF-8 messages, checks that each comes back
unchanged and in order, then closes with 1000. Prints one line per event:
  OPEN extensions=<negotiated extensions>
  OK <name>            (an echo matched)
  MISMATCH <name> ...  (an echo did not match)
  CLOSE clean=<bool> code=<int>
Exits 0 only when every echo matched and the close was clean.
"""

import asyncio
import os
import sys

from autobahn.asyncio.websocket import WebSocketClientFactory, WebSocketClientProtocol
from autobahn.websocket.compress import (
    PerMessageDeflateOffer,
    PerMessageDeflateResponse,
    PerMessageDeflateResponseAccept,
)

RESULT = {"ok": 0, "failed": False, "clean": False}


def messages():
    big_text = ("gochannels large text " * 12000)[:256 * 1024]
    return [
        ("text", "Hello, gochannels!", False),
        ("binary", bytes(range(256)), True),
        ("utf8", "héllo wörld ☃ 😀 κόσμε", False),
        ("large-text", big_text, False),
        ("large-binary", os.urandom(512 * 1024), True),
        ("empty-text", "", False),
    ]


class Client(WebSocketClientProtocol):
    def onOpen(self):
        exts = ",".join(str(e) for e in (self.websocket_extensions_in_use or []))
        print("OPEN extensions=" + exts, flush=True)
        self.expect = []
        for name, payload, binary in messages():
            data = payload if binary else payload.encode("utf-8")
            self.expect.append((name, data, binary))
            self.sendMessage(data, isBinary=binary)
        # A fragmented text message: three frames.
        parts = [b"fragment-one ", "fragment-\u00e9 ".encode("utf-8"), b"fragment-three"]
        self.expect.append(("fragmented", b"".join(parts), False))
        self.beginMessage(isBinary=False)
        for p in parts:
            self.sendMessageFrame(p)
        self.endMessage()
        # A large binary message the client fragments automatically (4 KiB frames).
        auto = os.urandom(100 * 1024)
        self.expect.append(("auto-fragmented", auto, True))
        self.beginMessage(isBinary=True)
        for i in range(0, len(auto), 4096):
            self.sendMessageFrame(auto[i:i + 4096])
        self.endMessage()

    def onMessage(self, payload, isBinary):
        if not self.expect:
            print("MISMATCH unexpected message of %d bytes" % len(payload), flush=True)
            RESULT["failed"] = True
            return
        name, data, binary = self.expect.pop(0)
        if payload == data and isBinary == binary:
            print("OK " + name, flush=True)
            RESULT["ok"] += 1
        else:
            print("MISMATCH %s: %d bytes binary=%s, want %d bytes binary=%s"
                  % (name, len(payload), isBinary, len(data), binary), flush=True)
            RESULT["failed"] = True
        if not self.expect:
            self.sendClose(code=1000, reason="done")

    def onClose(self, wasClean, code, reason):
        print("CLOSE clean=%s code=%s" % (wasClean, code), flush=True)
        RESULT["clean"] = wasClean and code == 1000
        asyncio.get_event_loop().stop()


def main():
    url, mode = sys.argv[1], sys.argv[2]
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    factory = WebSocketClientFactory(url, loop=loop)
    factory.protocol = Client
    if mode == "deflate":
        def accept(response):
            if isinstance(response, PerMessageDeflateResponse):
                return PerMessageDeflateResponseAccept(response)
            return None
        factory.setProtocolOptions(
            perMessageCompressionOffers=[PerMessageDeflateOffer(accept_no_context_takeover=True,
                                                                request_no_context_takeover=True)],
            perMessageCompressionAccept=accept,
        )
    host, port = factory.host, factory.port
    loop.run_until_complete(loop.create_connection(factory, host, port))
    loop.call_later(30, loop.stop)
    loop.run_forever()
    loop.close()
    ok = RESULT["clean"] and not RESULT["failed"]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
