"""Helpers shared by the benchmarks: signed messages, servers, wrk, RSS.

Everything here is bounded: servers are started as child processes and stopped by pid,
wrk always runs for a fixed duration, and every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sns_subscriber.testing import TEST_TOPIC_ARN, SNSTestKit, samples

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
ENDPOINT = "/budget-subscriber"
TOPIC = TEST_TOPIC_ARN
WRK = shutil.which("wrk") or "/usr/bin/wrk"

# -- messages -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    message_id: str
    body: bytes


@dataclass
class MessageSet:
    """Distinct signed Budgets alerts and the kit that signed them."""

    kit: SNSTestKit
    messages: list[Message]
    topic: str = TOPIC

    @property
    def headers(self) -> dict[str, str]:
        """The SNS headers every message shares (``x-amz-sns-message-id`` is per message)."""
        headers = SNSTestKit.headers({"Type": "Notification", "MessageId": "", "TopicArn": self.topic})
        headers["x-amz-sns-subscription-arn"] = SNSTestKit.subscription_arn(self.topic)
        del headers["x-amz-sns-message-id"]
        return headers

    def request_headers(self, message: Message) -> dict[str, str]:
        return self.headers | {"x-amz-sns-message-id": message.message_id}


_WORKER_KIT: SNSTestKit | None = None


def _init_signer(key_pem: bytes, cert_id: str) -> None:
    global _WORKER_KIT  # noqa: PLW0603 - one kit per signing process
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    _WORKER_KIT = SNSTestKit(private_key=key, cert_id=cert_id)


def _sign_range(start: int, stop: int, topic: str, timestamp: str) -> list[tuple[str, bytes]]:
    kit = _WORKER_KIT
    assert kit is not None
    out = []
    for i in range(start, stop):
        subject, text = samples.budget_alert(
            budget_name=f"team-{i}-prod", amount=f"{90 + i % 10}.{i % 100:02d}"
        )
        fields = kit.notification(topic, text, subject=subject, timestamp=timestamp)
        out.append((str(fields["MessageId"]), kit.body(fields)))
    return out


def generate_messages(
    count: int, *, processes: int = 2, kit: SNSTestKit | None = None, topic: str = TOPIC
) -> MessageSet:
    """``count`` distinct AWS Budgets alerts signed like SNS, signed in ``processes`` processes."""
    kit = kit or SNSTestKit()
    key_pem = kit.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    timestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    chunk = 1000
    ranges = [(start, min(start + chunk, count)) for start in range(0, count, chunk)]
    context = multiprocessing.get_context("spawn")
    messages: list[Message] = []
    with ProcessPoolExecutor(
        max_workers=processes, mp_context=context, initializer=_init_signer, initargs=(key_pem, kit.cert_id)
    ) as pool:
        futures = [pool.submit(_sign_range, a, b, topic, timestamp) for a, b in ranges]
        for future in futures:
            messages.extend(Message(mid, body) for mid, body in future.result(timeout=300))
    return MessageSet(kit, messages, topic)


_MESSAGE_CACHE: dict[int, MessageSet] = {}


def shared_messages(count: int) -> MessageSet:
    """One message set per process and size: ``python -m bench`` signs once for every benchmark."""
    for size, found in _MESSAGE_CACHE.items():
        if size >= count:
            return MessageSet(found.kit, found.messages[:count], found.topic)
    made = generate_messages(count)
    _MESSAGE_CACHE[count] = made
    return made


def write_messages_file(messages: Sequence[Message], path: Path) -> Path:
    """One record per message: ``"<message id> <body length>\\n"`` then the body's bytes."""
    with path.open("wb") as out:
        for message in messages:
            out.write(f"{message.message_id} {len(message.body)}\n".encode("ascii"))
            out.write(message.body)
    return path


# -- ports, servers, processes -------------------------------------------------------------


