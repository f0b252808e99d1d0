#include "gateway/json_reader.h"

#include <algorithm>

#include <fmt/format.h>

namespace gw {

JsonReader::JsonReader(const nlohmann::json& value, std::string at)
    : value_(value), at_(std::move(at)) {
  if (!value_.is_object()) {
    status_ = Status::Invalid("expected an object", at_.empty() ? "/" : at_);
  }
}

void JsonReader::AllowOnly(std::initializer_list<const char*> keys) {
  if (!status_.ok()) return;
  for (const auto& item : value_.items()) {
    const std::string& key = item.key();
    if (std::none_of(keys.begin(), keys.end(), [&](const char* k) { return key == k; })) {
      status_ = Status::Invalid(fmt::format("unknown field '{}'", key), at_ + "/" + key);
      return;
    }
  }
}

const nlohmann::json* JsonReader::Raw(const char* key) const {
  if (!value_.is_object()) return nullptr;
  auto it = value_.find(key);
  return it == value_.end() ? nullptr : &*it;
}

void JsonReader::Fail(Status s) {
  if (status_.ok()) status_ = std::move(s);
}

void JsonReader::Problem(const char* key, bool missing) {
  status_ = Status(StatusCode::kInvalidArgument,
                   missing ? fmt::format("missing required field '{}'", key)
                           : fmt::format("field '{}' has the wrong type", key),
                   at_ + "/" + key);
}

}  // namespace gw
