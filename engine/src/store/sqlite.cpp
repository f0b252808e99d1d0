#include "store/sqlite.h"

#include <fcntl.h>
#include <unistd.h>

#include <memory>

#include <fmt/format.h>

namespace gw::sqlite {

Statement& Statement::Bind(int index, std::string_view text) {
  sqlite3_bind_text(statement_, index, text.data(), static_cast<int>(text.size()),
                    SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::BindBlob(int index, std::string_view bytes) {
  sqlite3_bind_blob64(statement_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::Bind(int index, int64_t value) {
  sqlite3_bind_int64(statement_, index, value);
  return *this;
}

Statement& Statement::BindNull(int index) {
  sqlite3_bind_null(statement_, index);
  return *this;
}

namespace {

// An error from SQLite as a Status: a store another connection keeps locked is a
// temporary condition the caller may retry, a read-only one an environment failure.
Status StoreError(int rc, const std::string& message) {
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("store: busy: another writer held the store too long ({}); "
                              "try again",
                              message))
        .set_retry_after_ms(1000);
  }
  return Status(rc == SQLITE_READONLY ? StatusCode::kUnavailable : StatusCode::kInternal,
                fmt::format("store: {}", message));
}

}  // namespace

bool Statement::Step(Status& status) {
  int rc = sqlite3_step(statement_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) status = StoreError(rc, sqlite3_errmsg(db_));
  return false;
}

Status Statement::Run() {
  Status status;
  while (Step(status)) {
  }
  Reset();
  return status;
}

void Statement::Reset() {
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
}

Result<std::unique_ptr<Database>> Database::Open(const std::string& path, bool create,
                                                 int busy_timeout_ms) {
  // The store holds quarantined mail, password hashes and the audit log: for its owner
  // alone. SQLite gives its -wal and -shm files the database file's mode.
  if (create && path != ":memory:" && path.rfind("file:", 0) != 0) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) ::close(fd);
  }
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return Status(StatusCode::kUnavailable, fmt::format("cannot open store {}: {}", path, message));
  }
  sqlite3_busy_timeout(db, busy_timeout_ms);
  sqlite3_extended_result_codes(db, 0);
  return std::unique_ptr<Database>(new Database(db));
}

Status Database::Execute(const std::string& sql) {
  char* error = nullptr;
  if (int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error); rc != SQLITE_OK) {
    std::string message = error ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    return StoreError(rc, message);
  }
  return Status::Ok();
}

Result<Statement> Database::Prepare(std::string_view sql) {
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &statement, nullptr) != SQLITE_OK) {
    return Error(fmt::format("prepare '{}'", sql.substr(0, 40)));
  }
  return Statement(db_, statement);
}

Status Database::Error(const std::string& context) const {
  return Status(StatusCode::kInternal, fmt::format("store: {}: {}", context, sqlite3_errmsg(db_)));
}

}  // namespace gw::sqlite
