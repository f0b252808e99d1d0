// JsonCursor: a read-only position in a JSON document that knows its JSON pointer.
// Reading through a missing key or a value of the wrong type yields an empty cursor
// instead of throwing, so rules can run on documents the schema has already rejected.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace gw {

// Appends a JSON pointer token, escaping '~' and '/'.
std::string PointerAppend(std::string_view pointer, std::string_view token);
std::string PointerAppend(std::string_view pointer, size_t index);

class JsonCursor {
 public:
  JsonCursor() = default;
  JsonCursor(const nlohmann::json* value, std::string pointer)
      : value_(value), pointer_(std::move(pointer)) {}
  static JsonCursor Root(const nlohmann::json& document) { return {&document, ""}; }

  JsonCursor operator[](std::string_view key) const {
    if (!value_ || !value_->is_object()) return {};
    auto it = value_->find(key);
    if (it == value_->end()) return {};
    return {&*it, PointerAppend(pointer_, key)};
  }
  JsonCursor operator[](size_t index) const {
    if (!value_ || !value_->is_array() || index >= value_->size()) return {};
    return {&(*value_)[index], PointerAppend(pointer_, index)};
  }

  bool exists() const { return value_ != nullptr; }
  const nlohmann::json* get() const { return value_; }
  const std::string& pointer() const { return pointer_; }
  size_t size() const {
    return value_ && (value_->is_array() || value_->is_object()) ? value_->size() : 0;
  }
  bool is_array() const { return value_ && value_->is_array(); }
  bool is_object() const { return value_ && value_->is_object(); }

  const std::string* string() const {
    return value_ && value_->is_string() ? value_->get_ptr<const std::string*>() : nullptr;
  }
  std::optional<bool> boolean() const {
    if (value_ && value_->is_boolean()) return value_->get<bool>();
    return std::nullopt;
  }
  std::optional<int64_t> integer() const {
    if (value_ && value_->is_number_integer()) return value_->get<int64_t>();
    return std::nullopt;
  }
  std::string string_or(std::string fallback) const {
    return string() ? *string() : std::move(fallback);
  }
  bool boolean_or(bool fallback) const { return boolean().value_or(fallback); }

 private:
  const nlohmann::json* value_ = nullptr;
  std::string pointer_;
};

}  // namespace gw
