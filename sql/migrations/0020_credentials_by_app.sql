-- An app's credentials by the app, whichever customer row recorded them: the same Entra tenant enqueued under
-- another key (or by another MSP) is another row, and its PBX may hold one of them. Onboarding's custody of a
-- new secret (OnboardingStore.recordedPasswordKeyIDs) and the drift audit (DriftFindings.record) ask for
-- `tenant_id = … OR app_object_id = …`; without an index on the app the OR read every password row — 7 ms a
-- call at 10,000 customers, twice per customer, so a run's onboarding grew quadratic (issue 23, BENCHMARKS.md).
-- With it both sides are index lookups (a BitmapOr). Only credentials on an app are indexed.
CREATE INDEX credentials_by_app ON onboarder.credentials (app_object_id) WHERE app_object_id IS NOT NULL;
