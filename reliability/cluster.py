"""Several Chatbox instances on one database behind HAProxy, and a three-node MariaDB Galera cluster, for the
scale-out suite (test_scale_out.py) and the soak mode of scripts/scale-out.sh.

- `Instance`: a `Chatbox` (helpers.py) with its own CHATBOX_INSTANCE_ID, startable without waiting (start-up races).
- `Balancer`: HAProxy started from deploy/haproxy.cfg (round robin) or deploy/haproxy-hash.cfg (consistent hash on
  the conversation id), only the `bind` and `server` lines replaced by loopback ports, plus an admin socket so the
  harness can wait until HAProxy sees every instance up. Each response names its server (X-Served-By).
- `Cluster`: N instances + a balancer; `Galera`: scripts/start-galera.sh in a private folder.
- `Watch` / `watch()`: one SSE request as a client saw it, with the serving instance and when each numbered token
  ("wordN", what [[fake tokens=N]] streams) arrived.
Everything binds 127.0.0.1 on free ports; every wait is bounded; `close()` methods are safe to call twice."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx

from helpers import (FIGURES, LOGS, ROOT, Chatbox, MariaDB, Proc, Store, Turn, client, free_port, new_database,
                     parse_sse_lines, sse_lines, wait_until)

MODES = {"roundrobin": ROOT / "deploy/haproxy.cfg", "hash": ROOT / "deploy/haproxy-hash.cfg"}
FLUSH_MS = 1000
LEASE_MS = 5000
FOLLOW_MS = 200


def full_text(tokens: int) -> str:
    """What [[fake tokens=N]] streams."""
    return " ".join(f"word{i}" for i in range(1, tokens + 1))


# ---------------------------------------------------------------- instances


class Instance(Chatbox):
    """A Chatbox with an instance id. `wait=False` starts it without waiting for /healthz (see `wait_healthy`)."""

    def __init__(self, name: str, database_url: str, llm_url: str | None, instance_id: str, env: dict | None = None,
                 wait: bool = True):
        self.instance_id = instance_id
        self._first_wait = wait
        env = dict(env or {})
        env.setdefault("CHATBOX_INSTANCE_ID", instance_id)
        super().__init__(name, database_url, llm_url, env=env)

    def start(self, wait: bool | None = None):
        first, self._first_wait = self._first_wait, True
        super().start(wait=first if wait is None else wait)

    def health(self) -> dict | None:
        try:
            r = httpx.get(self.base + "/healthz", timeout=5)
            return r.json() if r.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None

    def reported_id(self) -> str | None:
        """The `instance` field of /healthz (None while the server does not report it)."""
        body = self.health() or {}
        return body.get("instance")

    def pause(self):
        self.proc.signal(signal.SIGSTOP)
        FIGURES.add("faults injected")

    def resume(self):
        self.proc.signal(signal.SIGCONT)


def instance_env(extra: dict | None = None) -> dict:
    env = {
        "CHATBOX_CHAT_FLUSH_INTERVAL_MS": str(FLUSH_MS), "CHATBOX_INSTANCE_LEASE_MS": str(LEASE_MS),
        "CHATBOX_CHAT_FOLLOW_INTERVAL_MS": str(FOLLOW_MS),
        # behind the balancer the client's address comes in X-Forwarded-For (HAProxy: option forwardfor)
        "CHATBOX_HTTP_TRUST_FORWARDED_FOR": "true",
        # the default five failed logins per account, shared by the instances (test 7)
        "CHATBOX_LOGIN_MAX_FAILURES": "5",
        "CHATBOX_SHUTDOWN_GRACE_SECONDS": "2",
    }
    env.update(extra or {})
    return env


# ---------------------------------------------------------------- HAProxy


def haproxy_config(mode: str, port: int, backends: list[int], socket_path: str) -> str:
    """deploy/haproxy*.cfg with its `bind` and `server` lines replaced, and an admin socket for the harness."""
    source = MODES[mode].read_text()
    lines, servers_done = [], False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("bind "):
            lines.append(f"    bind 127.0.0.1:{port}")
        elif stripped.startswith("server "):
            if not servers_done:
                lines += [f"    server chatbox{i + 1} 127.0.0.1:{p} check" for i, p in enumerate(backends)]
                servers_done = True
        elif stripped == "global":
            lines += [line, f"    stats socket {socket_path} mode 600 level admin"]
        else:
            lines.append(line)
    assert servers_done and any(l.strip().startswith("bind 127.0.0.1:") for l in lines), "unexpected haproxy config"
    return "\n".join(lines) + "\n"


class Balancer:
    def __init__(self, name: str, mode: str, backends: list[int], folder: Path):
        self.mode, self.name = mode, name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.socket_path = str(folder / "haproxy.sock")
        self.config = folder / f"haproxy-{mode}.cfg"
        self.config.write_text(haproxy_config(mode, self.port, backends, self.socket_path))
        check = subprocess.run(["haproxy", "-c", "-q", "-f", str(self.config)], capture_output=True, text=True,
                               timeout=30)
        assert check.returncode == 0, f"haproxy -c {self.config}: {check.stderr}"
        self.proc = Proc(name, ["haproxy", "-db", "-f", str(self.config)])
        ok = wait_until(self._answers, 20)
        if not ok:
            self.close()
            raise RuntimeError(f"haproxy did not answer on {self.port}; see {self.proc.log_path}")

    def _answers(self) -> bool:
        if not self.proc.alive():
            raise RuntimeError(f"haproxy exited; see {self.proc.log_path}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def admin(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(self.socket_path)
            s.sendall(command.encode() + b"\n")
            chunks = []
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def server_states(self) -> dict[str, str]:
        """{server name: UP / DOWN / …} as HAProxy sees the instances."""
        states = {}
        lines = self.admin("show stat").splitlines()
        if not lines:
            return states
        header = lines[0].lstrip("# ").split(",")
        for line in lines[1:]:
            row = dict(zip(header, line.split(",")))
            if row.get("svname", "").startswith("chatbox") and row.get("pxname") == "chatbox":
                states[row["svname"]] = row.get("status", "")
        return states

    def wait_up(self, names: list[str], timeout: float = 30) -> bool:
        return bool(wait_until(lambda: all(self.server_states().get(n, "").startswith("UP") for n in names),
                               timeout, 0.2))

    def close(self):
        self.proc.stop()


def nginx_config(port: int, backends: list[int], folder: Path) -> str:
    """deploy/nginx.conf with its `listen`, `server` and `pid` lines replaced, private temp folders, and the
    upstream's address in X-Served-By."""
    lines = []
    for line in (ROOT / "deploy/nginx.conf").read_text().splitlines():
        stripped = line.strip()
        indent = line[:len(line) - len(line.lstrip())]
        if stripped.startswith("listen "):
            lines.append(f"{indent}listen 127.0.0.1:{port};")
        elif stripped.startswith("pid "):
            lines.append(f"pid {folder}/nginx.pid;")
        elif re.match(r"server 127\.0\.0\.1:\d+", stripped):
            if re.match(r"server 127\.0\.0\.1:8081\b", stripped):
                rest = stripped.split(None, 2)[2] if len(stripped.split(None, 2)) > 2 else ";"
                lines += [f"{indent}server 127.0.0.1:{p} {rest}" for p in backends]
        elif stripped == "access_log off;":
            lines += [line, f"{indent}add_header X-Served-By $upstream_addr always;"]
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
                lines.append(f"{indent}{kind}_temp_path {folder}/{kind};")
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


