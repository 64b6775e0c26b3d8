#!/usr/bin/env python3
"""Servers as they really run, and a client to load them, for pidflow's e2e tests and benchmarks.

Usage:
  servers.py serve MODE ADDRESS RESULTS [WORKERS]   MODE: prefork, forkper, reuseport, scm,
                                                     activation, threads
  servers.py client ADDRESS PORT SHORT_PER_S SECONDS LONG_COUNT

Every process that serves a connection appends one line to RESULTS when the connection ends
(one write with O_APPEND, atomic): "pid received sent tid local-address local-port
remote-address remote-port", the ground truth of who moved which payload bytes on which
connection (and the thread that served it). A server prints "READY <port> <pid>..." (the pids
of the processes that never serve: master, acceptor, activator) once it accepts connections, and runs until SIGTERM.

Protocol: the client sends 4 bytes (big-endian size of the reply it wants), then its request
until it shuts down its side; the server reads to the end, replies, and closes.
The client prints one JSON line: connections completed and failed.
"""
import ctypes
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

SHORT_REQUEST_BYTES = 2000
SHORT_REPLY_BYTES = 20000
LONG_CHUNKS = 20
LONG_CHUNK_BYTES = 10000
LONG_REPLY_BYTES = 300000
LONG_SECONDS = 2.0
IO_TIMEOUT_S = 20


def serve(conn, results_fd):
    """Serve one connection; record the bytes this process moved on it."""
    received = 0
    sent = 0
    try:
        ends = "%s %d %s %d" % (conn.getsockname()[:2] + conn.getpeername()[:2])
    except OSError:
        ends = ""
    try:
        conn.settimeout(IO_TIMEOUT_S)
        header = b""
        while True:
            data = conn.recv(65536)
            if not data:
                break
            received += len(data)
            if len(header) < 4:
                header += data[: 4 - len(header)]
        if len(header) == 4:
            want = struct.unpack(">I", header)[0]
            chunk = b"r" * 65536
            while sent < want:
                sent += conn.send(chunk[: min(65536, want - sent)])
    except OSError:
        pass
    finally:
        conn.close()
        line = f"{os.getpid()} {received} {sent} {threading.get_native_id()} {ends}"
        os.write(results_fd, (line.rstrip() + "\n").encode())


def listener(address, port=0, reuseport=False):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((address, port))
    return s


def accept_loop(s, results_fd, threaded=False):
    while True:
        conn, _ = s.accept()
        if threaded:
            threading.Thread(target=serve, args=(conn, results_fd), daemon=True).start()
        else:
            serve(conn, results_fd)


PR_SET_PDEATHSIG = 1


