"""Forwards chosen TCP ports between the host's loopback and one attendee's network namespace.

usage: netns-bridge.py NETNS_FILE in:PORT... out:PORT...
  in:PORT   listen on the host's 127.0.0.1:PORT, connect to 127.0.0.1:PORT inside (the hub reaching the
            attendee's notebook server, the room reaching their Go server)
  out:PORT  listen inside on 127.0.0.1:PORT, connect to the host's 127.0.0.1:PORT (the notebook
            server reaching the hub's API)
Everything else inside — the notebook kernels' ports, whatever the attendee listens on — stays on
the namespace's own loopback, out of reach of other attendees and local users. Started by the
hands-on room (workshop/hands-on.ts); prints "ready" once every listener is open.
"""

import asyncio
import concurrent.futures
import ctypes
import os
import signal
import socket
import sys

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
libc = ctypes.CDLL(None, use_errno=True)


def enter(netns_file):
    fd = os.open(netns_file, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + netns_file)
    finally:
        os.close(fd)


def listener(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(128)
    s.setblocking(False)
    return s


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        try:
            writer.close()
        except OSError:
            pass


async def main(netns_file, specs):
    loop = asyncio.get_running_loop()
    # One thread lives in the namespace: a socket belongs to the namespace of the thread that made it.
    inside = concurrent.futures.ThreadPoolExecutor(max_workers=1, initializer=enter, initargs=(netns_file,))

    def forward(port, connect_inside):
        async def handle(reader, writer):
            try:
                if connect_inside:
                    sock = await loop.run_in_executor(inside, socket.socket)
                    sock.setblocking(False)
                    await loop.sock_connect(sock, ("127.0.0.1", port))
                    r2, w2 = await asyncio.open_connection(sock=sock)
                else:
                    r2, w2 = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                writer.close()
                return
            await asyncio.gather(pipe(reader, w2), pipe(r2, writer))

        return handle

    servers = []
    for spec in specs:
        direction, port = spec.split(":")
        port = int(port)
        if direction == "in":
            servers.append(await asyncio.start_server(forward(port, True), sock=listener(port)))
        else:
            sock = await loop.run_in_executor(inside, listener, port)
            servers.append(await asyncio.start_server(forward(port, False), sock=sock))
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)  # goes with the room, however it ends
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    asyncio.run(main(sys.argv[1], sys.argv[2:]))
