"""The rest of the Graph operations Onboarder makes (Sources/Graph/Endpoints), each sent as Onboarder sends it
(method, key, body, $select/$filter, headers) through the Microsoft Graph Python SDK's request builders and
models, and each answer read back into the SDK's models with the fields Onboarder's decoder relies on checked.
test_graph_sdk.py has the first ones; this file follows its style and reuses its client. It creates a user,
so it runs after test_graph_sdk.py (pytest takes files by name), whose check counts the world's users."""

import datetime
import uuid

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.applications.item.add_password.add_password_post_request_body import (
    AddPasswordPostRequestBody,
)
from msgraph.generated.applications.applications_request_builder import ApplicationsRequestBuilder
from msgraph.generated.applications.item.application_item_request_builder import ApplicationItemRequestBuilder
from msgraph.generated.applications_with_unique_name.applications_with_unique_name_request_builder import (
    ApplicationsWithUniqueNameRequestBuilder,
)
from msgraph.generated.models.app_role_assignment import AppRoleAssignment
from msgraph.generated.models.application import Application
from msgraph.generated.models.assigned_license import AssignedLicense
from msgraph.generated.models.domain import Domain
from msgraph.generated.models.domain_dns_txt_record import DomainDnsTxtRecord
from msgraph.generated.models.key_credential import KeyCredential
from msgraph.generated.models.o_auth2_permission_grant import OAuth2PermissionGrant
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.password_credential import PasswordCredential
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.required_resource_access import RequiredResourceAccess
from msgraph.generated.models.resource_access import ResourceAccess
from msgraph.generated.models.service_principal import ServicePrincipal
from msgraph.generated.models.user import User
from msgraph.generated.models.web_application import WebApplication
from msgraph.generated.oauth2_permission_grants.oauth2_permission_grants_request_builder import (
    Oauth2PermissionGrantsRequestBuilder,
)
from msgraph.generated.service_principals.service_principals_request_builder import (
    ServicePrincipalsRequestBuilder,
)
from msgraph.generated.service_principals_with_app_id.service_principals_with_app_id_request_builder import (
    ServicePrincipalsWithAppIdRequestBuilder,
)
from msgraph.generated.users.item.assign_license.assign_license_post_request_body import AssignLicensePostRequestBody
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder
from msgraph.generated.users.users_request_builder import UsersRequestBuilder

from test_graph_sdk import GRAPH_APP_ID, graph, run

# Microsoft Graph's User.Read (delegated) and User.Read.All (application): the ids Graph publishes.
USER_READ = uuid.UUID("e1fe6dd8-ba31-4d61-89e7-88639da4683d")
USER_READ_ALL = uuid.UUID("df021288-bdef-4463-88db-98f22de89214")
# Onboarder's user properties (GraphClient.userProperties).
USER_PROPERTIES = ["id", "userPrincipalName", "usageLocation", "accountEnabled", "assignedLicenses"]


def _registration(name, redirect):
    """The body of Onboarder's upsert (ApplicationRegistration): name, audience, redirect URIs, permissions."""
    return Application(
        display_name=name,
        sign_in_audience="AzureADMyOrg",
        web=WebApplication(redirect_uris=[redirect]),
        required_resource_access=[
            RequiredResourceAccess(
                resource_app_id=GRAPH_APP_ID,
                resource_access=[ResourceAccess(id=USER_READ_ALL, type="Role"), ResourceAccess(id=USER_READ, type="Scope")],
            )
        ],
    )


def _upsert_configuration():
    configuration = RequestConfiguration()
    configuration.headers.add("Prefer", "create-if-missing")
    return configuration


def _select(builder, *fields):
    """A GET request configuration of `builder` (a request builder class) with `$select` = fields."""
    query_type = next(value for name, value in vars(builder).items() if name.endswith("GetQueryParameters"))
    return RequestConfiguration(query_parameters=query_type(select=list(fields)))


async def _upserted(client, name):
    await client.applications_with_unique_name(name).patch(
        _registration(name, "https://pbx.example.com/callback"), _upsert_configuration()
    )
    return await client.applications_with_unique_name(name).get(
        _select(ApplicationsWithUniqueNameRequestBuilder, "id", "appId", "displayName", "uniqueName")
    )


