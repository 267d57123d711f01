"""The built-in transport against a relay that serves TLS itself, with a
test CA made at test time (the workspace's `azmx-test-certs` binary, the
same certificates the CLI's cli/tests/tls.rs uses).

Every binding's built-in transport reads `AZMX_CA_FILE` (a PEM CA trusted
instead of the system's store) and `AZMX_ALLOW_INSECURE_HTTP` when the
engine is created (bindings/shared/src/engine.rs).
"""

import json
import os
import subprocess
import sys
import tempfile

import pytest

from azmx_sync import SyncEngine, SyncError

RECEIPT = "RCPT-py-tls-4C1D-88E0-Secret"
LICENSE = "lic_py_tls"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))

sys.path.insert(0, os.path.join(ROOT, "examples", "python"))
import two_devices  # noqa: E402


def certs_bin():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "debug", "azmx-test-certs")


@pytest.fixture(scope="module")
def tls_relay():
    exe = two_devices.cli_path()
    for b in (exe, certs_bin()):
        if not os.path.exists(b):
            pytest.fail(f"{b} missing: cargo build --workspace --bins")
    d = tempfile.mkdtemp(prefix="azmx-py-tls-")
    certs = json.loads(subprocess.run([certs_bin(), d], check=True, capture_output=True,
                                      text=True).stdout)
    data = os.path.join(d, "relay")
    out = subprocess.run([exe, "relay", "license", "add", LICENSE, "--data-dir", data],
                         check=True, capture_output=True, text=True).stdout
    relay = subprocess.Popen(
        [exe, "relay", "serve", "--data-dir", data, "--listen", "127.0.0.1:0",
         "--tls-cert", certs["cert"], "--tls-key", certs["key"]],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = relay.stdout.readline().strip()
        assert line.startswith("listening on https://"), line
        yield dict(url=line.split()[-1], license_key=out.split()[-1], **certs)
    finally:
        relay.terminate()
        relay.wait(timeout=10)


def engine(monkeypatch, ca=None, allow_http=False):
    monkeypatch.delenv("AZMX_CA_FILE", raising=False)
    monkeypatch.delenv("AZMX_ALLOW_INSECURE_HTTP", raising=False)
    if ca:
        monkeypatch.setenv("AZMX_CA_FILE", ca)
    if allow_http:
        monkeypatch.setenv("AZMX_ALLOW_INSECURE_HTTP", "1")
    e = SyncEngine(tempfile.mkdtemp(prefix="azmx-py-tls-dev-"))
    e.register_snippets(two_devices.DictStore())
    return e


def test_the_relays_ca_lets_the_built_in_transport_register_and_sync(tls_relay, monkeypatch):
    e = engine(monkeypatch, ca=tls_relay["ca"])
    e.register(tls_relay["url"], LICENSE, tls_relay["license_key"], "py-tls")
    e.set_receipt(RECEIPT)
    e.verify_receipt()
    e.sync_now()
    assert e.status().last_success_ms is not None


@pytest.mark.parametrize("ca", [None, "otherCa"])
def test_an_unknown_authority_is_refused_naming_the_problem(tls_relay, monkeypatch, ca):
    e = engine(monkeypatch, ca=tls_relay[ca] if ca else None)
    with pytest.raises(SyncError.Network) as err:
        e.register(tls_relay["url"], LICENSE, tls_relay["license_key"], "py-stranger")
    assert "certificate signed by an unknown authority" in str(err.value)
    assert e.device_id() is None


def test_plain_http_to_another_machine_is_refused_unless_allowed(monkeypatch):
    e = engine(monkeypatch)
    with pytest.raises(SyncError.Config) as err:
        e.register("http://10.255.255.1:1", LICENSE, "k", "py-far")
    assert "refusing plain http:// to 10.255.255.1" in str(err.value)
    allowed = engine(monkeypatch, allow_http=True)
    # Allowed, it reaches for the network (and finds nothing there).
    with pytest.raises(SyncError.Network):
        allowed.register("http://example.invalid:8787", LICENSE, "k", "py-far")
