"""A throwaway portal for the HTTP half of the benchmark: its own database in a temp dir, and gunicorn.

``Portal.create`` migrates a fresh SQLite database, seeds the demo and republishes the demo API with an hour
of token validity (bench/workload.py), and sets up the token service: an RSA-2048 key written to the temp
dir and imported as the keystore of "Bench Keyprofile" (enabled in sandbox), and a signer API key for it.
The reference DRF views load the same key file and hold the same API key (``BENCH_REFERENCE_KEY_FILE``,
``BENCH_REFERENCE_API_KEY`` in the servers' environment), so both sides sign the same claims with the same
key. ``Portal.serve(workers=n)`` runs ``gunicorn -c gunicorn.conf.py bench.wsgi`` on a free port of
127.0.0.1 and stops it when the ``with`` block ends, on error too.

``Portal.serve(workers=n, mode=PRODUCTION)`` serves the same database with the README's production settings
(``PORTAL_MODE=production``, a fresh ``SECRET_KEY``, DEBUG off, the per-call gateway log on at INFO in JSON);
its output, gateway log lines included, goes to a file, and its requests carry ``X-Forwarded-Proto: https``
as a TLS-terminating load balancer sends them (production redirects plain HTTP to HTTPS and sends HSTS).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from bench.workload import RSA_BITS, SERVICE_KEYSTORE, SERVICE_PROFILE, SERVICE_PROFILE_TITLE, bench_document

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
COMMAND_TIMEOUT_SECONDS = 120.0
DEVELOPMENT, PRODUCTION = "development", "production"
# What a load balancer terminating TLS adds to every request it forwards (portal/settings.py trusts it).
BEHIND_TLS = {"X-Forwarded-Proto": "https"}
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class BenchSetupError(RuntimeError):
    """The throwaway portal could not be set up or started; the message says which step failed."""


@dataclass(frozen=True)
class Server:
    base_url: str
    workers: int
    pid: int  # the gunicorn master's
    mode: str = DEVELOPMENT
    headers: dict[str, str] = field(default_factory=dict)  # what every request to it carries
    log_path: Path | None = None  # its output: gunicorn's own lines and the portal's log

    def worker_cpu_seconds(self) -> float | None:
        """User plus system CPU seconds used so far by the master's worker processes; None without /proc."""
        total = 0.0
        try:
            for stat in Path("/proc").glob("[0-9]*/stat"):
                try:
                    # The fields after the command name (which may hold spaces): state, ppid, ... utime, stime.
                    fields = stat.read_text().rpartition(")")[2].split()
                except OSError:  # the process ended meanwhile
                    continue
                if int(fields[1]) == self.pid:
                    total += int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            return None
        return total / _CLOCK_TICKS if total else None