def test_upsert_by_unique_name_creates_then_updates(sim):
    """PATCH /applications(uniqueName='…') with `Prefer: create-if-missing` (GraphClient.upsertApplication):
    201 with the new app the first time, 204 the second time, read back by the same key with its $select."""

    async def check():
        client = graph(sim)
        name = f"onboarder-{uuid.uuid4()}"
        created = await client.applications_with_unique_name(name).patch(
            _registration(name, "https://pbx.example.com/callback"), _upsert_configuration()
        )
        assert created.id and created.app_id and created.unique_name == name
        updated = await client.applications_with_unique_name(name).patch(
            _registration(name + " renamed", "https://pbx.example.com/other"), _upsert_configuration()
        )
        assert updated is None  # 204: an update answers without a body
        fetched = await client.applications_with_unique_name(name).get(
            _select(ApplicationsWithUniqueNameRequestBuilder, "id", "appId", "displayName", "uniqueName")
        )
        assert (fetched.id, fetched.app_id, fetched.unique_name) == (created.id, created.app_id, name)
        assert fetched.display_name == name + " renamed"
        assert fetched.web is None  # $select answers with the named properties only
        full = await client.applications.by_application_id(created.id).get()
        assert full.web.redirect_uris == ["https://pbx.example.com/other"]
        [access] = full.required_resource_access
        assert access.resource_app_id == GRAPH_APP_ID
        assert {(a.id, a.type) for a in access.resource_access} == {(USER_READ_ALL, "Role"), (USER_READ, "Scope")}

    run(check())


def test_applications_listed_page_by_page(sim):
    """GET /applications?$filter=…&$top=… then each @odata.nextLink as given (GraphClient.items, which every
    list goes through): the SDK follows the link with `with_url`, its documented way for a server's link."""

    async def check():
        client = graph(sim)
        name = f"onboarder-{uuid.uuid4()}"
        created = {(await client.applications.post(Application(display_name=name))).id for _ in range(3)}
        query = ApplicationsRequestBuilder.ApplicationsRequestBuilderGetQueryParameters(
            filter=f"displayName eq '{name}'", top=2
        )
        page = await client.applications.get(RequestConfiguration(query_parameters=query))
        pages = [page]
        while page.odata_next_link:
            page = await client.applications.with_url(page.odata_next_link).get()
            pages.append(page)
        assert [len(p.value) for p in pages] == [2, 1]
        assert {a.id for p in pages for a in p.value} == created

    run(check())


def test_application_passwords_by_select(sim):
    """GET /applications/{id}?$select=id,appId,passwordCredentials (GraphClient.passwords): the key ids and
    end dates, never a secret."""

    async def check():
        client = graph(sim)
        app = await _upserted(client, f"onboarder-{uuid.uuid4()}")
        added = await client.applications.by_application_id(app.id).add_password.post(
            AddPasswordPostRequestBody(password_credential=PasswordCredential(display_name="onboarder"))
        )
        fetched = await client.applications.by_application_id(app.id).get(
            _select(ApplicationItemRequestBuilder, "id", "appId", "passwordCredentials")
        )
        assert (fetched.id, fetched.app_id) == (app.id, app.app_id)
        [password] = fetched.password_credentials
        assert password.key_id == added.key_id and password.display_name == "onboarder"
        assert password.end_date_time and password.secret_text is None
        assert fetched.display_name is None

    run(check())


