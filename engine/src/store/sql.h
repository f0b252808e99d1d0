// The seam under the SQL store (sql_store.h): what the store needs of a database, so
// that its statements are written once and SQLite and PostgreSQL each supply only how
// to run them, their migrations and their locking.
//
// Contract:
// - Statements use $1, $2, ... placeholders and SQL both databases accept (upserts with
//   ON CONFLICT, RETURNING, ->> on JSON, CAST). Values are never spliced into SQL.
// - Select calls `each` once per row, in order; a Row is valid only during that call, and
//   `each` runs no statement of its own.
// - Execute returns how many rows the statement changed.
// - Transaction(write, change, body) is Store::Transaction's contract; a write with
//   `change` is one ChangeMark counts, one without (job leases) need not be.
// - Errors: a unique violation is kAlreadyExists, a database that may come back
//   kUnavailable, anything else kInternal; messages never hold a password.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/status.h"

namespace gw::sql {

// One parameter: text, an integer, bytes (a BLOB or bytea) or NULL. Text and bytes are
// viewed, not copied: a Param lives only as long as the call it is passed to.
struct Param {
  enum class Kind { kText, kInteger, kBytes, kNull };
  Kind kind = Kind::kText;
  std::string_view text;  // kText, kBytes
  int64_t integer = 0;    // kInteger

  Param(std::string_view value) : text(value) {}
  Param(const char* value) : text(value) {}
  Param(const std::string& value) : text(value) {}
  Param(int64_t value) : kind(Kind::kInteger), integer(value) {}
  Param(int value) : kind(Kind::kInteger), integer(value) {}
  static Param Bytes(std::string_view bytes) {
    Param p(bytes);
    p.kind = Kind::kBytes;
    return p;
  }
  static Param Null() {
    Param p("");
    p.kind = Kind::kNull;
    return p;
  }
};

// The parameters of one statement: a braced list at the call, or a vector built for a
// statement whose predicates depend on the request. Viewed, not copied.
class Params {
 public:
// The list's array lives to the end of the call's full expression, as long as Params is
// meant to (GCC warns that the view does not extend it).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winit-list-lifetime"
#endif
  Params(std::initializer_list<Param> list) : begin_(list.begin()), size_(list.size()) {}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
  Params(const std::vector<Param>& list) : begin_(list.data()), size_(list.size()) {}
  const Param* begin() const {
    return begin_;
  }
  const Param* end() const {
    return begin_ + size_;
  }
  size_t size() const {
    return size_;
  }

 private:
  const Param* begin_;
  size_t size_;
};

class Row {
 public:
  virtual ~Row() = default;
  virtual std::string Text(int column) const = 0;  // "" for NULL
  virtual int64_t Int(int column) const = 0;
  virtual std::string Bytes(int column) const = 0;
};

class Connection {
 public:
  using Params = sql::Params;
  virtual ~Connection() = default;

  virtual Status Select(std::string_view sql, Params params,
                        const std::function<void(const Row&)>& each) = 0;
  virtual Result<int64_t> Execute(std::string_view sql, Params params) = 0;
  virtual Status Transaction(bool write, bool change, const std::function<Status()>& body) = 0;
  // A value that differs once any writer has committed a change (Store::ChangeMark).
  virtual Result<int64_t> ChangeMark() = 0;

  // The one construct whose spelling differs: a FROM item that yields the elements of
  // the JSON array in parameter $`param` as rows with one column, `value` — the text of
  // each element when `strings`, else each element as JSON (readable with ->>).
  virtual std::string JsonArrayRows(int param, bool strings) const = 0;
};

}  // namespace gw::sql
