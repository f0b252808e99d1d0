// A thin layer over libpq for the PostgreSQL store, in the manner of sqlite.h: a
// connection, parameterised queries (text and binary parameters, never SQL built from
// values), rows, and Status instead of result codes.
//
// Why libpq rather than libpqxx: it is the protocol's own client, already what
// PostgreSQL's tools use, with a C ABI that cannot drift from the C++ standard library we
// build with; the little it lacks (RAII, Status) is this file, shaped like the SQLite one
// so that both stores read alike.
//
// Contract:
// - Errors map by SQLSTATE: unique violation -> kAlreadyExists; serialization failure and
//   deadlock -> kConflict (Transaction retries those); a lost or refused connection ->
//   kUnavailable. Messages name the server (host:port/database), never a password.
// - A lost connection is opened again (a PostgreSQL restarted or failed over): a
//   statement outside a transaction runs again on the new one, and so does a
//   transaction whose connection was lost before its COMMIT; one lost during COMMIT is
//   kUnavailable (it may have committed). Statements are prepared once per connection.
// - Transaction runs its body in one SERIALIZABLE transaction, read only or read-write,
//   retrying the whole body when PostgreSQL detects a conflict with a concurrent one
//   (the body must only touch the database, so running it again is safe).
// Not thread-safe: one connection per thread, or a lock around it.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/status.h"
#include "store/sql.h"

namespace gw::pg {

using Param = sql::Param;

// The rows of one query, in text format.
class Rows {
 public:
  explicit Rows(PGresult* result) : result_(result) {}
  Rows(Rows&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }
  Rows& operator=(Rows&& other) noexcept {
    std::swap(result_, other.result_);
    return *this;
  }
  Rows(const Rows&) = delete;
  ~Rows() { PQclear(result_); }

  int size() const { return PQntuples(result_); }
  bool IsNull(int row, int column) const { return PQgetisnull(result_, row, column) == 1; }
  std::string Text(int row, int column) const {
    return std::string(PQgetvalue(result_, row, column), PQgetlength(result_, row, column));
  }
  int64_t Int(int row, int column) const { return std::stoll(Text(row, column)); }
  // A bytea column as its bytes (libpq unescapes its hex text form).
  std::string Bytes(int row, int column) const;
  // Rows a write changed.
  int64_t Affected() const;

 private:
  friend class Connection;
  PGresult* result_;
};

class Connection {
 public:
  // `conninfo`: a postgres:// URL or key=value pairs. Connecting is bounded by
  // `connect_timeout`.
  static Result<std::unique_ptr<Connection>> Open(const std::string& conninfo,
                                                  std::chrono::seconds connect_timeout);
  ~Connection() { PQfinish(conn_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Result<Rows> Query(std::string_view sql, sql::Params params = {});
  // One or more statements without parameters or rows (migrations).
  Status Execute(const std::string& sql);

  Status Transaction(bool write, const std::function<Status()>& body, int attempts = 10);

  // host:port/database, for messages.
  const std::string& name() const { return name_; }

 private:
  Connection(PGconn* conn, std::string name) : conn_(conn), name_(std::move(name)) {}
  Status ErrorOf(const PGresult* result, std::string_view what) const;
  // A lost connection (the server restarted, or failed over) is opened again before
  // the next statement or transaction; not within a transaction, which failed with it.
  Status Reconnect();
  Result<Rows> Run(const std::string& statement, const std::vector<const char*>& values,
                   const std::vector<int>& lengths, const std::vector<int>& formats);

  PGconn* conn_;
  std::string name_;
  bool in_transaction_ = false;
  std::unordered_map<std::string, std::string> prepared_;  // statement text -> name
};

}  // namespace gw::pg
