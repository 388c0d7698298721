#!/usr/bin/env python3
"""Rolling restart and kill -9 of notes-service replicas under keep-alive load, through
HAProxy; run by scripts/rolling-restart, which prepares PostgreSQL and the binaries.

Standard library only. Every request counts: a connection error, a reset, a timeout or a
5xx is a failure (no retries, as a plain client behaves). A client whose response carries
`Connection: close` reconnects for its next request (http.client does that by itself)."""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

CHECK_INTERVAL_MS = 200
FALL = 3  # failed checks before HAProxy takes a replica out (Kubernetes' default threshold)
RISE = 2  # passed checks before it puts one back


def log(message):
    print(f"[rolling {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Failed(Exception):
    pass


def http_status(port, path, timeout=2.0):
    """Status of one GET on a fresh connection, or None if there is no answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


class Replica:
    def __init__(self, name, port, args, workdir):
        self.name, self.port, self.args = name, port, args
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.process = None

    def start(self):
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("APP_", "OTEL_")) and key not in ("DATABASE_URL", "RUST_LOG")
        }
        env.update(
            APP_ENV="production",
            DATABASE_URL=self.args.database_url,
            APP__SERVER__HOST="127.0.0.1",
            APP__SERVER__PORT=str(self.port),
            APP__SERVER__DRAIN_SECONDS=str(self.args.drain_seconds),
            APP__LOG__LEVEL="warn,notes_service=info,notes_service::telemetry::request_log=warn",
        )
        with open(self.log_path, "a") as log_file:
            self.process = subprocess.Popen(
                [self.args.service], env=env, stdout=log_file, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def wait_ready(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Failed(f"{self.name} exited with {self.process.returncode}: see {self.log_path}")
            if http_status(self.port, "/health/ready") == 200:
                return
            time.sleep(0.05)
        raise Failed(f"{self.name} was not ready within {timeout} s")

    def terminate(self):
        """SIGTERM; returns (seconds until the process exited, exit code)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=self.args.drain_seconds + 40)
        return time.monotonic() - started, code

    def kill(self):
        self.process.kill()
        self.process.wait()

    def stop_quietly(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class HAProxy:
    def __init__(self, port, replicas, workdir):
        self.socket_path = os.path.join(workdir, "haproxy.sock")
        self.config_path = os.path.join(workdir, "haproxy.cfg")
        self.log_path = os.path.join(workdir, "haproxy.log")
        servers = "\n".join(
            f"    server {r.name} 127.0.0.1:{r.port} check" for r in replicas
        )
        # TCP, readiness-driven, no retries: what a Kubernetes Service (kube-proxy) does.
        with open(self.config_path, "w") as config:
            config.write(
                f"""global
    maxconn 1000
    stats socket {self.socket_path} mode 600 level admin
defaults
    mode tcp
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    retries 0
frontend notes
    bind 127.0.0.1:{port}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /health/ready
    default-server inter {CHECK_INTERVAL_MS}ms fall {FALL} rise {RISE}
{servers}
"""
            )
        self.process = None

    def start(self):
        with open(self.log_path, "a") as log_file:
            self.process = subprocess.Popen(
                ["haproxy", "-db", "-f", self.config_path], stdout=log_file,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )

    def statuses(self):
        """{server name: 'UP' | 'DOWN' | ...} from the stats socket."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stats:
                stats.settimeout(2)
                stats.connect(self.socket_path)
                stats.sendall(b"show stat\n")
                data = b""
                while chunk := stats.recv(65536):
                    data += chunk
        except OSError:
            return {}
        lines = data.decode().splitlines()
        if not lines or not lines[0].startswith("# "):
            return {}
        header = lines[0][2:].split(",")
        rows = [dict(zip(header, line.split(","))) for line in lines[1:] if line]
        return {
            row["svname"]: row["status"].split()[0]
            for row in rows
            if row.get("pxname") == "replicas" and row["svname"] not in ("BACKEND",)
        }

    def wait_for(self, name, wanted, timeout=15.0):
        """Waits until `name` has status `wanted`; returns the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.statuses().get(name) == wanted:
                return time.monotonic() - started
            time.sleep(0.02)
        raise Failed(f"HAProxy did not see {name} {wanted} within {timeout} s: {self.statuses()}")

    def stop_quietly(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait()


class Load:
    """Keep-alive clients through HAProxy: each creates a note, reads it back, and every
    tenth round lists a page; acknowledged notes (201) are remembered for the final check."""

    def __init__(self, port, clients, tag, acknowledged, max_requests):
        self.port, self.tag, self.max_requests = port, tag, max_requests
        self.acknowledged = acknowledged  # id -> text, shared by every phase
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.requests = 0
        self.failures = []  # (seconds since start, kind, on a fresh connection?)
        self.started = time.monotonic()
        self.threads = [
            threading.Thread(target=self.client, args=(n,), daemon=True) for n in range(clients)
        ]

    def start(self):
        for thread in self.threads:
            thread.start()

    def finish(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def count(self):
        with self.lock:
            return self.requests

    def send(self, connection, method, path, body, expected):
        fresh = connection.sock is None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            failure = None if response.status == expected else f"HTTP {response.status}"
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            data, failure = None, type(error).__name__
        with self.lock:
            self.requests += 1
            if self.requests >= self.max_requests:
                self.stop.set()
            if failure is not None:
                self.failures.append((time.monotonic() - self.started, failure, fresh))
        return data if failure is None else None

    def client(self, number):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        round_ = 0
        while not self.stop.is_set():
            round_ += 1
            text = f"{self.tag} client {number} note {round_}"
            body = json.dumps({"text": text, "completed": round_ % 2 == 0})
            created = self.send(connection, "POST", "/notes", body, 201)
            if created is not None:
                note_id = json.loads(created)["id"]
                with self.lock:
                    self.acknowledged[note_id] = text
                self.send(connection, "GET", f"/notes/{note_id}", None, 200)
            if round_ % 10 == 0:
                self.send(connection, "GET", "/notes?limit=20&order=desc", None, 200)
        connection.close()


def all_notes(port):
    """Every note, by keyset pages of 1,000 through HAProxy: {id: text}."""
    notes, path = {}, "/notes?limit=1000"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while path:
        connection.request("GET", path)
        response = connection.getresponse()
        page = json.loads(response.read())
        if response.status != 200:
            raise Failed(f"GET {path} answered {response.status}")
        notes.update((note["id"], note["text"]) for note in page)
        path = None
        for link in (response.getheader("link") or "").split(", "):
            if link.endswith('rel="next"'):
                path = link[1 : link.index(">")]
    connection.close()
    return notes


def check_acknowledged(port, acknowledged):
    stored = all_notes(port)
    missing = [i for i, text in acknowledged.items() if stored.get(i) != text]
    return len(acknowledged), missing


def run_until_enough(load, args, started):
    while load.count() < args.min_requests:
        if time.monotonic() - started > args.max_seconds:
            raise Failed(f"only {load.count()} requests within {args.max_seconds} s")
        time.sleep(0.1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--service", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, default=18100)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--drain-seconds", type=int, default=2)
    parser.add_argument("--min-requests", type=int, default=5000)
    parser.add_argument("--max-seconds", type=int, default=120)
    parser.add_argument("--max-requests", type=int, default=200_000)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="notes-rolling-")
    replicas = [Replica(f"r{n}", args.port + n, args, workdir) for n in (1, 2, 3)]
    haproxy = HAProxy(args.port, replicas, workdir)
    acknowledged = {}
    loads = []
    try:
        for replica in replicas:
            replica.start()
        for replica in replicas:
            replica.wait_ready()
        haproxy.start()
        for replica in replicas:
            haproxy.wait_for(replica.name, "UP")
        log(f"3 replicas behind HAProxy on 127.0.0.1:{args.port}; logs in {workdir}")

        # ---- Rolling restart: SIGTERM, wait for the exit, start the successor. ----
        load = Load(args.port, args.clients, "rolling", acknowledged, args.max_requests)
        loads.append(load)
        started = time.monotonic()
        load.start()
        time.sleep(2)
        drains = []
        for replica in replicas:
            before = load.count()
            drained, code = replica.terminate()
            if code != 0:
                raise Failed(f"{replica.name} exited with {code} after SIGTERM: see {replica.log_path}")
            replica.start()
            replica.wait_ready()
            back = haproxy.wait_for(replica.name, "UP")
            drains.append((replica.name, drained, back, load.count() - before))
            log(f"{replica.name}: drained and exited 0 in {drained:.2f} s; its successor was in rotation {back:.2f} s after it was ready")
            time.sleep(1)
        run_until_enough(load, args, started)
        load.finish()
        rolling_seconds = time.monotonic() - started
        total, missing = check_acknowledged(args.port, acknowledged)

        # ---- kill -9 of one replica mid-load. ----
        kill = Load(args.port, args.clients, "kill", acknowledged, args.max_requests)
        loads.append(kill)
        kill.start()
        time.sleep(2)
        victim = replicas[1]
        killed_at = time.monotonic() - kill.started
        victim.kill()
        noticed = haproxy.wait_for(victim.name, "DOWN")
        victim.start()
        victim.wait_ready()
        haproxy.wait_for(victim.name, "UP")
        time.sleep(2)
        kill.finish()
        kill_total, kill_missing = check_acknowledged(args.port, acknowledged)
    finally:
        for running in loads:
            running.stop.set()
        for replica in replicas:
            replica.stop_quietly()
        haproxy.stop_quietly()

    def kinds(failures):
        counts = {}
        for _, kind, _ in failures:
            counts[kind] = counts.get(kind, 0) + 1
        return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "none"

    print()
    print(f"Rolling restart: 3 replicas, SIGTERM one at a time, drain {args.drain_seconds} s, "
          f"HAProxy TCP checks every {CHECK_INTERVAL_MS} ms (fall {FALL}, rise {RISE}), retries 0, "
          f"{args.clients} keep-alive clients")
    print(f"  requests: {load.requests} in {rolling_seconds:.1f} s "
          f"({load.requests / rolling_seconds:.0f}/s); failed: {len(load.failures)} ({kinds(load.failures)})")
    for name, drained, back, served in drains:
        print(f"  {name}: SIGTERM to exit {drained:.2f} s (exit 0); successor in rotation "
              f"{back:.2f} s after ready; {served} requests served meanwhile")
    print(f"  acknowledged notes: {total}; not readable afterwards: {len(missing)}")
    after_kill = [f for f in kill.failures if f[0] >= killed_at]
    reused = sum(1 for f in after_kill if not f[2])
    print(f"kill -9 of {victim.name} mid-load: {kill.requests} requests, {len(kill.failures)} failed "
          f"({kinds(kill.failures)}): {reused} on connections it held, "
          f"{len(after_kill) - reused} on new connections HAProxy sent it before marking it "
          f"down {noticed * 1000:.0f} ms after the kill")
    print(f"  acknowledged notes (both phases): {kill_total}; not readable afterwards: {len(kill_missing)}")

    problems = []
    if load.stop.is_set() and load.requests >= args.max_requests:
        problems.append(f"the load hit --max-requests ({args.max_requests}) before the restarts ended")
    if load.failures:
        problems.append(f"{len(load.failures)} requests failed during the rolling restart")
    if load.requests < args.min_requests:
        problems.append(f"only {load.requests} requests during the rolling restart")
    if missing or kill_missing:
        problems.append(f"{len(missing) + len(kill_missing)} acknowledged notes are not readable")
    if len(kill.failures) > len(after_kill):
        problems.append(f"{len(kill.failures) - len(after_kill)} requests failed before the kill")
    if problems:
        print("FAILED: " + "; ".join(problems) + f" (the replicas' and HAProxy's logs: {workdir})")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failed as failure:
        log(f"error: {failure}")
        sys.exit(1)