def test_application_certificates_replaced_and_read_by_select(sim):
    """PATCH /applications/{id} with keyCredentials replaces the whole list (GraphClient.setCertificates), and
    GET ?$select=id,appId,keyCredentials (GraphClient.certificates) lists each with its thumbprint."""

    async def check():
        client = graph(sim)
        app = await _upserted(client, f"onboarder-{uuid.uuid4()}")
        der = x509.load_pem_x509_certificate(sim.partner_certificate_pem.encode()).public_bytes(Encoding.DER)
        key = KeyCredential(type="AsymmetricX509Cert", usage="Verify", key=der, display_name="CN=first")
        await client.applications.by_application_id(app.id).patch(Application(key_credentials=[key]))
        key.display_name = "CN=replaced"
        await client.applications.by_application_id(app.id).patch(Application(key_credentials=[key]))
        fetched = await client.applications.by_application_id(app.id).get(
            _select(ApplicationItemRequestBuilder, "id", "appId", "keyCredentials")
        )
        assert fetched.app_id == app.app_id
        [certificate] = fetched.key_credentials
        assert certificate.display_name == "CN=replaced"
        assert certificate.key_id and certificate.end_date_time
        assert (certificate.type, certificate.usage) == ("AsymmetricX509Cert", "Verify")
        assert certificate.custom_key_identifier.hex().upper() == sim.partner_sha1_hex
        assert certificate.key == der  # filled on a single-object GET that selects keyCredentials, as Graph does

    run(check())


def test_service_principal_by_filter_with_select_and_conflict(sim):
    """GET /servicePrincipals?$filter=appId eq '…'&$select=id,appId (GraphClient.servicePrincipal), and a second
    POST /servicePrincipals for the same app: Graph's 409, which the service-principal step reads as "made by
    an earlier try, not listed yet"."""

    async def check():
        client = graph(sim)
        app = await _upserted(client, f"onboarder-{uuid.uuid4()}")
        principal = await client.service_principals.post(ServicePrincipal(app_id=app.app_id))
        query = ServicePrincipalsRequestBuilder.ServicePrincipalsRequestBuilderGetQueryParameters(
            filter=f"appId eq '{app.app_id}'", select=["id", "appId"]
        )
        [found] = (await client.service_principals.get(RequestConfiguration(query_parameters=query))).value
        assert (found.id, found.app_id) == (principal.id, app.app_id)
        assert found.display_name is None
        with pytest.raises(ODataError) as conflict:
            await client.service_principals.post(ServicePrincipal(app_id=app.app_id))
        assert conflict.value.response_status_code == 409
        assert conflict.value.error.code == "Request_MultipleObjectsWithSameKeyValue"

    run(check())


def test_microsoft_graph_service_principal_by_app_id_key(sim):
    """GET /servicePrincipals(appId='00000003-…')?$select=id,appId,appRoles,oauth2PermissionScopes
    (GraphClient.microsoftGraphServicePrincipal): where permission names become ids."""

    async def check():
        principal = await graph(sim).service_principals_with_app_id(GRAPH_APP_ID).get(
            _select(ServicePrincipalsWithAppIdRequestBuilder, "id", "appId", "appRoles", "oauth2PermissionScopes")
        )
        assert principal.id and principal.app_id == GRAPH_APP_ID
        assert {r.value: r.id for r in principal.app_roles}["User.Read.All"] == USER_READ_ALL
        assert {s.value: s.id for s in principal.oauth2_permission_scopes}["User.Read"] == USER_READ

    run(check())


def test_permission_grants_by_filter_and_scope_update(sim):
    """GET /oauth2PermissionGrants?$filter=clientId eq '…' (GraphClient.permissionGrants) and
    PATCH /oauth2PermissionGrants/{id} with the scope only (GraphClient.updateGrant)."""

    async def check():
        client = graph(sim)
        app = await _upserted(client, f"onboarder-{uuid.uuid4()}")
        principal = await client.service_principals.post(ServicePrincipal(app_id=app.app_id))
        resource = await client.service_principals_with_app_id(GRAPH_APP_ID).get()
        await client.oauth2_permission_grants.post(
            OAuth2PermissionGrant(
                client_id=principal.id, consent_type="AllPrincipals", resource_id=resource.id, scope="User.Read"
            )
        )
        query = Oauth2PermissionGrantsRequestBuilder.Oauth2PermissionGrantsRequestBuilderGetQueryParameters(
            filter=f"clientId eq '{principal.id}'"
        )
        [grant] = (await client.oauth2_permission_grants.get(RequestConfiguration(query_parameters=query))).value
        assert (grant.client_id, grant.resource_id, grant.consent_type) == (principal.id, resource.id, "AllPrincipals")
        await client.oauth2_permission_grants.by_o_auth2_permission_grant_id(grant.id).patch(
            OAuth2PermissionGrant(scope="User.Read openid")
        )
        [updated] = (await client.oauth2_permission_grants.get(RequestConfiguration(query_parameters=query))).value
        assert set(updated.scope.split()) == {"User.Read", "openid"}

    run(check())