class Nginx:
    """nginx from deploy/nginx.conf in front of the instances (ports `backends`)."""

    def __init__(self, name: str, backends: list[int], folder: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.backends = backends
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o777)
        self.config = folder / "nginx.conf"
        self.config.write_text(nginx_config(self.port, backends, folder))
        check = subprocess.run(["nginx", "-t", "-q", "-c", str(self.config)], capture_output=True, text=True,
                               timeout=30)
        assert check.returncode == 0, f"nginx -t {self.config}: {check.stderr}"
        self.proc = Proc(name, ["nginx", "-c", str(self.config), "-g", "daemon off;"])
        if not wait_until(lambda: self._answers(), 20):
            self.close()
            raise RuntimeError(f"nginx did not answer on {self.port}; see {self.proc.log_path}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def served_by(self, response: httpx.Response) -> int | None:
        address = response.headers.get("x-served-by", "")
        port = int(address.rsplit(":", 1)[1]) if ":" in address else None
        return self.backends.index(port) if port in self.backends else None

    def close(self):
        self.proc.stop()


def served_by(response: httpx.Response) -> int | None:
    """The index of the instance that answered through the balancer (X-Served-By: chatboxN), else None."""
    name = response.headers.get("x-served-by", "")
    m = re.fullmatch(r"chatbox(\d+)", name)
    return int(m.group(1)) - 1 if m else None


# ---------------------------------------------------------------- a cluster of instances


class Cluster:
    """N instances (instance i on database_urls[i % len]) behind HAProxy in `mode`."""

    def __init__(self, label: str, mode: str, database_urls: list[str], llm_url: str, n: int = 3,
                 env: dict | None = None, folder: Path | None = None):
        self.label, self.mode, self.llm_url = label, mode, llm_url
        self.folder = folder or Path(tempfile.mkdtemp(prefix="scale-", dir="/tmp"))
        self.database_urls = database_urls
        self.env = instance_env(env)
        self.instances: list[Instance] = []
        self.balancer: Balancer | None = None
        try:
            # the first one alone (it migrates the database; test 8 covers instances starting together), then
            # the others at once
            self.instances.append(self._new_instance(0, wait=True))
            for i in range(1, n):
                self.instances.append(self._new_instance(i, wait=False))
            for inst in self.instances:
                inst.wait_healthy(90)
            self.balancer = Balancer(f"haproxy-{label}", mode, [i.port for i in self.instances], self.folder)
            assert self.balancer.wait_up(self.names(), 30), f"HAProxy does not see every instance up: " \
                f"{self.balancer.server_states()}"
        except BaseException:
            self.close()
            raise

    def _new_instance(self, i: int, wait: bool, instance_id: str | None = None) -> Instance:
        return Instance(f"{self.label}-i{i + 1}", self.database_urls[i % len(self.database_urls)], self.llm_url,
                        instance_id or f"{self.label}-i{i + 1}", env=self.env, wait=wait)

    @property
    def base(self) -> str:
        return self.balancer.base

    def names(self) -> list[str]:
        return [f"chatbox{i + 1}" for i in range(len(self.instances))]

    def store(self, i: int = 0) -> Store:
        return Store(self.database_urls[i % len(self.database_urls)])

    def others(self, i: int) -> list[int]:
        return [k for k in range(len(self.instances)) if k != i]

    def ensure_up(self):
        """Restarts any instance that is not running (after a kill), resumes stopped ones, waits for HAProxy."""
        for i, inst in enumerate(self.instances):
            inst.resume()
            if not inst.proc.alive():
                inst.start()
        if self.balancer:
            self.balancer.wait_up(self.names(), 30)

    def replace(self, i: int, instance_id: str | None = None) -> Instance:
        """Stops instance i (SIGTERM) and starts it again on the same port, with the same or another id."""
        old = self.instances[i]
        old.stop()
        env = dict(self.env)
        env["CHATBOX_INSTANCE_ID"] = instance_id or old.instance_id
        old.extra["CHATBOX_INSTANCE_ID"] = env["CHATBOX_INSTANCE_ID"]
        old.instance_id = env["CHATBOX_INSTANCE_ID"]
        old.start()
        return old

    def stop_answer(self, token: str, conversation_id: int):
        """Best-effort stop on every instance (cleanup after a test, whatever the server does)."""
        for inst in self.instances:
            if inst.proc.alive():
                try:
                    with client(inst.base, token, timeout=5) as c:
                        c.post(f"/api/conversations/{conversation_id}/stop")
                except httpx.HTTPError:
                    pass

    def close(self):
        if self.balancer:
            self.balancer.close()
        for inst in self.instances:
            try:
                inst.resume()
                inst.stop()
            except Exception:  # noqa: BLE001 - cleanup goes on
                pass
        shutil.rmtree(self.folder, ignore_errors=True)


# ---------------------------------------------------------------- Galera


class Galera:
    """A private N-node Galera cluster from scripts/start-galera.sh (node i: urls[i])."""

    def __init__(self, n: int = 3):
        # directly under /tmp and world-traversable: the nodes run as `mysql` when we are root
        self.dir = tempfile.mkdtemp(prefix="gal-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.n = n
        out = subprocess.run(["bash", str(ROOT / "scripts/start-galera.sh"), self.dir, str(n)], capture_output=True,
                             text=True, timeout=300)
        LOGS.mkdir(parents=True, exist_ok=True)
        (LOGS / "galera-start.log").write_text(out.stdout + out.stderr)
        if out.returncode != 0:
            self.destroy()
            raise RuntimeError(f"start-galera.sh failed: {out.stderr[-2000:]}")
        self.urls = [line for line in out.stdout.splitlines() if line.startswith("mysql://")][-n:]
        self.killed: set[int] = set()

    def url_for(self, node: int, database: str) -> str:
        return self.urls[node].rsplit("/", 1)[0] + "/" + database

    def status(self, node: int, name: str) -> str | None:
        rows = Store(self.url_for(node, "mysql")).rows(f"SHOW STATUS LIKE '{name}'")
        return rows[0]["Value"] if rows else None

    def kill(self, node: int):
        pid = int(Path(self.dir, f"node{node + 1}", "mysqld.pid").read_text().strip())
        os.kill(pid, signal.SIGKILL)
        self.killed.add(node)
        FIGURES.add("faults injected")

    def destroy(self):
        subprocess.run(["bash", str(ROOT / "scripts/stop-galera.sh"), self.dir], capture_output=True, timeout=200)
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------- streams as a client sees them

WORD = re.compile(r"word(\d+)")


class Watch(Turn):
    """A `Turn` that also keeps the serving instance (through the balancer), each event's name in order, and when
    each numbered token first appeared in the text."""

    def __init__(self):
        super().__init__()
        self.served_by: int | None = None
        self.names: list[str] = []
        self.token_times: dict[int, float] = {}
        self.replayed = 0            # numbered tokens already in the `start` event (a re-attach's replay)
        self.finished = threading.Event()

    def record_tokens(self, moment: float):
        for m in WORD.finditer(self.text):
            self.token_times.setdefault(int(m.group(1)), moment)

    def event(self, name: str) -> dict | None:
        for event, data in self.events:
            if event == name:
                return data
        return None


def watch(c: httpx.Client, method: str, path: str, json_body=None, w: Watch | None = None,
          timeout: float = 60) -> Watch:
    """One streamed request (send, re-attach), recorded as it arrives; returns at the stream's end."""
    w = w or Watch()
    try:
        with c.stream(method, path, json=json_body, timeout=httpx.Timeout(timeout, connect=10)) as r:
            w.status_code = r.status_code
            w.served_by = served_by(r)
            if r.status_code != 200:
                w.error_body = r.read().decode("utf-8", "replace")
                return w
            for event, data in parse_sse_lines(sse_lines(r.iter_bytes())):
                now = time.monotonic()
                with w.lock:
                    w.events.append((event, data))
                    w.names.append(event)
                    if event == "start":
                        w.text = data["assistant_message"]["content"]
                        w.replayed = len(WORD.findall(w.text))
                    elif event == "delta":
                        w.text += data["text"]
                    elif event == "done":
                        w.done = data["message"]
                    w.timeline.append((now, len(w.text)))
                    w.record_tokens(now)
    except (httpx.TransportError, httpx.StreamError) as error:
        w.error_body = f"transport: {error!r}"
    finally:
        w.finished.set()
    return w


def lag_ms(owner: Watch, follower: Watch) -> list[float]:
    """For each numbered token both saw live (not in the follower's replayed start): follower − owner arrival, ms."""
    return [(follower.token_times[k] - t) * 1000 for k, t in owner.token_times.items()
            if k > follower.replayed and k in follower.token_times]


def summarize(values: list[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (f"median {statistics.median(ordered):.0f} ms, p95 {p95:.0f} ms, max {ordered[-1]:.0f} ms "
            f"({len(ordered)} tokens)")


def mariadb_cluster(label: str, mode: str, mariadb: MariaDB, llm_url: str, env: dict | None = None) -> Cluster:
    url = new_database("mariadb", mariadb, Path("/tmp"))
    return Cluster(label, mode, [url], llm_url, env=env)


def to_json(value) -> str:
    return json.dumps(value, ensure_ascii=False)


# ---------------------------------------------------------------- command line (scripts/scale-out.sh soak)


def die_with_parent():
    """preexec: the child gets SIGKILL when this process ends, however it ends (Linux PR_SET_PDEATHSIG)."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


def serve_main():
    """`cluster.py serve`: stands in for `chatbox serve` (the bench's --server): three real instances on free ports
    with the caller's CHATBOX_* settings, behind HAProxy round robin on the caller's CHATBOX_PORT, until SIGTERM.
    SCALE_CHATBOX_BIN_DIR holds the `chatbox` binary; SCALE_INSTANCES (3) and SCALE_MODE (roundrobin) change the
    shape."""
    import helpers
    helpers._BIN = Path(os.environ["SCALE_CHATBOX_BIN_DIR"])
    port = int(os.environ["CHATBOX_PORT"])
    n = int(os.environ.get("SCALE_INSTANCES", "3"))
    mode = os.environ.get("SCALE_MODE", "roundrobin")
    env = {k: v for k, v in os.environ.items() if k.startswith("CHATBOX_") and k not in ("CHATBOX_PORT",
                                                                                          "CHATBOX_HOST")}
    stop = threading.Event()
    # the bench starts this through Foundation's Process, whose children may start with signals blocked
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    folder = Path(tempfile.mkdtemp(prefix="scale-serve-", dir="/tmp"))
    instances: list[Instance] = []
    proxy = None
    try:
        instances.append(Instance("soak-i1", env["CHATBOX_DATABASE_URL"], None, "soak-i1", env=env))
        for i in range(1, n):
            instances.append(Instance(f"soak-i{i + 1}", env["CHATBOX_DATABASE_URL"], None, f"soak-i{i + 1}",
                                      env=env, wait=False))
        for inst in instances:
            inst.wait_healthy(90)
        cfg = folder / "haproxy.cfg"
        cfg.write_text(haproxy_config(mode, port, [i.port for i in instances], str(folder / "haproxy.sock")))
        proxy = Proc("soak-haproxy", ["haproxy", "-db", "-f", str(cfg)], preexec=die_with_parent)
        print(f"scale-out: {n} instances behind HAProxy ({mode}) on 127.0.0.1:{port}", flush=True)
        while not stop.wait(0.5):
            if not proxy.alive() or not all(i.proc.alive() for i in instances):
                print("scale-out: an instance or HAProxy exited", flush=True)
                break
    finally:
        # within the bench's 15 s grace: HAProxy keeps no state (a soft stop would wait for the bench's keep-alive
        # connections), the instances stop in parallel
        if proxy and proxy.alive():
            proxy.p.kill()
            proxy.wait(10)
        stoppers = [threading.Thread(target=inst.stop) for inst in instances]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join(30)
        shutil.rmtree(folder, ignore_errors=True)


def lag_main(rounds: int = 5, tokens: int = 100, delay_ms: int = 50):
    """`cluster.py lag`: re-attach lag on three instances (round robin, one private MariaDB): answers started on
    instance 1, watched by a client of instance 1 and by clients re-attached through instances 1 and 2; for each
    numbered token, the arrival at the re-attached client minus the arrival at the owner's client."""
    from helpers import FakeUpstream
    fake = FakeUpstream("lag-fake-upstream", delay_ms=5)
    mdb = MariaDB()
    c = None
    try:
        c = mariadb_cluster("lag", "roundrobin", mdb, fake.url)
        token, _ = register_user(c.instances[0].base)
        same, other, codes = [], [], set()
        for k in range(rounds):
            with client(c.instances[0].base, token, timeout=60) as c1, \
                    client(c.instances[0].base, token, timeout=60) as c1b, \
                    client(c.instances[1].base, token, timeout=60) as c2:
                r = c1.post("/api/conversations", json={"title": f"lag {k}"})
                cid = r.json()["conversation"]["id"]
                owner = Watch()
                t = threading.Thread(target=watch, args=(c1, "POST", f"/api/conversations/{cid}/messages",
                                                          {"content": f"[[fake tokens={tokens} delay_ms={delay_ms}]]"},
                                                          owner, 60))
                t.start()
                wait_until(lambda: len(owner.token_times) >= 3, 20)
                a, b = Watch(), Watch()
                ta = threading.Thread(target=watch, args=(c1b, "GET", f"/api/conversations/{cid}/stream", None, a, 60))
                tb = threading.Thread(target=watch, args=(c2, "GET", f"/api/conversations/{cid}/stream", None, b, 60))
                ta.start(), tb.start()
                for th in (t, ta, tb):
                    th.join(90)
                codes.add(b.status_code)
                same += lag_ms(owner, a)
                other += lag_ms(owner, b)
        print(f"re-attach lag, same instance as the owner:   {summarize(same)}")
        if other:
            print(f"re-attach lag, through another instance:     {summarize(other)}")
        else:
            print(f"re-attach lag, through another instance:     not measurable: the re-attach answered {sorted(codes)}"
                  " (this server does not follow answers of other instances)")
    finally:
        if c:
            c.close()
        mdb.destroy()
        fake.stop()


def register_user(base: str):
    from helpers import register
    return register(base)


if __name__ == "__main__":
    import sys
    if sys.argv[1:2] == ["serve"]:
        serve_main()
    elif sys.argv[1:2] == ["lag"]:
        lag_main(*(int(a) for a in sys.argv[2:5]))
    else:
        print("usage: cluster.py serve | lag [ROUNDS TOKENS DELAY_MS]", file=sys.stderr)
        sys.exit(2)
