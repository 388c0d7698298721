#!/usr/bin/env python3
"""A webhook receiver for bench/events.sh that answers every POST with 204 at once.

For each delivery it records when it arrived and the event's own `timestamp` (taken in the
transaction of the change, so about its commit): the difference is commit-to-delivery.
  GET /stats  -> {"count", "first", "last" (arrival times, Unix seconds), "p50_ms", "p99_ms",
                  "max_ms"} since the last reset
  POST /reset -> starts counting again
Usage: receiver.py PORT (listens on 127.0.0.1). No signature checks: the tests do those.
"""

import asyncio
import json
import sys
import time
from datetime import datetime

state = {"count": 0, "first": None, "last": None, "latencies": []}


def reset():
    state.update(count=0, first=None, last=None, latencies=[])


def stats():
    latencies = sorted(state["latencies"])

    def quantile(q):
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2) if latencies else None

    return {
        "count": state["count"],
        "first": state["first"],
        "last": state["last"],
        "p50_ms": quantile(0.50),
        "p99_ms": quantile(0.99),
        "max_ms": round(latencies[-1], 2) if latencies else None,
    }


def record(body, arrived):
    state["count"] += 1
    state["first"] = state["first"] or arrived
    state["last"] = arrived
    try:
        sent = datetime.fromisoformat(json.loads(body)["timestamp"]).timestamp()
        state["latencies"].append((arrived - sent) * 1000)
    except (ValueError, KeyError, TypeError):
        pass  # not an event: counted, no latency


async def serve(reader, writer):
    try:
        while True:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            method, path = head[0].split(" ")[:2]
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length) if length else b""
            if path == "/stats":
                payload = json.dumps(stats()).encode()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                             b"content-length: %d\r\n\r\n%s" % (len(payload), payload))
            else:
                if path == "/reset":
                    reset()
                elif method == "POST":
                    record(body, time.time())
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main(port):
    server = await asyncio.start_server(serve, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
