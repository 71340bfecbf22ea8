-- MSPs as first-class records: each MSP may bring its own partner app (in its own tenant, on its own
-- Microsoft cloud), its own consent route, DNS provider and write rate. An MSP whose row names no partner
-- app uses the configuration's ([partner], [microsoft], [dns]): a single-MSP install changes nothing.
--
-- What identifies and routes is here, readable by the MSP's operators (a partner app's client id is no
-- secret: it is in every admin-consent URL the MSP sends out). What proves the partner app's identity,
-- and the DNS provider's credential, is in onboarder.msp_secrets, sealed under the secrets key and bound
-- to the MSP and the column (`onboarder.msp_secrets/<column without _sealed>/<msp id>`), so a sealed
-- value moved to another MSP's row or column does not open. Only the owner writes either table (0007's
-- reasoning: a leaked worker password must not redirect an MSP's onboardings to another partner app).

ALTER TABLE onboarder.msps
    ADD COLUMN cloud text NOT NULL DEFAULT 'global'
        CONSTRAINT msps_cloud CHECK (cloud IN ('global', 'usgov', 'china')),
    ADD COLUMN partner_tenant_id uuid,
    ADD COLUMN partner_client_id uuid,
    ADD COLUMN consent_mode text NOT NULL DEFAULT 'links'
        CONSTRAINT msps_consent_mode CHECK (consent_mode IN ('links', 'partner-center')),
    ADD COLUMN dns_provider text
        CONSTRAINT msps_dns_provider CHECK (dns_provider IN ('manual', 'cloudflare', 'rfc2136')),
    ADD COLUMN dns_zone text CONSTRAINT msps_dns_zone CHECK (dns_zone ~ '^[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$'),
    ADD COLUMN dns_server text CONSTRAINT msps_dns_server CHECK (length(dns_server) <= 255),
    ADD COLUMN dns_base_url text CONSTRAINT msps_dns_base_url CHECK (dns_base_url ~ '^https?://[^\s]+$'),
    ADD COLUMN dns_tsig_key_name text CONSTRAINT msps_dns_tsig_key_name CHECK (length(dns_tsig_key_name) <= 255),
    ADD COLUMN dns_tsig_algorithm text CONSTRAINT msps_dns_tsig_algorithm CHECK (
        dns_tsig_algorithm IN ('hmac-sha256', 'hmac-sha512', 'hmac-sha384', 'hmac-sha224', 'hmac-sha1')),
    ADD COLUMN writes_per_second real CONSTRAINT msps_writes_per_second CHECK (writes_per_second > 0),
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    -- The partner app lives in the MSP's own tenant: a client id without its tenant cannot get a token.
    ADD CONSTRAINT msps_partner_app CHECK ((partner_client_id IS NULL) = (partner_tenant_id IS NULL));
COMMENT ON COLUMN onboarder.msps.cloud IS
    'The Microsoft cloud of the MSP and its customers: global, usgov (GCC High) or china (21Vianet).';
COMMENT ON COLUMN onboarder.msps.partner_client_id IS
    'The MSP''s own multi-tenant partner app (with partner_tenant_id, its home tenant). NULL: the configuration''s.';
COMMENT ON COLUMN onboarder.msps.consent_mode IS
    'links: customers'' administrators consent through the admin-consent URL; partner-center: through Partner Center where it can.';
COMMENT ON COLUMN onboarder.msps.dns_provider IS 'Where the Teams path''s TXT record goes for this MSP. NULL: the configuration''s [dns].';
COMMENT ON COLUMN onboarder.msps.writes_per_second IS
    'Graph writes per second this MSP''s partner app may make across all workers. NULL: none of its own.';

CREATE TABLE onboarder.msp_secrets (
    msp_id                  text PRIMARY KEY REFERENCES onboarder.msps ON DELETE CASCADE,
    partner_secret_sealed   text CONSTRAINT msp_secrets_partner_secret
                                CHECK (partner_secret_sealed ~ '^og1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$'),
    -- The certificate is public (Entra shows it on the app); only its private key is sealed.
    partner_certificate_pem text CONSTRAINT msp_secrets_partner_certificate
                                CHECK (partner_certificate_pem LIKE '-----BEGIN CERTIFICATE-----%'),
    partner_key_sealed      text CONSTRAINT msp_secrets_partner_key
                                CHECK (partner_key_sealed ~ '^og1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$'),
    -- The Cloudflare API token or the RFC 2136 TSIG secret, as the MSP's dns_provider needs.
    dns_secret_sealed       text CONSTRAINT msp_secrets_dns_secret
                                CHECK (dns_secret_sealed ~ '^og1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$'),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT msp_secrets_certificate_with_key CHECK ((partner_certificate_pem IS NULL) = (partner_key_sealed IS NULL))
);
COMMENT ON TABLE onboarder.msp_secrets IS
    'Per MSP: its partner app''s credential and its DNS provider''s, sealed; read by workers, written by the owner.';

-- Workers read both (they sign in as the MSP's partner app); operators read msps (0004's grant covers the
-- new columns) and never msp_secrets; enqueuers neither. No one but the owner writes.
REVOKE ALL ON onboarder.msp_secrets FROM PUBLIC, onboarder_worker, onboarder_enqueuer, onboarder_operator;
GRANT SELECT ON onboarder.msp_secrets TO onboarder_worker;