class Portal:
    """A portal with its own database and master key, under a temporary directory removed by ``close``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        master_key = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
        self.environment = {
            **os.environ,
            "PORTAL_VAR_DIR": str(directory),
            "PORTAL_MASTER_KEYS": f"bench:{master_key}",
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DEBUG": "false",
            "ALLOWED_HOSTS": f"{LOOPBACK},localhost",
            "LOG_LEVEL": "WARNING",
            "GUNICORN_ACCESS_LOG": "",
            "GUNICORN_LOG_LEVEL": "warning",
            # The signer key's rate, far above what the run reaches: the throttle's counting stays measured.
            "PORTAL_API_RATES": "signer=1000000000/min",
            # API key digests keyed apart from SECRET_KEY (as README's production settings advise), so the
            # signer key made here still authenticates under the production run's fresh SECRET_KEY.
            "PORTAL_API_KEY_SECRET": secrets.token_urlsafe(32),
        }
        for name in ("DATABASE_URL", "CACHE_URL", "PORTAL_MODE", "PORTAL_MASTER_KEY_ID", "GATEWAY_LOG_LEVEL"):
            self.environment.pop(name, None)  # the embedded defaults, whatever the caller's shell says
        self.production_environment = {
            **self.environment,
            "PORTAL_MODE": PRODUCTION,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "false",
            "GATEWAY_LOG_LEVEL": "INFO",
            "LOG_FORMAT": "json",
        }
        self.client_id = ""
        self.gateway_url = ""
        self.api_key = ""

    @classmethod
    def create(cls) -> Portal:
        """Migrate, seed the demo and republish its API with an hour of validity. Raises BenchSetupError."""
        portal = cls(Path(tempfile.mkdtemp(prefix="portal-bench-")))
        try:
            portal._manage("migrate", "--noinput")
            demo = json.loads(portal._manage("seed_demo", "--json"))
            document = portal.directory / "bench_api.yaml"
            document.write_text(yaml.safe_dump(bench_document(), sort_keys=False), encoding="utf-8")
            portal._manage("import_api", str(document), "--catalog", "sandbox", "--publish")
            portal._token_service_setup()
        except BaseException:
            portal.close()
            raise
        portal.client_id = demo["client_id"]
        portal.gateway_url = demo["gateway_url"]
        return portal

    def _token_service_setup(self) -> None:
        """The token service's profile from a key written here, and a signer API key for it; the reference
        views get both through the servers' environment."""
        key_file, cert_file = self.directory / "bench-key.pem", self.directory / "bench-cert.pem"
        _write_key_pair(key_file, cert_file)
        self._manage("import_keystore", SERVICE_KEYSTORE, "--cert", str(cert_file), "--key", str(key_file))
        self._manage("create_keyprofile", SERVICE_PROFILE_TITLE, "--keystore", SERVICE_KEYSTORE, "--catalog", "sandbox")
        created = json.loads(
            self._manage(
                "create_api_key", "bench-signer", "--org", "personal", "--role", "signer",
                "--profiles", SERVICE_PROFILE, "--json",
            )
        )  # fmt: skip
        self.api_key = created["key"]
        for environment in (self.environment, self.production_environment):
            environment["BENCH_REFERENCE_KEY_FILE"] = str(key_file)
            environment["BENCH_REFERENCE_API_KEY"] = self.api_key

    def service_path(self, action: str) -> str:
        """The token service's path for ``action`` (``tokens``, ``tokens/validate``)."""
        return f"/api/v1/orgs/personal/catalogs/sandbox/key-profiles/{SERVICE_PROFILE}/{action}"

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def gateway_path(self, operation: str) -> str:
        """The demo API's path for ``operation`` (``/generate``), e.g. ``/personal/sandbox/securetoken/generate``."""
        return urllib.parse.urlsplit(self.gateway_url).path + operation

    def _manage(self, *arguments: str) -> str:
        command = [sys.executable, "manage.py", *arguments]
        try:
            done = subprocess.run(
                command,
                cwd=ROOT,
                env=self.environment,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise BenchSetupError(f"manage.py {arguments[0]} took over {COMMAND_TIMEOUT_SECONDS:.0f}s") from e
        if done.returncode != 0:
            raise BenchSetupError(f"manage.py {' '.join(arguments)} failed:\n{done.stderr.strip()}")
        return done.stdout

    @contextmanager
    def serve(self, *, workers: int, mode: str = DEVELOPMENT) -> Iterator[Server]:
        """gunicorn with ``workers`` sync workers on a free loopback port, up and answering /healthz, in
        ``mode`` (DEVELOPMENT or PRODUCTION)."""
        port = _free_port()
        log_path = self.directory / f"gunicorn-{mode}-{workers}w.log"
        base = self.production_environment if mode == PRODUCTION else self.environment
        environment = {**base, "WEB_CONCURRENCY": str(workers), "GUNICORN_BIND": f"{LOOPBACK}:{port}"}
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [gunicorn, "-c", "gunicorn.conf.py", "bench.wsgi"],
                cwd=ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                base_url = f"http://{LOOPBACK}:{port}"
                _wait_until_healthy(process, base_url, log_path)
                headers = dict(BEHIND_TLS) if mode == PRODUCTION else {}
                yield Server(base_url, workers, process.pid, mode=mode, headers=headers, log_path=log_path)
            finally:
                _stop(process)


def _write_key_pair(key_file: Path, cert_file: Path) -> None:
    """A fresh RSA key and a self-signed certificate for it, valid for a day, as PEM files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench.portal.local")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _wait_until_healthy(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchSetupError(f"gunicorn exited with status {process.returncode}:\n{_tail(log_path)}")
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise BenchSetupError(f"gunicorn did not answer /healthz within {START_TIMEOUT_SECONDS:.0f}s:\n{_tail(log_path)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the gunicorn master (a graceful shutdown of its workers), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def fetch(
    url: str, headers: dict[str, str], *, method: str = "GET", body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request on loopback: status, headers (lower-case names) and body; an HTTP error status is returned."""
    request = urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()
