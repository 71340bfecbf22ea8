"""Graph beta's credential sign-in report, `GET /beta/reports/appCredentialSignInActivities`, read as a
Microsoft client reads it: tokens from MSAL for Python (a secret, and a certificate assertion with x5t), the
report over requests as Microsoft's documented HTTP example sends it. The pinned msgraph-sdk covers v1.0
only and the beta SDK is a separate, very large package, so each entry is checked field by field against
the documented `appCredentialSignInActivity` instead of being parsed into an SDK model."""

import base64
import datetime
import uuid

import msal
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from conftest import GRAPH_SCOPE, _certificate, _key, _pem_key

FIELDS = {
    "id", "keyId", "keyType", "keyUsage", "appId", "appObjectId", "servicePrincipalObjectId", "resourceId",
    "credentialOrigin", "createdDateTime", "expirationDateTime", "signInActivity",
}


def _token(sim, client_id, credential):
    # A new application object each time: MSAL caches tokens per object, and a changed consent needs a new one.
    app = msal.ConfidentialClientApplication(
        client_id, client_credential=credential, authority=sim.authority, instance_discovery=False
    )
    result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert "access_token" in result, result
    return result["access_token"]


def _partner(sim):
    return _token(sim, sim.client_id, sim.client_secret)


def _graph(sim, token, method, path, body=None):
    response = requests.request(
        method, f"{sim.base}/v1.0/{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def _report(sim, token, app_id=None):
    params = {"$filter": f"appId eq '{app_id}'"} if app_id else None
    return requests.get(
        f"{sim.base}/beta/reports/appCredentialSignInActivities",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def _set_tenant(sim, **settings):
    requests.patch(f"{sim.base}/_sim/tenants/{sim.tenant_id}", json=settings, timeout=30).raise_for_status()


def _timestamp(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_report_lists_each_credential_that_signed_in_by_msal(sim):
    partner = _partner(sim)
    app = _graph(sim, partner, "POST", "applications", {"displayName": f"report check {uuid.uuid4()}"})
    used = _graph(sim, partner, "POST", f"applications/{app['id']}/addPassword", {"passwordCredential": {}})
    unused = _graph(sim, partner, "POST", f"applications/{app['id']}/addPassword", {"passwordCredential": {}})
    key = _key()
    certificate = _certificate(key, "report check")
    der = certificate.public_bytes(Encoding.DER)
    _graph(
        sim, partner, "PATCH", f"applications/{app['id']}",
        {"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": base64.b64encode(der).decode()}]},
    )
    assert _report(sim, partner, app["appId"]).json()["value"] == []

    before = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
    _token(sim, app["appId"], used["secretText"])
    thumbprint = certificate.fingerprint(hashes.SHA1()).hex().upper()
    _token(sim, app["appId"], {"private_key": _pem_key(key), "thumbprint": thumbprint})

    response = _report(sim, partner, app["appId"])
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["@odata.context"].endswith("/beta/$metadata#reports/appCredentialSignInActivities")
    entries = {entry["keyId"]: entry for entry in document["value"]}
    stored = _graph(sim, partner, "GET", f"applications/{app['id']}?$select=keyCredentials")
    certificate_key_id = stored["keyCredentials"][0]["keyId"]
    assert set(entries) == {used["keyId"], certificate_key_id}
    assert unused["keyId"] not in entries
    for entry in entries.values():
        assert FIELDS <= set(entry), entry
        assert entry["appId"] == app["appId"]
        assert entry["appObjectId"] == app["id"]
        assert entry["credentialOrigin"] == "application"
        assert entry["keyUsage"] in {"sign", "verify"}
        assert _timestamp(entry["signInActivity"]["lastSignInDateTime"]) >= before
        assert uuid.UUID(entry["signInActivity"]["lastSignInRequestId"])
        assert _timestamp(entry["expirationDateTime"]) > _timestamp(entry["createdDateTime"])
    assert entries[used["keyId"]]["keyType"] == "clientSecret"
    assert entries[certificate_key_id]["keyType"] == "certificate"


def test_report_needs_audit_log_and_a_premium_tenant(sim):
    try:
        _set_tenant(sim, audit_log_consent=False)
        response = _report(sim, _partner(sim))
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "Authorization_RequestDenied"
        _set_tenant(sim, audit_log_consent=True, entra_id_premium=False)
        response = _report(sim, _partner(sim))
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
    finally:
        _set_tenant(sim, audit_log_consent=True, entra_id_premium=True)