def die_with_parent():
    """A child gets SIGTERM when its parent dies (even by SIGKILL): nothing outlives a test."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def fork_child(fn):
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        die_with_parent()
        try:
            fn()
        finally:
            os._exit(0)
    return pid


def ready(port, idle_pids):
    print("READY", port, *idle_pids, flush=True)


def main_serve(mode, address, results, workers):
    results_fd = os.open(results, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    children = []

    def stop(*_):
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    me = os.getpid()
    if mode == "prefork":
        # A master listens, forks workers that all accept on the inherited socket (nginx, gunicorn).
        s = listener(address)
        s.listen(256)
        for _ in range(workers):
            children.append(fork_child(lambda: accept_loop(s, results_fd)))
        ready(s.getsockname()[1], [me])
    elif mode == "forkper":
        # The parent accepts and forks a child per connection, which serves it and exits (inetd).
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        s = listener(address)
        s.listen(256)
        ready(s.getsockname()[1], [me])
        while True:
            conn, _ = s.accept()

            def child(conn=conn):
                s.close()
                serve(conn, results_fd)

            fork_child(child)
            conn.close()
    elif mode == "reuseport":
        # Each worker has its own listening socket on the same port (SO_REUSEPORT group).
        probe = listener(address, 0, True)
        port = probe.getsockname()[1]
        read_end, write_end = os.pipe()

        def worker():
            probe.close()
            s = listener(address, port, True)
            s.listen(256)
            os.write(write_end, b"x")
            accept_loop(s, results_fd)

        for _ in range(workers):
            children.append(fork_child(worker))
        for _ in range(workers):
            os.read(read_end, 1)
        probe.close()
        ready(port, [me])
    elif mode == "scm":
        # An acceptor passes each connection over a Unix socket (SCM_RIGHTS) to a handler
        # process, closes its copy and never reads or writes it.
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        s = listener(address)
        s.listen(256)

        def handler():
            s.close()
            parent_end.close()
            while True:
                _, fds, _, _ = socket.recv_fds(child_end, 1, 1)
                if not fds:
                    return
                conn = socket.socket(fileno=fds[0])
                threading.Thread(target=serve, args=(conn, results_fd), daemon=True).start()

        children.append(fork_child(handler))
        child_end.close()
        ready(s.getsockname()[1], [me])
        while True:
            conn, _ = s.accept()
            socket.send_fds(parent_end, [b"c"], [conn.fileno()])
            conn.close()
    elif mode == "activation":
        # systemd-style socket activation: the activator creates the listening socket and starts
        # the service with it as fd 3 (LISTEN_FDS=1, LISTEN_PID); it keeps its copy, never accepts.
        s = listener(address)
        s.listen(256)
        pid = os.fork()
        if pid == 0:
            die_with_parent()
            os.dup2(s.fileno(), 3)
            env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
            os.execve(sys.executable, [sys.executable, __file__, "service", results], env)
        children.append(pid)
        ready(s.getsockname()[1], [me])
    elif mode == "threads":
        # One process, a thread per connection: thread ids must never show up as processes.
        s = listener(address)
        s.listen(256)
        ready(s.getsockname()[1], [])
        accept_loop(s, results_fd, threaded=True)
    else:
        raise SystemExit(f"unknown mode {mode}")
    while True:
        signal.pause()


def main_service(results):
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or os.environ.get("LISTEN_FDS") != "1":
        raise SystemExit("service: not socket-activated")
    results_fd = os.open(results, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    s = socket.socket(fileno=3)
    accept_loop(s, results_fd, threaded=True)


def client_once(address, port, reply_bytes, chunks, chunk_bytes, spacing_s):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    c = socket.socket(family, socket.SOCK_STREAM)
    c.settimeout(IO_TIMEOUT_S)
    try:
        c.connect((address, port))
        c.sendall(struct.pack(">I", reply_bytes))
        for i in range(chunks):
            if i > 0 and spacing_s > 0:
                time.sleep(spacing_s)
            c.sendall(b"q" * chunk_bytes)
        c.shutdown(socket.SHUT_WR)
        got = 0
        while True:
            data = c.recv(65536)
            if not data:
                break
            got += len(data)
        return got == reply_bytes
    except OSError:
        return False
    finally:
        c.close()


def main_client(address, port, short_per_s, seconds, long_count):
    counts = {"short": 0, "long": 0, "failed": 0}
    lock = threading.Lock()
    pool = threading.BoundedSemaphore(16)

    def run(kind, *args):
        try:
            ok = client_once(address, port, *args)
        finally:
            pool.release()
        with lock:
            counts[kind if ok else "failed"] += 1

    threads = []
    for _ in range(long_count):
        pool.acquire()
        t = threading.Thread(
            target=run,
            args=("long", LONG_REPLY_BYTES, LONG_CHUNKS, LONG_CHUNK_BYTES, LONG_SECONDS / LONG_CHUNKS),
        )
        t.start()
        threads.append(t)
    start = time.monotonic()
    n = int(short_per_s * seconds)
    for i in range(n):
        delay = start + i / short_per_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        pool.acquire()
        t = threading.Thread(target=run, args=("short", SHORT_REPLY_BYTES, 1, SHORT_REQUEST_BYTES, 0))
        t.start()
        threads.append(t)
    for t in threads:
        t.join(IO_TIMEOUT_S)
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "serve":
        main_serve(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else 4)
    elif len(sys.argv) == 3 and sys.argv[1] == "service":
        main_service(sys.argv[2])
    elif len(sys.argv) == 7 and sys.argv[1] == "client":
        main_client(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
