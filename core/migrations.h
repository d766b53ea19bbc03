#pragma once
// Schema migrations compiled into the binary from migrations/{postgres,sqlite}.

#include <string>
#include <vector>

namespace sluice {

/// One schema migration: its number, file name and SQL text.
struct Migration {
  int version;
  const char* name;
  const char* sql;
};

const std::vector<Migration>& postgres_migrations();
const std::vector<Migration>& sqlite_migrations();

}  // namespace sluice
