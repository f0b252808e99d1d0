#include "directory_schedule.h"

#include <set>

#include <fmt/format.h>

#include "gateway/quantity.h"
#include "gateway/rfc3339.h"

namespace gwctl {

namespace {

std::chrono::milliseconds IntervalOf(const nlohmann::json& settings) {
  if (settings.is_object() && settings.contains("syncInterval") &&
      settings["syncInterval"].is_string()) {
    auto ms = gw::ParseDurationMs(settings["syncInterval"].get<std::string>());
    if (ms.ok() && *ms > 0) return std::chrono::milliseconds(*ms);
  }
  return DirectorySchedule::kDefaultInterval;
}

std::string Minutes(std::chrono::system_clock::duration left) {
  auto minutes = std::chrono::duration_cast<std::chrono::minutes>(left).count();
  return minutes < 1 ? "less than a minute" : fmt::format("{} min", minutes);
}

}  // namespace

std::string DirectorySchedule::Key(const std::string& customer, const std::string& kind,
                                   const std::string& settings) {
  return customer + '\n' + kind + '\n' + settings;
}

std::optional<std::string> DirectorySchedule::NotDue(const std::string& customer,
                                                     const std::string& kind,
                                                     const nlohmann::json& settings,
                                                     TimePoint now) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(Key(customer, kind, settings.dump()));
  if (it == entries_.end() || !it->second.status.next_read || now >= *it->second.status.next_read)
    return std::nullopt;
  const DirectorySourceStatus& status = it->second.status;
  return fmt::format("read {} ago; the next read is in {}", Minutes(now - *status.last_read),
                     Minutes(*status.next_read - now));
}

void DirectorySchedule::Record(const DesiredState& desired, TimePoint now) {
  std::lock_guard lock(mutex_);
  std::set<std::string> present;
  for (const DesiredCustomer& customer : desired.customers) {
    for (const UserSourceReport& report : customer.sources) {
      if (report.settings.empty()) continue;  // inline and CSV users
      std::string key = Key(customer.name, report.kind, report.settings);
      present.insert(key);
      if (!report.attempted) continue;
      Entry& entry = entries_[key];
      entry.interval = IntervalOf(nlohmann::json::parse(report.settings, nullptr, false));
      DirectorySourceStatus& status = entry.status;
      status.customer = customer.name;
      status.kind = report.kind;
      status.name = report.name;
      status.last_read = now;
      if (report.failed) {
        status.last_error = report.detail;
        status.next_read =
            now + std::min<std::chrono::milliseconds>(entry.interval, kRetryAfterFailure);
      } else {
        status.last_error.clear();
        status.last_success = now;
        status.users = report.users;
        status.warnings = report.warnings;
        status.next_read = now + entry.interval;
      }
    }
  }
  // Only when the pass covered every customer: a pass over a few must not forget the rest.
  if (desired.customers.empty()) return;
  for (auto it = entries_.begin(); it != entries_.end();) {
    bool customer_seen = false;
    for (const DesiredCustomer& customer : desired.customers) {
      if (customer.name == it->second.status.customer) customer_seen = true;
    }
    it = customer_seen && !present.count(it->first) ? entries_.erase(it) : std::next(it);
  }
}

std::vector<DirectorySourceStatus> DirectorySchedule::Sources() const {
  std::lock_guard lock(mutex_);
  std::vector<DirectorySourceStatus> out;
  for (const auto& [key, entry] : entries_) out.push_back(entry.status);
  return out;
}

nlohmann::json DirectorySourcesToJson(const std::vector<DirectorySourceStatus>& sources) {
  nlohmann::json out = nlohmann::json::array();
  auto time = [](const std::optional<std::chrono::system_clock::time_point>& at) {
    return at ? nlohmann::json(gw::FormatRfc3339(*at)) : nlohmann::json(nullptr);
  };
  for (const auto& s : sources) {
    out.push_back({{"customer", s.customer},
                   {"kind", s.kind},
                   {"name", s.name},
                   {"ok", s.last_error.empty()},
                   {"error", s.last_error},
                   {"users", s.users},
                   {"warnings", s.warnings},
                   {"lastRead", time(s.last_read)},
                   {"lastSuccess", time(s.last_success)},
                   {"nextRead", time(s.next_read)}});
  }
  return out;
}

}  // namespace gwctl
