import Store

/// What resolve-tenant does when it records the customer's Entra tenant id on its row (one customer, one
/// tenant): go on, or stop before any write in the tenant, saying which customer row already has it (the
/// same customer enqueued under another key, or another MSP's) and what the operator can do.
enum CustomerClaimPlan {
    /// Nil: go on. Otherwise the attention message for job `job` of customer `key` (MSP `msp`).
    static func attention(_ claim: CustomerClaim, tenantID: String, key: String, msp: String, job: Int64) -> String? {
        switch claim {
        case .claimed:
            return nil
        case .heldBy(let holder):
            let whose =
                holder.msp == msp
                ? "already this MSP's customer \(holder.key)"
                : "already MSP \(holder.msp)'s customer \(holder.key)"
            let active =
                holder.activeJob.map { "its job \($0) is \(holder.activeJobState ?? "active")" }
                ?? "it has no active job"
            let action =
                holder.msp == msp
                ? "Onboard the customer as \(holder.key) (onboarder enqueue reports its job), then onboarder cancel \(job)"
                : "One Entra tenant is one MSP's customer: onboarder cancel \(job), or have MSP \(holder.msp) give it up first"
            return
                "Entra tenant \(tenantID) (\(key)) is \(whose) (\(active)); nothing was written in the tenant. \(action)."
        case .recordedAs(let recorded):
            return
                "\(key) was recorded as Entra tenant \(recorded), but its token was issued for tenant \(tenantID): check the customer's domain; nothing was written in the tenant."
        }
    }
}
