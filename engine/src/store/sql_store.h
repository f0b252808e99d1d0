// The Store written once in SQL (store.h's contract), over a sql::Connection that a
// backend (sqlite_store.cpp, postgres_store.cpp) opens and migrates to the tables both
// share: the same names, columns and keys; text keys compare bytewise.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "gateway/store.h"
#include "store/sql.h"

namespace gw {

std::unique_ptr<Store> MakeSqlStore(std::unique_ptr<sql::Connection> connection);

// The SQLite file at `path`, created if missing, checked, and migrated by `migrations`
// (PRAGMA user_version counts those applied). `what` names it in messages ("store").
Result<std::unique_ptr<sql::Connection>> OpenSqliteDatabase(const std::string& path,
                                                            std::span<const char* const> migrations,
                                                            int busy_timeout_ms,
                                                            std::string_view what);

// The PostgreSQL database at `url`, migrated by `migrations` (the table `schema_table`
// counts those applied) under the advisory lock `lock_key`, so replicas take turns.
Result<std::unique_ptr<sql::Connection>> OpenPostgresDatabase(
    const std::string& url, std::span<const char* const> migrations, std::string_view schema_table,
    int64_t lock_key, std::chrono::seconds connect_timeout);

}  // namespace gw
