// JsonReader: the typed fields of a JSON record that comes from outside (an API body, a
// saved plan), with the first problem located by JSON pointer and nothing thrown. Rules
// on documents the schema already checked read them with JsonCursor instead.
#pragma once

#include <initializer_list>
#include <string>

#include <nlohmann/json.hpp>

#include "gateway/status.h"

namespace gw {

class JsonReader {
 public:
  // `at`: the record's JSON pointer, for messages ("" for the root).
  JsonReader(const nlohmann::json& value, std::string at);

  // Any other member is a problem ("unknown field 'x'").
  void AllowOnly(std::initializer_list<const char*> keys);

  // Reads member `key` into `out` when present (and not null); a missing required member
  // or a value of the wrong type is a problem. Nothing is read after the first problem.
  template <typename T>
  void Get(const char* key, T& out, bool required = false) {
    if (!status_.ok()) return;
    auto it = value_.find(key);
    if (it == value_.end() || it->is_null()) {
      if (required) Problem(key, /*missing=*/true);
      return;
    }
    try {
      out = it->get<T>();
    } catch (const nlohmann::json::exception&) {
      Problem(key, /*missing=*/false);
    }
  }

  // The member itself, or null: for nested records and lists.
  const nlohmann::json* Raw(const char* key) const;
  const Status& status() const { return status_; }
  void Fail(Status s);

 private:
  void Problem(const char* key, bool missing);  // else: of the wrong type

  const nlohmann::json& value_;
  std::string at_;
  Status status_;
};

}  // namespace gw
