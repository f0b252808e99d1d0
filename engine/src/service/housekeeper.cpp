#include "service/housekeeper.h"

#include <fmt/format.h>

namespace gw {

std::unique_ptr<Housekeeper> Housekeeper::Start(Service& service, HousekeeperOptions options) {
  std::unique_ptr<Housekeeper> housekeeper(new Housekeeper(service, std::move(options)));
  housekeeper->thread_ = std::thread([raw = housekeeper.get()] { raw->Run(); });
  return housekeeper;
}

Housekeeper::Housekeeper(Service& service, HousekeeperOptions options)
    : service_(service), options_(std::move(options)) {}

Housekeeper::~Housekeeper() {
  Stop();
}

void Housekeeper::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Housekeeper::Log(const std::string& message) const {
  if (options_.log) options_.log(message);
}

void Housekeeper::Run() {
  auto next_purge = std::chrono::steady_clock::now();
  std::unique_lock lock(mutex_);
  do {
    lock.unlock();
    Round(next_purge);
    lock.lock();
  } while (!wake_.wait_for(lock, options_.interval, [this] { return stopping_; }));
}

void Housekeeper::Round(std::chrono::steady_clock::time_point& next_purge) {
  if (std::chrono::steady_clock::now() >= next_purge) {
    next_purge += options_.purge_interval;
    auto purged = service_.PurgeQuarantine(options_.quarantine_retention_days);
    if (!purged.ok()) {
      Log("quarantine purge: " + purged.status().message());
    } else if (*purged > 0) {
      Log(fmt::format("quarantine purge: forgot {} message(s) past {} days", *purged,
                      options_.quarantine_retention_days));
    }
    auto archived = service_.PurgeArchive();
    if (!archived.ok()) {
      if (archived.status().code() != StatusCode::kFailedPrecondition)  // no archive kept
        Log("archive retention: " + archived.status().message());
    } else if (*archived > 0) {
      Log(fmt::format("archive retention: removed {} message(s) past their retention", *archived));
    }
  }
  if (!options_.spam_reports) return;
  auto run = service_.RunSpamReports(Actor::Local(), std::chrono::system_clock::now());
  if (!run.ok() && run.status().code() == StatusCode::kConflict) {
    return;  // another replica's pass is running; this minute's reports are its to send
  }
  if (!run.ok()) {
    Log("spam reports: " + run.status().message());
    return;
  }
  if (run->reports_sent > 0) {
    Log(fmt::format("spam reports: sent {} listing {} message(s)", run->reports_sent,
                    run->messages_listed));
  }
  for (const auto& failure : run->failures) Log("spam reports: " + failure);
}

}  // namespace gw
