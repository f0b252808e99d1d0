#include "store/postgres.h"

#include <cstring>
#include <thread>
#include <vector>

#include <fmt/format.h>

namespace gw::pg {
namespace {

// The first line of libpq's message, without its "ERROR:  " prefix and trailing newline.
std::string FirstLine(const char* message) {
  std::string text = message ? message : "";
  if (size_t end = text.find('\n'); end != std::string::npos) text.resize(end);
  for (const char* prefix : {"ERROR:  ", "FATAL:  "}) {
    if (text.rfind(prefix, 0) == 0) text.erase(0, std::strlen(prefix));
  }
  return text;
}

}  // namespace

std::string Rows::Bytes(int row, int column) const {
  size_t length = 0;
  unsigned char* bytes = PQunescapeBytea(
      reinterpret_cast<const unsigned char*>(PQgetvalue(result_, row, column)), &length);
  if (!bytes) return "";
  std::string out(reinterpret_cast<const char*>(bytes), length);
  PQfreemem(bytes);
  return out;
}

int64_t Rows::Affected() const {
  const char* count = PQcmdTuples(result_);
  return count && *count ? std::stoll(count) : 0;
}

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& conninfo,
                                                     std::chrono::seconds connect_timeout) {
  // Parsed first, so that a malformed string is refused without echoing it (it may hold
  // a password).
  char* parse_error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &parse_error);
  if (!options) {
    // libpq quotes the string it could not parse: keep only the reason before the quote.
    std::string why = FirstLine(parse_error);
    PQfreemem(parse_error);
    why = why.substr(0, why.find('"'));
    while (!why.empty() && (why.back() == ' ' || why.back() == ':')) why.pop_back();
    return Status::Invalid("the PostgreSQL connection string: " + why);
  }
  PQconninfoFree(options);
  std::vector<const char*> keys = {"dbname", "connect_timeout", "application_name", nullptr};
  std::string timeout = std::to_string(std::max<int64_t>(1, connect_timeout.count()));
  std::vector<const char*> values = {conninfo.c_str(), timeout.c_str(), "gatewayd", nullptr};
  PGconn* conn = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
  std::string name =
      conn ? fmt::format("{}:{}/{}", PQhost(conn) ? PQhost(conn) : "",
                         PQport(conn) ? PQport(conn) : "", PQdb(conn) ? PQdb(conn) : "")
           : "postgres";
  if (!conn || PQstatus(conn) != CONNECTION_OK) {
    std::string why = conn ? FirstLine(PQerrorMessage(conn)) : "out of memory";
    PQfinish(conn);
    return Status(StatusCode::kUnavailable,
                  fmt::format("cannot connect to PostgreSQL at {}: {}", name, why));
  }
  // Server notices (a ROLLBACK with nothing to roll back, ...) are not for stderr.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<Connection>(new Connection(conn, std::move(name)));
}

Status Connection::ErrorOf(const PGresult* result, std::string_view what) const {
  if (PQstatus(conn_) != CONNECTION_OK) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("PostgreSQL at {}: connection lost during {}", name_, what));
  }
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string code = state ? state : "";
  std::string why = FirstLine(result ? PQresultErrorMessage(result) : PQerrorMessage(conn_));
  StatusCode mapped = code == "23505"                      ? StatusCode::kAlreadyExists
                      : code == "40001" || code == "40P01" ? StatusCode::kConflict
                      : code.rfind("08", 0) == 0 || code.rfind("57P", 0) == 0
                          ? StatusCode::kUnavailable
                          : StatusCode::kInternal;
  return Status(mapped, fmt::format("PostgreSQL at {}: {} ({})", name_, why, code));
}

Status Connection::Reconnect() {
  if (PQstatus(conn_) == CONNECTION_OK) return Status::Ok();
  if (in_transaction_)  // the transaction is gone with the connection; its body fails
    return Status(StatusCode::kUnavailable,
                  fmt::format("PostgreSQL at {}: connection lost during a transaction", name_));
  PQreset(conn_);
  prepared_.clear();  // a new session knows none of them
  if (PQstatus(conn_) == CONNECTION_OK) return Status::Ok();
  return Status(StatusCode::kUnavailable, fmt::format("cannot reconnect to PostgreSQL at {}: {}",
                                                      name_, FirstLine(PQerrorMessage(conn_))));
}

