#pragma once
// Pools: how many tasks may run at once in each.

namespace sluice {

/// The slots of a pool that sluice.yaml does not size, `default` among them.
/// The Postgres claim function (migrations/postgres/0008_claim_by_id.sql)
/// spells the same number; a test holds the two together.
inline constexpr int kDefaultPoolSlots = 128;

}  // namespace sluice
