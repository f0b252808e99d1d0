// A thin RAII layer over the SQLite C API: a connection, prepared statements with
// typed binding, and Status instead of return codes.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/status.h"

namespace gw::sqlite {

class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, sqlite3_stmt* statement) : db_(db), statement_(statement) {}
  Statement(Statement&& other) noexcept : db_(other.db_), statement_(other.statement_) {
    other.statement_ = nullptr;
  }
  Statement& operator=(Statement&& other) noexcept {
    std::swap(db_, other.db_);
    std::swap(statement_, other.statement_);
    return *this;
  }
  Statement(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(statement_); }

  // Binds by 1-based position; returns *this to chain.
  Statement& Bind(int index, std::string_view text);
  Statement& Bind(int index, int64_t value);
  Statement& BindNull(int index);
  Statement& BindBlob(int index, std::string_view bytes);

  // Advances: true with a row, false when done; errors become a Status in `status`.
  bool Step(Status& status);
  // Runs to completion, for statements without rows.
  Status Run();
  void Reset();

  int64_t Int(int column) const { return sqlite3_column_int64(statement_, column); }
  std::string Text(int column) const {
    const unsigned char* text = sqlite3_column_text(statement_, column);
    return text ? std::string(reinterpret_cast<const char*>(text),
                              sqlite3_column_bytes(statement_, column))
                : "";
  }
  std::string Blob(int column) const {
    const void* bytes = sqlite3_column_blob(statement_, column);
    return bytes ? std::string(static_cast<const char*>(bytes),
                               sqlite3_column_bytes(statement_, column))
                 : "";
  }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* statement_ = nullptr;
};

class Database {
 public:
  // Opens an existing file, or creates it when `create` is true. A statement that finds
  // the store locked by another connection waits up to `busy_timeout_ms`, then fails
  // with kUnavailable and a retry hint.
  static Result<std::unique_ptr<Database>> Open(const std::string& path, bool create,
                                                int busy_timeout_ms);
  ~Database() { sqlite3_close_v2(db_); }

  Status Execute(const std::string& sql);  // one or more statements, no rows
  Result<Statement> Prepare(std::string_view sql);
  bool ReadOnly() const { return sqlite3_db_readonly(db_, "main") == 1; }
  int64_t Changes() const { return sqlite3_changes64(db_); }
  Status Error(const std::string& context) const;

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

}  // namespace gw::sqlite
