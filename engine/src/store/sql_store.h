// The Store written once in SQL (store.h's contract), over a sql::Connection that a
// backend (sqlite_store.cpp, postgres_store.cpp) opens and migrates to the tables both
// share: the same names, columns and keys; text keys compare bytewise.
#pragma once

#include <memory>

#include "gateway/store.h"
#include "store/sql.h"

namespace gw {

std::unique_ptr<Store> MakeSqlStore(std::unique_ptr<sql::Connection> connection);

}  // namespace gw
