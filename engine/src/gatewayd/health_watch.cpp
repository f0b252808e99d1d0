#include "gatewayd/health_watch.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/blocking_socket.h"
#include "gateway/rfc3339.h"
#include "gatewayd/process.h"

namespace gatewayd {
namespace {

using nlohmann::json;
constexpr auto kTimeout = std::chrono::seconds(5);

std::string AgeText(std::chrono::seconds age) {
  if (age < std::chrono::minutes(2)) return fmt::format("{} s", age.count());
  if (age < std::chrono::hours(2)) return fmt::format("{} min", age.count() / 60);
  return fmt::format("{} h", age.count() / 3600);
}

// Says `hello` (may be empty) to `at` and wants `expected` at offset `offset` of the answer.
HealthCheck Probe(const char* name, const gw::Endpoint& at, std::string_view hello,
                  std::string_view expected, size_t offset = 0) {
  gw::BlockingSocket socket(at, name, kTimeout);
  gw::Status status = socket.Connect();
  std::string answer;
  if (status.ok() && !hello.empty()) status = socket.Send(hello);
  if (status.ok() && !expected.empty()) {
    while (status.ok() && answer.size() < offset + expected.size()) {
      status = socket.Receive(answer, "its answer");
    }
  }
  if (status.ok() && answer.compare(offset, expected.size(), expected) != 0) {
    status = gw::Status(gw::StatusCode::kUnavailable,
                        fmt::format("answered '{}'", answer.substr(0, 40)));
  }
  return {name, status.ok(), status.ok() ? "answers on " + at.ToString() : status.message(), true};
}

std::string RunPostqueue(const std::string& config, bool& ran) {
  std::string command = fmt::format("/usr/sbin/postqueue -c '{}' -j 2>/dev/null", config);
  FILE* pipe = ::popen(command.c_str(), "r");
  ran = pipe != nullptr;
  if (!pipe) return "";
  std::string out;
  char buffer[8192];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  ran = ::pclose(pipe) == 0;
  return out;
}

}  // namespace

QueueSummary SummarizeQueue(const std::string& postqueue_json,
                            std::chrono::system_clock::time_point now) {
  QueueSummary summary;
  std::map<std::string, size_t> per_domain;
  std::istringstream lines(postqueue_json);
  std::string line;
  while (std::getline(lines, line)) {
    json message = json::parse(line, nullptr, false);
    if (!message.is_object()) continue;
    ++summary.messages;
    if (auto arrival = message.find("arrival_time");
        arrival != message.end() && arrival->is_number()) {
      auto age = std::chrono::duration_cast<std::chrono::seconds>(
          now - std::chrono::system_clock::from_time_t(arrival->get<time_t>()));
      summary.oldest = std::max(summary.oldest, age);
    }
    for (const json& recipient : message.value("recipients", json::array())) {
      std::string address = recipient.value("address", "");
      size_t at = address.rfind('@');
      if (at != std::string::npos) ++per_domain[address.substr(at + 1)];
    }
  }
  summary.per_domain.assign(per_domain.begin(), per_domain.end());
  std::stable_sort(summary.per_domain.begin(), summary.per_domain.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return summary;
}

std::unique_ptr<HealthWatch> HealthWatch::Start(gw::Service& service, HealthOptions options,
                                                gw::Notifier* notifier) {
  std::unique_ptr<HealthWatch> watch(new HealthWatch(service, std::move(options), notifier));
  watch->thread_ = std::thread([w = watch.get()] { w->Run(); });
  return watch;
}

HealthWatch::HealthWatch(gw::Service& service, HealthOptions options, gw::Notifier* notifier)
    : service_(service), options_(std::move(options)), notifier_(notifier) {}

HealthWatch::~HealthWatch() {
  Stop();
}

void HealthWatch::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HealthWatch::Run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    std::vector<HealthCheck> checks = Round();
    // A round that finished is a process that is not stuck (WatchdogSec= in the unit).
    NotifySystemd("WATCHDOG=1");
    lock.lock();
    last_ = std::move(checks);
    last_at_ = std::chrono::system_clock::now();
    wake_.wait_for(lock, options_.interval, [&] { return stopping_; });
  }
}

