"""Tokens from onboarder-sim through Microsoft's own clients, unchanged: MSAL for Python and azure-identity,
by secret and by certificate (x5t alone, and x5c with the chain), through OpenID Connect discovery over
HTTPS. Each token is then used on Graph, and checked against the keys the discovery document names."""

import base64
import json

import msal
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CertificateCredential, ClientSecretCredential
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

from conftest import GRAPH_SCOPE


def _b64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _claims(token):
    return json.loads(_b64url(token.split(".")[1]))


def _msal_app(sim, credential, authority=None):
    # instance_discovery=False: MSAL would otherwise ask login.microsoftonline.com about an unknown host.
    return msal.ConfidentialClientApplication(
        sim.client_id, client_credential=credential, authority=authority or sim.authority, instance_discovery=False
    )


def _assert_works_on_graph(sim, token):
    claims = _claims(token)
    assert claims["tid"] == sim.tenant_id
    assert claims["appid"] == sim.client_id
    response = sim.graph_get(token, "organization")
    assert response.status_code == 200, response.text
    assert response.json()["value"][0]["id"] == sim.tenant_id


def test_msal_secret_through_discovery(sim, recorder):
    result = _msal_app(sim, sim.client_secret).acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert "access_token" in result, result
    assert result["token_type"].lower() == "bearer"
    assert any(r.method == "GET" and r.url.endswith("/v2.0/.well-known/openid-configuration") for r in recorder.requests)
    _assert_works_on_graph(sim, result["access_token"])


def test_msal_authority_by_domain_posts_to_the_endpoint_discovery_names(sim, recorder):
    app = _msal_app(sim, sim.client_secret, authority=f"{sim.base}/{sim.tenant_domain}")
    result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert "access_token" in result, result
    assert [r.url for r in recorder.token_posts()] == [f"{sim.base}/{sim.tenant_id}/oauth2/v2.0/token"]


def test_msal_certificate_by_thumbprint_sends_x5t(sim, recorder):
    credential = {"private_key": sim.partner_key_pem, "thumbprint": sim.partner_sha1_hex}
    result = _msal_app(sim, credential).acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert "access_token" in result, result
    [header] = recorder.assertion_headers()
    assert "x5t" in header or "x5t#S256" in header
    assert "x5c" not in header
    _assert_works_on_graph(sim, result["access_token"])


def test_msal_certificate_with_public_certificate_sends_x5c(sim, recorder):
    credential = {
        "private_key": sim.partner_key_pem,
        "thumbprint": sim.partner_sha1_hex,
        "public_certificate": sim.partner_certificate_pem,
    }
    result = _msal_app(sim, credential).acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert "access_token" in result, result
    [header] = recorder.assertion_headers()
    assert header.get("x5c"), header
    _assert_works_on_graph(sim, result["access_token"])


def test_msal_wrong_secret_is_entras_invalid_client(sim):
    result = _msal_app(sim, "not-the-secret").acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert result.get("error") == "invalid_client", result
    assert result.get("error_codes") == [7000215]


def test_msal_unknown_certificate_is_entras_key_not_found(sim):
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives import serialization

    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = stranger.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    result = _msal_app(sim, {"private_key": pem, "thumbprint": "00" * 20}).acquire_token_for_client(
        scopes=[GRAPH_SCOPE]
    )
    assert result.get("error") == "invalid_client", result
    assert result.get("error_codes") == [700027]


def test_the_discovered_keys_verify_the_token(sim):
    result = _msal_app(sim, sim.client_secret).acquire_token_for_client(scopes=[GRAPH_SCOPE])
    token = result["access_token"]
    metadata = requests.get(f"{sim.authority}/v2.0/.well-known/openid-configuration", timeout=30).json()
    assert metadata["issuer"] == f"{sim.base}/{sim.tenant_id}/v2.0"
    keys = requests.get(metadata["jwks_uri"], timeout=30).json()["keys"]
    header = json.loads(_b64url(token.split(".")[0]))
    [key] = [k for k in keys if k["kid"] == header["kid"]]
    public_key = RSAPublicNumbers(
        int.from_bytes(_b64url(key["e"]), "big"), int.from_bytes(_b64url(key["n"]), "big")
    ).public_key()
    head, payload, signature = token.split(".")
    public_key.verify(_b64url(signature), f"{head}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())


def test_msal_throttled_token_request_is_429_with_retry_after(sim, recorder):
    sim.set_faults({"error_rate": 1, "error_statuses": [429]})
    try:
        result = _msal_app(sim, sim.client_secret).acquire_token_for_client(scopes=[GRAPH_SCOPE])
    finally:
        sim.set_faults({})
    assert "access_token" not in result, result
    assert result.get("error_codes") == [90055], result
    [post] = [r for r in recorder.requests if r.method == "POST"]
    assert post.url.endswith("/oauth2/v2.0/token")


def _identity_kwargs(sim):
    return {"authority": sim.base, "disable_instance_discovery": True}


def test_azure_identity_client_secret(sim):
    credential = ClientSecretCredential(sim.tenant_id, sim.client_id, sim.client_secret, **_identity_kwargs(sim))
    _assert_works_on_graph(sim, credential.get_token(GRAPH_SCOPE).token)


@pytest.mark.parametrize("send_chain", [False, True])
def test_azure_identity_certificate(sim, recorder, send_chain):
    credential = CertificateCredential(
        sim.tenant_id,
        sim.client_id,
        certificate_path=sim.partner_pem_path,
        send_certificate_chain=send_chain,
        **_identity_kwargs(sim),
    )
    _assert_works_on_graph(sim, credential.get_token(GRAPH_SCOPE).token)
    [header] = recorder.assertion_headers()
    assert ("x5c" in header) == send_chain, header


def test_azure_identity_wrong_secret_raises(sim):
    credential = ClientSecretCredential(sim.tenant_id, sim.client_id, "not-the-secret", **_identity_kwargs(sim))
    with pytest.raises(ClientAuthenticationError) as raised:
        credential.get_token(GRAPH_SCOPE)
    assert "AADSTS7000215" in str(raised.value)
