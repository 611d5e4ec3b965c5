"""Secrets and TLS: the scan used across the fault matrix can fail, and TLS is verified unless turned off.

The fault matrix (``test_fault_matrix.py``) scans every run of every cell for the API key and the
base64 credential. This file checks the scan itself, and that TLS verification is on by default on
both HTTP stacks: against a real HTTPS server with a self-signed certificate, the default refuses
and only ``verify: false`` in the connection's extra accepts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from airflow_provider_moengage.api import ConnectionSettings, StatusQuery, build_status_request
from airflow_provider_moengage.exceptions import MoEngageTransportError
from airflow_provider_moengage.hooks.moengage import MoEngageHook

from ..conftest import API_KEY, WORKSPACE
from .conftest import leaks, secrets_of

# --------------------------------------------------------------------------------------------------
# The scan
# --------------------------------------------------------------------------------------------------


def test_the_scan_looks_for_exactly_what_the_provider_sends_as_a_secret(emulator, moengage_conn) -> None:
    settings = MoEngageHook(moengage_conn).settings
    assert list(settings.secrets()) == secrets_of(WORKSPACE, API_KEY)
    assert settings.headers()["Authorization"] == f"Basic {secrets_of(WORKSPACE, API_KEY)[1]}"


def test_the_scan_finds_a_planted_secret() -> None:
    secrets = secrets_of(WORKSPACE, API_KEY)
    assert leaks(secrets, {"clean": "nothing to see", "log": f"Authorization: Basic {secrets[1]}"}) == [
        f"{secrets[1][:6]}... in log"
    ]
    assert leaks(secrets, {"xcom": json.dumps({"key": API_KEY})}) == [f"{API_KEY[:6]}... in xcom"]


def test_the_objects_that_hold_secrets_do_not_print_them(emulator, moengage_conn) -> None:
    settings = MoEngageHook(moengage_conn).settings
    request = build_status_request(settings, StatusQuery.build("daily_users"))
    texts = {"settings": repr(settings), "request": repr(request), "query": repr(StatusQuery.build("daily_users"))}
    assert leaks(settings.secrets(), texts) == []


# --------------------------------------------------------------------------------------------------
# TLS
# --------------------------------------------------------------------------------------------------

PAGE = {
    "status": "success",
    "total_count": 1,
    "more_files": False,
    "data": [{"id": "f1", "file_status": "SUCCESSFUL", "scheduled_at": "2026-12-03T06:00:00"}],
}


def _self_signed(directory: Path) -> tuple[Path, Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps(PAGE).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def https_url(tmp_path: Path) -> Iterator[str]:
    """A real HTTPS server on loopback with a self-signed certificate that no CA vouches for."""
    cert_file, key_file = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(params=["env-bundle", "no-env-bundle"])
def ca_bundle_env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """With and without REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE: requests lets them override Session.verify."""
    import certifi

    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        if request.param == "env-bundle":
            monkeypatch.setenv(name, certifi.where())  # a real bundle that does not vouch for our certificate
        else:
            monkeypatch.delenv(name, raising=False)


def _point_at(monkeypatch: pytest.MonkeyPatch, url: str, **extra: object) -> None:
    connection = {"conn_type": "moengage", "login": WORKSPACE, "password": API_KEY, "host": url}
    connection["extra"] = {"max_attempts": 1, **extra}  # a refused certificate is not worth retrying here
    monkeypatch.setenv("AIRFLOW_CONN_MOENGAGE_DEFAULT", json.dumps(connection))


def _sync_page(hook: MoEngageHook) -> object:
    return hook.fetch_page(StatusQuery.build("daily_users"))


def _async_page(hook: MoEngageHook) -> object:
    return asyncio.run(hook.afetch_page(StatusQuery.build("daily_users")))


@pytest.mark.parametrize("fetch", [_sync_page, _async_page], ids=["requests", "aiohttp"])
def test_tls_is_verified_by_default(https_url: str, monkeypatch, ca_bundle_env, fetch) -> None:
    _point_at(monkeypatch, https_url)
    hook = MoEngageHook()
    assert hook.settings.verify is True and hook.get_conn().verify is True
    with pytest.raises(MoEngageTransportError) as refused:
        fetch(hook)
    assert "certificate verify failed" in str(refused.value).lower()
    assert leaks(hook.settings.secrets(), {"error": str(refused.value)}) == []


@pytest.mark.parametrize("verify", [False, "false", "no", 0], ids=["false", "string-false", "no", "zero"])
@pytest.mark.parametrize("fetch", [_sync_page, _async_page], ids=["requests", "aiohttp"])
def test_tls_verification_is_off_only_when_the_connection_says_so(
    https_url: str, monkeypatch, ca_bundle_env, fetch, verify
) -> None:
    _point_at(monkeypatch, https_url, verify=verify)
    hook = MoEngageHook()
    assert hook.settings.verify is False and hook.get_conn().verify is False
    page = fetch(hook)
    assert [file.id for file in page.files] == ["f1"]


@pytest.mark.parametrize("verify", [True, "true", "yes", 1], ids=["true", "string-true", "yes", "one"])
def test_an_explicit_true_keeps_verification_on(https_url: str, monkeypatch, ca_bundle_env, verify) -> None:
    _point_at(monkeypatch, https_url, verify=verify)
    with pytest.raises(MoEngageTransportError, match=r"(?i)certificate verify failed"):
        _async_page(MoEngageHook())
    assert MoEngageHook().get_conn().verify is True


@pytest.mark.parametrize("verify", ["", "maybe", None], ids=["empty", "maybe", "null"])
def test_an_unclear_verify_setting_is_refused_rather_than_read_as_off(monkeypatch, verify) -> None:
    from airflow_provider_moengage.exceptions import MoEngageConfigurationError

    _point_at(monkeypatch, "https://127.0.0.1:9", verify=verify)
    with pytest.raises(MoEngageConfigurationError, match="'verify' must be true or false"):
        ConnectionSettings.from_connection(MoEngageHook().get_connection("moengage_default"))
