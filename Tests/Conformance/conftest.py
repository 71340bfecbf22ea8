"""The conformance suite's world: onboarder-sim over HTTPS, started here with a test CA this file makes,
a customer tenant with full consent, and a partner certificate uploaded at start. Microsoft's clients
trust the CA through REQUESTS_CA_BUNDLE (requests, under MSAL and azure-core, reads it)."""

import base64
import datetime
import json
import os
import pathlib
import re
import subprocess
from dataclasses import dataclass

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ROOT = pathlib.Path(__file__).resolve().parents[2]
TENANT_ID = "5f1c0e4a-3b8d-4c19-9a7e-1d2b3c4d5e6f"
TENANT_DOMAIN = "conformance.onmicrosoft.com"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def _key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _certificate(subject_key, common_name, issuer=None, ca=False, names=()):
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer_name, signing_key = (issuer[0].subject, issuer[1]) if issuer else (subject, subject_key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False
        )
    return builder.sign(signing_key, hashes.SHA256())


def _pem_key(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _pem_certificate(certificate):
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class Sim:
    base: str
    tenant_id: str
    tenant_domain: str
    client_id: str
    client_secret: str
    ca_path: str
    # The partner app's uploaded certificate: PEM of the key, of the certificate, and both in one file.
    partner_key_pem: str
    partner_certificate_pem: str
    partner_pem_path: str
    partner_sha1_hex: str

    @property
    def authority(self):
        return f"{self.base}/{self.tenant_id}"

    def graph_get(self, token, path):
        return requests.get(f"{self.base}/v1.0/{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def set_faults(self, faults):
        response = requests.put(f"{self.base}/_sim/faults", json=faults, timeout=30)
        response.raise_for_status()


@pytest.fixture(scope="session")
def sim(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sim")
    ca_key = _key()
    ca = _certificate(ca_key, "Onboarder conformance CA", ca=True)
    server_key = _key()
    server = _certificate(server_key, "localhost", issuer=(ca, ca_key), names=["localhost"])
    partner_key = _key()
    partner = _certificate(partner_key, "MSP partner app (conformance)")
    files = {
        "ca.pem": _pem_certificate(ca),
        "server.pem": _pem_certificate(server),
        "server.key": _pem_key(server_key),
        "partner-certificate.pem": _pem_certificate(partner),
        "partner.pem": _pem_certificate(partner) + _pem_key(partner_key),
        "world.json": json.dumps(
            {
                "seed": 19,
                "tenants": [
                    {
                        "id": TENANT_ID,
                        "domain": TENANT_DOMAIN,
                        "display_name": "Conformance",
                        "consent": "full",
                        "sku": "E5",
                        "users": ["alice", "bob", "carol"],
                    }
                ],
            }
        ),
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    binary = os.environ.get("ONBOARDER_SIM_BIN") or str(ROOT / ".build" / "debug" / "onboarder-sim")
    credentials = folder / "credentials.json"
    process = subprocess.Popen(
        [
            binary, "--port", "0", "--world", str(folder / "world.json"), "--credentials", str(credentials),
            "--tls-cert", str(folder / "server.pem"), "--tls-key", str(folder / "server.key"),
            "--partner-certificate", str(folder / "partner-certificate.pem"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        found = re.search(r"on (https://localhost:\d+)", line)
        if not found:
            process.kill()
            raise RuntimeError(f"onboarder-sim did not start: {line!r} {process.stderr.read()!r}")
        document = json.loads(credentials.read_text())
        os.environ["REQUESTS_CA_BUNDLE"] = str(folder / "ca.pem")
        yield Sim(
            base=found.group(1),
            tenant_id=TENANT_ID,
            tenant_domain=TENANT_DOMAIN,
            client_id=document["partner_client_id"],
            client_secret=document["partner_client_secret"],
            ca_path=str(folder / "ca.pem"),
            partner_key_pem=_pem_key(partner_key),
            partner_certificate_pem=_pem_certificate(partner),
            partner_pem_path=str(folder / "partner.pem"),
            partner_sha1_hex=partner.fingerprint(hashes.SHA1()).hex().upper(),
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


class Recorder:
    """Every request the clients send, through requests (which MSAL and azure-core both use)."""

    def __init__(self):
        self.requests = []

    def token_posts(self):
        return [r for r in self.requests if r.method == "POST" and "/oauth2/v2.0/token" in r.url]

    def assertion_headers(self):
        headers = []
        for request in self.token_posts():
            body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
            fields = dict(pair.split("=", 1) for pair in body.split("&") if "=" in pair)
            assertion = requests.utils.unquote(fields.get("client_assertion", ""))
            if assertion:
                encoded = assertion.split(".")[0]
                headers.append(json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))))
        return headers


@pytest.fixture
def recorder(monkeypatch):
    recorder = Recorder()
    send = requests.Session.send

    def recording_send(session, request, **kwargs):
        recorder.requests.append(request)
        return send(session, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", recording_send)
    return recorder

