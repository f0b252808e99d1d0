// LoopLog: the structured log lines of `gwctl run`, on stderr: a message and key=value
// fields as text, or one JSON object per line (--log-format json). Thread-safe.
#pragma once

#include <chrono>
#include <iostream>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gateway/rfc3339.h"

namespace gwctl {

class LoopLog {
 public:
  using Fields = std::vector<std::pair<std::string, nlohmann::json>>;

  explicit LoopLog(bool json, std::ostream& out = std::cerr) : json_(json), out_(out) {}

  void Info(const std::string& message, const Fields& fields = {}) {
    Write("info", message, fields);
  }
  void Warn(const std::string& message, const Fields& fields = {}) {
    Write("warn", message, fields);
  }
  void Error(const std::string& message, const Fields& fields = {}) {
    Write("error", message, fields);
  }

 private:
  void Write(const char* level, const std::string& message, const Fields& fields) {
    std::string time = gw::FormatRfc3339(std::chrono::system_clock::now());
    std::string line;
    if (json_) {
      nlohmann::json object = {{"time", time}, {"level", level}, {"msg", message}};
      for (const auto& [key, value] : fields) object[key] = value;
      line = object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      line = fmt::format("{} {:<5} {}", time, level, message);
      for (const auto& [key, value] : fields) {
        std::string text = value.is_string() ? value.get<std::string>() : value.dump();
        bool quote = text.empty() || text.find_first_of(" \"=") != std::string::npos;
        line += fmt::format(" {}={}", key, quote ? nlohmann::json(text).dump() : text);
      }
    }
    std::lock_guard lock(mutex_);
    out_ << line << "\n" << std::flush;
  }

  bool json_;
  std::ostream& out_;
  std::mutex mutex_;
};

}  // namespace gwctl
