"""Reference WebSocket echo server (python3-websockets), to develop and check the
conformance harness while the C++ ws_echo is not there. Same CLI and output as ws_echo:

    ref_ws_echo.py --port N     (0 picks a free port)

prints `listening on 127.0.0.1:PORT` once ready, echoes every text and binary message on
any path (max 16 MiB per message), and exits 0 on SIGTERM/SIGINT.
"""
import argparse
import asyncio
import signal
import sys

import websockets

MAX_MESSAGE = 16 * 1024 * 1024


async def echo(ws, path=None):
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def main(port):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    async with websockets.serve(echo, "127.0.0.1", port, max_size=MAX_MESSAGE,
                                max_queue=4, ping_interval=None, compression=None,
                                close_timeout=2) as server:
        real_port = server.sockets[0].getsockname()[1]
        print(f"listening on 127.0.0.1:{real_port}", flush=True)
        await stop
    print("stopped", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(main(args.port))
    sys.exit(0)