def test_domain_create_read_records_and_verify(sim):
    """The Teams path's SBC domain (Endpoints/Domains.swift): POST /domains, GET /domains/{id},
    GET …/verificationDnsRecords (the MS=… TXT value), POST …/verify — a 400 while the TXT record is not
    published, which Onboarder reads as "not yet"."""

    async def check():
        client = graph(sim)
        name = f"sbc-{uuid.uuid4().hex[:12]}.example.com"
        created = await client.domains.post(Domain(id=name))
        assert created.id == name and created.is_verified is False
        fetched = await client.domains.by_domain_id(name).get()
        assert fetched.id == name and fetched.is_verified is False and fetched.supported_services is not None
        records = (await client.domains.by_domain_id(name).verification_dns_records.get()).value
        [txt] = [r for r in records if r.record_type.lower() == "txt"]
        assert isinstance(txt, DomainDnsTxtRecord) and txt.text.startswith("MS=") and txt.label == name
        with pytest.raises(ODataError) as refused:
            await client.domains.by_domain_id(name).verify.post()
        assert refused.value.response_status_code == 400
        _publish_txt(sim, name, txt.text)  # through the simulated DNS provider, as Onboarder's DNS step does
        verified = await client.domains.by_domain_id(name).verify.post()
        assert verified.id == name and verified.is_verified is True
        assert not (await client.domains.by_domain_id(name).verification_dns_records.get()).value

    run(check())


def _publish_txt(sim, name, text):
    """The TXT record on the simulator's Cloudflare-shaped DNS API (not Graph: outside this suite's contract)."""
    headers = {"Authorization": "Bearer conformance"}
    zones = requests.get(f"{sim.base}/client/v4/zones", params={"name": name}, headers=headers, timeout=30)
    zone = zones.json()["result"][0]["id"]
    created = requests.post(
        f"{sim.base}/client/v4/zones/{zone}/dns_records",
        json={"type": "TXT", "name": name, "content": text, "ttl": 60},
        headers=headers,
        timeout=30,
    )
    created.raise_for_status()


def test_user_create_read_locate_license_and_details(sim):
    """The Teams activation user (Endpoints/Users.swift): POST /users, GET /users/{id}?$select=…,
    PATCH /users/{id} (usageLocation), POST assignLicense, GET licenseDetails, and GET /subscribedSkus."""

    async def check():
        client = graph(sim)
        skus = (await client.subscribed_skus.get()).value
        sku = next(s for s in skus if (s.prepaid_units.enabled or 0) > (s.consumed_units or 0))
        assert sku.sku_id and sku.sku_part_number and all(p.service_plan_name for p in sku.service_plans)
        upn = f"teams-{uuid.uuid4().hex[:8]}@{sim.tenant_domain}"
        created = await client.users.post(
            User(
                account_enabled=True,
                display_name="Teams activation",
                mail_nickname=upn.split("@")[0],
                user_principal_name=upn,
                usage_location="DE",
                password_profile=PasswordProfile(force_change_password_next_sign_in=False, password=f"P-{uuid.uuid4()}"),
            )
        )
        assert created.id and created.user_principal_name == upn
        await client.users.by_user_id(created.id).patch(User(usage_location="AT"))
        await client.users.by_user_id(upn).assign_license.post(
            AssignLicensePostRequestBody(
                add_licenses=[AssignedLicense(sku_id=sku.sku_id, disabled_plans=[])], remove_licenses=[]
            )
        )
        fetched = await client.users.by_user_id(upn).get(_select(UserItemRequestBuilder, *USER_PROPERTIES))
        assert (fetched.id, fetched.user_principal_name) == (created.id, upn)
        assert fetched.usage_location == "AT" and fetched.account_enabled is True
        assert [license.sku_id for license in fetched.assigned_licenses] == [sku.sku_id]
        details = (await client.users.by_user_id(created.id).license_details.get()).value
        assert {p.service_plan_name for d in details for p in d.service_plans} == {
            p.service_plan_name for p in sku.service_plans
        }

    run(check())


