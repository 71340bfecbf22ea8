"""GDAP discovery's two lists (Sources/Graph/Endpoints/GDAP.swift), sent as Onboarder sends them ($select,
$top=300) through the Microsoft Graph Python SDK's request builders, in the MSP's own (partner) tenant with the
partner app, and read back into the SDK's models with the fields GDAPSelection relies on checked."""

import ssl

import httpx
from azure.identity import ClientSecretCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.delegated_admin_relationship_status import DelegatedAdminRelationshipStatus
from msgraph.generated.tenant_relationships.delegated_admin_customers.delegated_admin_customers_request_builder import (
    DelegatedAdminCustomersRequestBuilder,
)
from msgraph.generated.tenant_relationships.delegated_admin_relationships.delegated_admin_relationships_request_builder import (
    DelegatedAdminRelationshipsRequestBuilder,
)
from msgraph_core import GraphClientFactory

from conftest import GRAPH_SCOPE
from test_graph_sdk import run

# The default MSP's own tenant in every simulated world; the token endpoint takes a domain as the tenant.
PARTNER_DOMAIN = "msp.onmicrosoft.com"
# Privileged Role Administrator's template id (Microsoft Entra built-in roles).
PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814"


def partner_graph(sim):
    credential = ClientSecretCredential(
        PARTNER_DOMAIN, sim.client_id, sim.client_secret, authority=sim.base, disable_instance_discovery=True
    )
    auth = AzureIdentityAuthenticationProvider(credential, scopes=[GRAPH_SCOPE], allowed_hosts=["localhost"])
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(verify=ssl.create_default_context(cafile=sim.ca_path))
    )
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = f"{sim.base}/v1.0"
    return GraphServiceClient(request_adapter=adapter)


def test_delegated_admin_customers_and_relationships(sim):
    async def check():
        client = partner_graph(sim)
        customers = await client.tenant_relationships.delegated_admin_customers.get(
            request_configuration=RequestConfiguration(
                query_parameters=DelegatedAdminCustomersRequestBuilder.DelegatedAdminCustomersRequestBuilderGetQueryParameters(
                    select=["id", "tenantId", "displayName"], top=300
                )
            )
        )
        assert sim.tenant_id in [c.tenant_id for c in customers.value]
        relationships = await client.tenant_relationships.delegated_admin_relationships.get(
            request_configuration=RequestConfiguration(
                query_parameters=DelegatedAdminRelationshipsRequestBuilder.DelegatedAdminRelationshipsRequestBuilderGetQueryParameters(
                    select=["id", "displayName", "status", "endDateTime", "customer", "accessDetails"],
                    top=300,
                    filter=f"customer/tenantId eq '{sim.tenant_id}'",
                )
            )
        )
        assert [r.customer.tenant_id for r in relationships.value] == [sim.tenant_id]
        relationship = relationships.value[0]
        assert relationship.status == DelegatedAdminRelationshipStatus.Active
        assert relationship.end_date_time is not None
        roles = [role.role_definition_id for role in relationship.access_details.unified_roles]
        assert PRIVILEGED_ROLE_ADMINISTRATOR in roles

    run(check())
