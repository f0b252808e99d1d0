// MailDirectoryFeed: keeps a MailDirectory in step with a store, for the mail lookups.
// It watches the store's change mark and, when it moved, re-reads only the customers whose
// version or users changed, in one read transaction, then publishes the new directory.
//
// Contract:
// - current() is null until the first refresh succeeded, then never null. A refresh that
//   fails keeps the directory it had (the failure is logged once, and its recovery).
// - A change committed by any process, this one or another on the same store, is in
//   current() within poll_interval plus the time to read the changed customers.
// - Readers keep the directory they took for as long as they hold it; a refresh never
//   changes one in place.
// Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "gateway/mail_directory.h"
#include "gateway/status.h"
#include "gateway/store.h"

namespace gw {

struct MailDirectoryFeedOptions {
  std::chrono::milliseconds poll_interval{250};
  std::function<void(const std::string&)> log;  // may be empty
};

class MailDirectoryFeed {
 public:
  // Reads the store once (failing if that fails), then refreshes in the background.
  static Result<std::unique_ptr<MailDirectoryFeed>> Start(std::unique_ptr<Store> store,
                                                          MailDirectoryFeedOptions options = {});
  ~MailDirectoryFeed();  // stops the background refresh

  std::shared_ptr<const MailDirectory> current() const;
  // Brings the directory up to date now.
  Status Refresh();

  struct Stats {
    int64_t refreshes = 0;       // directories published
    double last_refresh_ms = 0;  // duration of the last refresh that published
  };
  Stats stats() const;

  MailDirectoryFeed(const MailDirectoryFeed&) = delete;
  MailDirectoryFeed& operator=(const MailDirectoryFeed&) = delete;

 private:
  struct Impl;
  explicit MailDirectoryFeed(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gw