def test_users_listed_with_select(sim):
    """GET /users?$select=id,userPrincipalName,usageLocation,accountEnabled,assignedLicenses (GraphClient.users)."""

    async def check():
        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(select=USER_PROPERTIES)
        users = (await graph(sim).users.get(RequestConfiguration(query_parameters=query))).value
        assert users and all(u.id and u.user_principal_name and u.assigned_licenses is not None for u in users)
        assert all(u.display_name is None for u in users)

    run(check())


def test_access_proof_reads_one_user_id(sim):
    """GET /users?$top=1&$select=id (GraphClient.proveAccess) with a token of the app just registered, by the
    secret just added: one user, its id only. The app holds User.Read.All through its own service principal."""

    async def check():
        client = graph(sim)
        app = await _upserted(client, f"onboarder-{uuid.uuid4()}")
        password = await client.applications.by_application_id(app.id).add_password.post(
            AddPasswordPostRequestBody(password_credential=PasswordCredential(display_name="onboarder"))
        )
        principal = await client.service_principals.post(ServicePrincipal(app_id=app.app_id))
        resource = await client.service_principals_with_app_id(GRAPH_APP_ID).get()
        await client.service_principals.by_service_principal_id(resource.id).app_role_assigned_to.post(
            AppRoleAssignment(
                principal_id=uuid.UUID(principal.id), resource_id=uuid.UUID(resource.id), app_role_id=USER_READ_ALL
            )
        )
        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(top=1, select=["id"])
        proof = graph(sim, app.app_id, password.secret_text)
        [user] = (await proof.users.get(RequestConfiguration(query_parameters=query))).value
        assert user.id and user.user_principal_name is None

    run(check())


def test_default_app_management_policy(sim):
    """GET /policies/defaultAppManagementPolicy (GraphClient.maxPasswordLifetimeDays). It needs Policy.Read.All,
    which the partner app's consent does not include: Graph's 403 Authorization_RequestDenied, read by the SDK
    as an ODataError, is the answer Onboarder falls back on (addPassword's own refusal then names the cap).
    Once the role is assigned to the partner's service principal, a new token reads the policy: the
    passwordLifetime restriction's maxLifetime (an ISO 8601 duration) is what Onboarder reads. Last in this
    file: it leaves the role assigned."""

    async def check():
        with pytest.raises(ODataError) as denied:
            await graph(sim).policies.default_app_management_policy.get()
        assert denied.value.response_status_code == 403
        assert denied.value.error.code == "Authorization_RequestDenied"

        client = graph(sim)
        partner = await client.service_principals_with_app_id(sim.client_id).get()
        resource = await client.service_principals_with_app_id(GRAPH_APP_ID).get()
        role = next(r for r in resource.app_roles if r.value == "Policy.Read.All")
        await client.service_principals.by_service_principal_id(resource.id).app_role_assigned_to.post(
            AppRoleAssignment(
                principal_id=uuid.UUID(partner.id), resource_id=uuid.UUID(resource.id), app_role_id=role.id
            )
        )
        requests.patch(
            f"{sim.base}/_sim/tenants/{sim.tenant_id}", json={"max_password_lifetime_days": 200}, timeout=30
        ).raise_for_status()
        try:
            policy = await graph(sim).policies.default_app_management_policy.get()
        finally:
            requests.patch(
                f"{sim.base}/_sim/tenants/{sim.tenant_id}", json={"max_password_lifetime_days": None}, timeout=30
            ).raise_for_status()
        assert policy.id and policy.is_enabled is True
        [lifetime] = [
            r for r in policy.application_restrictions.password_credentials if r.restriction_type == "passwordLifetime"
        ]
        assert lifetime.max_lifetime == datetime.timedelta(days=200)

    run(check())