def free_port() -> int:
    """A port nothing listens on right now (racy, but only we use 127.0.0.1 here)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(ROOT), str(ROOT / "src")]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.update(extra or {})
    return env


@dataclass
class Server:
    """A child process serving HTTP on ``port``; stop it with :func:`stop_process`."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path
    name: str

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_server(
    command: Sequence[str],
    port: int,
    *,
    log: Path,
    name: str,
    env: Mapping[str, str] | None = None,
    ready_path: str = "/healthz",
    timeout: float = 30.0,
) -> Server:
    """Start ``command`` and wait until ``ready_path`` answers 200 (or raise, after stopping it)."""
    out = log.open("wb")
    process = subprocess.Popen(
        list(command), stdout=out, stderr=subprocess.STDOUT, env=child_env(env), cwd=ROOT
    )
    out.close()
    server = Server(process, port, log, name)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} while starting:\n{tail(log)}")
        try:
            with urllib.request.urlopen(f"{server.url}{ready_path}", timeout=2) as response:
                if response.status == 200:
                    return server
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            stop_process(process.pid, process)
            raise RuntimeError(f"{name} did not become ready in {timeout:g} s:\n{tail(log)}")
        time.sleep(0.1)


def stop_process(pid: int, process: subprocess.Popen[bytes] | None = None, *, grace: float = 15.0) -> None:
    """SIGTERM ``pid``, wait up to ``grace`` seconds, then SIGKILL it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if process is not None:
            if process.poll() is not None:
                return
        else:
            try:
                finished, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return
            if finished:
                return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if process is not None:
        process.wait(timeout=5)


def stop_server(server: Server | None) -> None:
    if server is not None:
        stop_process(server.pid, server.process)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A temporary folder on /tmp (a real disk here, so fsync costs what it costs)."""
    path = Path(tempfile.mkdtemp(prefix=f"sns-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_service_config(
    directory: Path,
    *,
    store_url: str,
    cert_dir: Path,
    topic: str = TOPIC,
    worker: bool = False,
    actions: Sequence[str] = (),
    extra: str = "",
) -> Path:
    """A TOML configuration: one endpoint for ``topic``, pinned certificates, no fetching."""
    action_list = ", ".join(json.dumps(a) for a in actions)
    text = f"""\
[service]
host = "127.0.0.1"
worker = {str(worker).lower()}

[store]
url = {json.dumps(store_url)}

[verification]
cert_dir = {json.dumps(str(cert_dir))}
fetch = false

[[endpoints]]
path = {json.dumps(ENDPOINT)}
topics = [{json.dumps(topic)}]
confirm = "manual"
actions = [{action_list}]
{extra}"""
    path = directory / "sns-subscriber.toml"
    path.write_text(text, encoding="utf-8")
    return path


def start_service(
    config: Path, *, log: Path, port: int | None = None, no_worker: bool = True, name: str = "service"
) -> Server:
    port = port or free_port()
    command = [PYTHON, "-m", "sns_subscriber", "serve", "--config", str(config), "--port", str(port)]
    if no_worker:
        command.append("--no-worker")
    return start_server(command, port, log=log, name=name)


def start_baseline(public_key_pem: Path, *, log: Path, port: int | None = None) -> Server:
    port = port or free_port()
    command = [PYTHON, "-m", "bench.baseline_app", "--port", str(port), "--public-key", str(public_key_pem)]
    return start_server(command, port, log=log, name="baseline")


def count_rows(store_url: str) -> int:
    """Messages in the inbox, whatever their status."""
    from sns_subscriber.stores import open_store  # noqa: PLC0415

    store = open_store(store_url)
    try:
        return sum(store.counts().values())
    finally:
        store.close()


# -- wrk -----------------------------------------------------------------------------------

_LUA = r"""
-- Generated by bench/common.py: cycles through distinct pre-signed SNS messages.
local file = "@FILE@"
local path = "@PATH@"
local nthreads = @THREADS@
local common = @HEADERS@
local counter = 0
local threads = {}

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  reqs = {}
  local f = assert(io.open(file, "rb"))
  local k = 0
  while true do
    local line = f:read("*l")
    if not line then break end
    local id, n = line:match("^(%S+) (%d+)$")
    local body = f:read(tonumber(n))
    if k % nthreads == tid then
      local headers = {}
      for name, value in pairs(common) do headers[name] = value end
      headers["x-amz-sns-message-id"] = id
      reqs[#reqs + 1] = wrk.format("POST", path, headers, body)
    end
    k = k + 1
  end
  f:close()
  count = #reqs
  sent = 0
end

function request()
  sent = sent + 1
  return reqs[((sent - 1) % count) + 1]
end

function done(summary, latency, requests)
  local sent_total, distinct = 0, 0
  for _, thread in ipairs(threads) do
    local s, c = thread:get("sent"), thread:get("count")
    sent_total = sent_total + s
    distinct = distinct + math.min(s, c)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH-JSON {"requests": %d, "duration_us": %d, "sent": %d, "distinct_sent": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, ' ..
    '"p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, sent_total, distinct,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid Lua string for our ASCII values


def write_wrk_script(
    messages_file: Path, script: Path, *, headers: Mapping[str, str], threads: int, path: str = ENDPOINT
) -> Path:
    table = "{" + ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()) + "}"
    text = (
        _LUA.replace("@FILE@", str(messages_file))
        .replace("@PATH@", path)
        .replace("@THREADS@", str(threads))
        .replace("@HEADERS@", table)
    )
    script.write_text(text, encoding="utf-8")
    return script


@dataclass
class WrkResult:
    requests: int
    duration: float
    sent: int
    distinct_sent: int
    errors: dict[str, int]
    p50_ms: float
    p99_ms: float
    output: str = field(repr=False, default="")

    @property
    def rate(self) -> float:
        return self.requests / self.duration if self.duration else 0.0

    @property
    def non_2xx(self) -> int:
        return self.errors["status"]

    @property
    def duplicate_share(self) -> float:
        """Share of the requests sent that repeated a message already sent in this run."""
        return (self.sent - self.distinct_sent) / self.sent if self.sent else 0.0


def start_wrk(
    url: str, script: Path, *, threads: int, connections: int, duration: float
) -> subprocess.Popen[str]:
    command = [
        WRK,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration:g}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish_wrk(process: subprocess.Popen[str], duration: float) -> WrkResult:
    try:
        output, _ = process.communicate(timeout=duration + 60)
    except subprocess.TimeoutExpired:
        stop_process(process.pid)
        raise RuntimeError("wrk did not finish in time") from None
    for line in output.splitlines():
        if line.startswith("BENCH-JSON "):
            data = json.loads(line.removeprefix("BENCH-JSON "))
            break
    else:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    return WrkResult(
        requests=data["requests"],
        duration=data["duration_us"] / 1e6,
        sent=data["sent"],
        distinct_sent=data["distinct_sent"],
        errors={k: data[k] for k in ("connect", "read", "write", "status", "timeout")},
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        output=output,
    )


def run_wrk(
    url: str, script: Path, *, threads: int = 2, connections: int = 64, duration: float = 5.0
) -> WrkResult:
    return finish_wrk(
        start_wrk(url, script, threads=threads, connections=connections, duration=duration), duration
    )


# -- memory ----------------------------------------------------------------------------------


def proc_status_kb(pid: int, field_name: str) -> int:
    """A ``kB`` field of /proc/<pid>/status (VmRSS, VmHWM), 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return 0
    return 0


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (all its threads) so far, 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RSSSampler:
    """Samples VmRSS of ``pid`` in a thread; ``peak_kb`` also considers the kernel's VmHWM."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.max_rss_kb = 0
        self.hwm_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RSSSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.hwm_kb = proc_status_kb(self.pid, "VmHWM")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.max_rss_kb = max(self.max_rss_kb, proc_status_kb(self.pid, "VmRSS"))

    @property
    def peak_mb(self) -> float:
        return max(self.hwm_kb, self.max_rss_kb) / 1024


# -- output ---------------------------------------------------------------------------------


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}/s"


def print_result(name: str, result: Mapping[str, Any]) -> None:
    print(f"{name}: " + json.dumps(dict(result), default=str, indent=2))