Result<Rows> Connection::Query(std::string_view sql, sql::Params params) {
  if (Status s = Reconnect(); !s.ok()) return s;
  // libpq reads text parameters up to their NUL, so each is copied into a string.
  std::vector<std::string> texts;
  texts.reserve(params.size());
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  for (const Param& p : params) {
    const char* value = nullptr;  // NULL
    switch (p.kind) {
      case Param::Kind::kText:
        value = texts.emplace_back(p.text).c_str();
        break;
      case Param::Kind::kInteger:
        value = texts.emplace_back(std::to_string(p.integer)).c_str();
        break;
      case Param::Kind::kBytes:
        value = p.text.empty() ? "" : p.text.data();
        break;
      case Param::Kind::kNull:
        break;
    }
    values.push_back(value);
    lengths.push_back(p.kind == Param::Kind::kBytes ? static_cast<int>(p.text.size()) : 0);
    formats.push_back(p.kind == Param::Kind::kBytes ? 1 : 0);
  }
  std::string statement(sql);
  auto rows = Run(statement, values, lengths, formats);
  // The server went away since the last statement (libpq learns it only now): outside a
  // transaction nothing of ours was lost with it, so open a new session and run it there.
  if (!rows.ok() && PQstatus(conn_) == CONNECTION_BAD && !in_transaction_) {
    if (Status s = Reconnect(); !s.ok()) return s;
    rows = Run(statement, values, lengths, formats);
  }
  return rows;
}

Result<Rows> Connection::Run(const std::string& statement, const std::vector<const char*>& values,
                             const std::vector<int>& lengths, const std::vector<int>& formats) {
  // Each statement text is parsed and planned once per connection, then only executed.
  auto known = prepared_.find(statement);
  if (known == prepared_.end()) {
    std::string name = fmt::format("s{}", prepared_.size());
    Rows made(PQprepare(conn_, name.c_str(), statement.c_str(), static_cast<int>(values.size()),
                        nullptr));
    if (PQresultStatus(made.result_) != PGRES_COMMAND_OK)
      return ErrorOf(made.result_, statement.substr(0, statement.find(' ')));
    known = prepared_.emplace(statement, std::move(name)).first;
  }
  Rows rows(PQexecPrepared(conn_, known->second.c_str(), static_cast<int>(values.size()),
                           values.data(), lengths.data(), formats.data(), /*resultFormat=*/0));
  ExecStatusType status = PQresultStatus(rows.result_);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
    return ErrorOf(rows.result_, statement.substr(0, statement.find(' ')));
  return rows;
}

Status Connection::Execute(const std::string& sql) {
  Rows rows(PQexec(conn_, sql.c_str()));
  ExecStatusType status = PQresultStatus(rows.result_);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
    return ErrorOf(rows.result_, "a migration");
  return Status::Ok();
}

Status Connection::Transaction(bool write, const std::function<Status()>& body, int attempts) {
  if (in_transaction_) return body();
  Status last;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (Status s = Reconnect(); !s.ok()) return s;
    Status begun = Execute(write ? "BEGIN ISOLATION LEVEL SERIALIZABLE"
                                 : "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY");
    if (!begun.ok() && PQstatus(conn_) == CONNECTION_BAD) {
      last = begun;  // gone since the last statement: reconnect and begin again
      continue;
    }
    if (!begun.ok()) return begun;
    in_transaction_ = true;
    last = body();
    // Lost before COMMIT was sent: the server rolled it back, so it runs again on a new
    // connection. Lost during COMMIT, it may have committed: that is the caller's to see.
    bool lost_in_body = !last.ok() && PQstatus(conn_) == CONNECTION_BAD;
    if (last.ok()) last = Execute("COMMIT");
    in_transaction_ = false;
    if (last.ok()) return last;
    if (lost_in_body) continue;
    if (PQtransactionStatus(conn_) != PQTRANS_IDLE) Execute("ROLLBACK");
    if (last.code() != StatusCode::kConflict) return last;
    // Another transaction won; back off a little, more each time, and run again.
    std::this_thread::sleep_for(std::chrono::milliseconds(2 << std::min(attempt, 6)));
  }
  return last;
}

}  // namespace gw::pg