std::vector<HealthCheck> HealthWatch::Round() {
  std::vector<HealthCheck> checks;
  auto partners = service_.ListPartners(gw::Actor::Local());
  checks.push_back(
      {"store", partners.ok(),
       partners.ok() ? fmt::format("{} partner(s)", partners->size()) : partners.status().message(),
       true});
  std::vector<std::string> crowded;  // destinations over their threshold, this round
  if (!options_.postfix_config.empty()) {
    bool ran = false;
    std::string listing = RunPostqueue(options_.postfix_config, ran);
    if (!ran) {
      checks.push_back(
          {"queue", false, "postqueue -c " + options_.postfix_config + " failed", false});
    } else {
      QueueSummary queue = SummarizeQueue(listing, std::chrono::system_clock::now());
      bool ok = queue.messages < options_.queue_messages && queue.oldest < options_.queue_age;
      checks.push_back(
          {"queue", ok,
           fmt::format("{} message(s) waiting (alert at {}), the oldest for {} (alert at {} min)",
                       queue.messages, options_.queue_messages, AgeText(queue.oldest),
                       options_.queue_age.count()),
           false});
      for (const auto& [domain, waiting] : queue.per_domain) {
        if (waiting < options_.queue_per_destination) break;
        checks.push_back({"queue/" + domain, false,
                          fmt::format("{} recipient(s) at {} waiting (alert at {})", waiting,
                                      domain, options_.queue_per_destination),
                          false});
        crowded.push_back("queue/" + domain);
      }
    }
  }
  if (options_.milter) checks.push_back(Probe("gw-milter", *options_.milter, "", ""));
  if (options_.rspamd) {
    checks.push_back(Probe("rspamd", *options_.rspamd,
                           "GET /ping HTTP/1.0\r\nHost: localhost\r\n\r\n", " 200", 8));
  }
  if (options_.clamd) {
    checks.push_back(Probe("clamd", *options_.clamd, std::string_view("zPING\0", 6), "PONG"));
  }
  if (options_.lmtp) checks.push_back(Probe("dovecot", *options_.lmtp, "", "220"));

  if (notifier_ != nullptr) {
    for (const HealthCheck& check : checks) {
      notifier_->Report(
          check.name, !check.ok,
          check.ok ? check.name + " is healthy again" : check.name + " needs attention",
          check.detail);
    }
    // A destination's queue that drained is no longer listed: report it recovered (sent
    // outside the lock, which /readyz takes).
    std::vector<std::string> drained;
    {
      std::lock_guard lock(mutex_);
      for (const HealthCheck& before : last_ ? *last_ : std::vector<HealthCheck>{}) {
        if (before.name.starts_with("queue/") &&
            std::find(crowded.begin(), crowded.end(), before.name) == crowded.end()) {
          drained.push_back(before.name);
        }
      }
    }
    for (const std::string& name : drained) {
      notifier_->Report(name, false, name + " is healthy again",
                        "its queue is below the threshold");
    }
  }
  return checks;
}

std::pair<bool, std::string> HealthWatch::Readiness() const {
  std::lock_guard lock(mutex_);
  if (!last_) return {false, R"({"ready": false, "checks": {}, "detail": "not checked yet"})"};
  json checks = json::object();
  bool ready = true;
  for (const HealthCheck& check : *last_) {
    checks[check.name] = {{"ok", check.ok}, {"detail", check.detail}, {"critical", check.critical}};
    ready = ready && (check.ok || !check.critical);
  }
  return {ready,
          json{{"ready", ready}, {"checkedAt", gw::FormatRfc3339(last_at_)}, {"checks", checks}}
              .dump()};
}

}  // namespace gatewayd
