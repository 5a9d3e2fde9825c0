"""Starts echo_server on a free loopback port, echoes messages over several connections
(small, 1 MiB, concurrent), then stops it with SIGTERM and checks it exits cleanly."""
import signal
import socket
import subprocess
import sys
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recv_exact(sock, n):
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise RuntimeError("server closed early")
        data += chunk
    return bytes(data)


def main():
    prog = sys.argv[1]
    port = free_port()
    for threads in ("single", "2"):
        proc = subprocess.Popen([prog, "--port", str(port), "--threads", threads],
                                stdout=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            assert "listening" in line, line
            conns = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(8)]
            for i, c in enumerate(conns):
                msg = f"hello {i}".encode()
                c.sendall(msg)
                assert recv_exact(c, len(msg)) == msg
            big = bytes(range(256)) * 4096  # 1 MiB, more than one socket buffer
            result = {}

            def reader():
                result["data"] = recv_exact(conns[0], len(big))

            t = threading.Thread(target=reader)
            t.start()
            conns[0].sendall(big)
            t.join(30)
            assert result.get("data") == big, "1 MiB echo mismatch"
            for c in conns:
                c.close()
            proc.send_signal(signal.SIGTERM)
            rest = proc.communicate(timeout=20)[0]
            assert proc.returncode == 0, proc.returncode
            assert "stopped" in rest, rest
        finally:
            if proc.poll() is None:
                proc.kill()
        port = free_port()
    print("echo_server ok")


if __name__ == "__main__":
    main()
