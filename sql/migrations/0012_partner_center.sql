-- Partner Center's consent API (issue 21): an MSP whose consent_mode is partner-center asks Partner Center to
-- consent its partner app in a customer tenant that has not. That API takes only an app+user token (the
-- secure application model): a refresh token left by the MSP's admin agent, who consented the partner app
-- once, interactively, with MFA, and who holds a consenting role in the customer through GDAP. The refresh
-- token is a credential as strong as that agent: sealed like the partner app's own secret, under the
-- secrets key, bound to the MSP and the column (`onboarder.msp_secrets/partner_center_refresh_token/<msp>`),
-- written by the owner only (`onboarder msp set`), read by workers only (0009's grants cover the column).
ALTER TABLE onboarder.msp_secrets
    ADD COLUMN partner_center_refresh_token_sealed text
        CONSTRAINT msp_secrets_partner_center_refresh_token
        CHECK (partner_center_refresh_token_sealed ~ '^og1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$');
