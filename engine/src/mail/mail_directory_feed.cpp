#include "gateway/mail_directory_feed.h"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "gateway/customer_rules.h"

namespace gw {

struct MailDirectoryFeed::Impl {
  std::unique_ptr<Store> store;
  MailDirectoryFeedOptions options;

  std::mutex refresh_mutex;  // one refresh at a time; guards the fields below
  std::optional<int64_t> last_mark;
  // Per customer: the mark it was read at, and what was read.
  std::map<std::pair<std::string, std::string>,
           std::pair<CustomerMark, std::shared_ptr<const MailCustomer>>>
      known;
  bool failing = false;

  mutable std::mutex current_mutex;
  std::shared_ptr<const MailDirectory> current;
  Stats stats;

  std::mutex stop_mutex;
  std::condition_variable stop_signal;
  bool stopping = false;
  std::thread poller;

  void Log(const std::string& message) const {
    if (options.log) options.log(message);
  }

  Result<std::shared_ptr<const MailCustomer>> Read(const CustomerMark& mark) {
    const auto& [partner, name] = mark.customer;
    auto customer = store->LoadCustomer(partner, name);
    if (!customer.ok()) return customer.status();
    if (!*customer) return Status(StatusCode::kNotFound, fmt::format("customer {} vanished", name));
    auto recipients = store->ListRecipients(partner, name);
    if (!recipients.ok()) return recipients.status();
    std::unordered_map<std::string, std::string> by_address(recipients->size());
    for (auto& [address, user] : *recipients)
      by_address.emplace(std::move(address), std::move(user));
    CustomerConfig config = CompileStored(**customer).config;
    // A domain whose claim is not verified takes no mail.
    std::erase_if(config.domains, [&](const std::string& domain) {
      return std::binary_search(mark.pending_domains.begin(), mark.pending_domains.end(), domain);
    });
    std::unordered_set<std::string> activated;
    if (config.continuity.enabled) {
      auto listed = store->ListContinuityUsers(partner, name);
      if (!listed.ok()) return listed.status();
      activated.insert(listed->begin(), listed->end());
    }
    std::unordered_map<std::string, Lists> personal;
    if (config.self_service.personal_lists) {
      auto entries = store->ListPersonalEntries(partner, name, "");
      if (!entries.ok()) return entries.status();
      personal = PersonalListsOf(std::move(*entries));
    }
    return MakeMailCustomer(partner, name, std::move(config), std::move(by_address),
                            std::move(activated), std::move(personal));
  }

  Status RefreshLocked() {
    auto started = std::chrono::steady_clock::now();
    std::shared_ptr<const MailDirectory> built;
    std::optional<int64_t> mark_seen;
    decltype(known) next;
    Status status = store->Transaction(false, [&]() -> Status {
      auto mark = store->ChangeMark();
      if (!mark.ok()) return mark.status();
      mark_seen = *mark;
      if (last_mark == *mark && current) return Status::Ok();
      auto marks = store->ListCustomerMarks();
      if (!marks.ok()) return marks.status();
      std::vector<std::shared_ptr<const MailCustomer>> customers;
      customers.reserve(marks->size());
      for (auto& m : *marks) {
        auto key = std::make_pair(m.customer.partner, m.customer.customer);
        auto it = known.find(key);
        std::shared_ptr<const MailCustomer> customer;
        if (it != known.end() && it->second.first.version == m.version &&
            it->second.first.users_digest == m.users_digest &&
            it->second.first.pending_domains == m.pending_domains &&
            it->second.first.personal_lists_revision == m.personal_lists_revision) {
          customer = it->second.second;
        } else {
          auto read = Read(m);
          if (!read.ok()) return read.status();
          customer = *read;
        }
        customers.push_back(customer);
        next.emplace(std::move(key), std::make_pair(std::move(m), std::move(customer)));
      }
      built = std::make_shared<const MailDirectory>(std::move(customers));
      return Status::Ok();
    });
    if (!status.ok()) {
      if (!failing)
        Log(fmt::format("mail directory: refresh failed, keeping the last one: {}",
                        status.message()));
      failing = true;
      return status;
    }
    if (failing) Log("mail directory: refresh works again");
    failing = false;
    last_mark = mark_seen;
    if (!built) return Status::Ok();
    known = std::move(next);
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
    std::lock_guard lock(current_mutex);
    current = std::move(built);
    ++stats.refreshes;
    stats.last_refresh_ms = ms;
    return Status::Ok();
  }

  void Poll() {
    std::unique_lock lock(stop_mutex);
    while (!stop_signal.wait_for(lock, options.poll_interval, [&] { return stopping; })) {
      lock.unlock();
      {
        std::lock_guard refresh(refresh_mutex);
        RefreshLocked();
      }
      lock.lock();
    }
  }
};

MailDirectoryFeed::MailDirectoryFeed(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MailDirectoryFeed::~MailDirectoryFeed() {
  if (impl_->poller.joinable()) {
    {
      std::lock_guard lock(impl_->stop_mutex);
      impl_->stopping = true;
    }
    impl_->stop_signal.notify_all();
    impl_->poller.join();
  }
}

Result<std::unique_ptr<MailDirectoryFeed>> MailDirectoryFeed::Start(
    std::unique_ptr<Store> store, MailDirectoryFeedOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->store = std::move(store);
  impl->options = std::move(options);
  std::unique_ptr<MailDirectoryFeed> feed(new MailDirectoryFeed(std::move(impl)));
  if (Status s = feed->Refresh(); !s.ok()) return s;
  Impl* running = feed->impl_.get();
  running->poller = std::thread([running] { running->Poll(); });
  return feed;
}

std::shared_ptr<const MailDirectory> MailDirectoryFeed::current() const {
  std::lock_guard lock(impl_->current_mutex);
  return impl_->current;
}

Status MailDirectoryFeed::Refresh() {
  std::lock_guard lock(impl_->refresh_mutex);
  return impl_->RefreshLocked();
}

MailDirectoryFeed::Stats MailDirectoryFeed::stats() const {
  std::lock_guard lock(impl_->current_mutex);
  return impl_->stats;
}

}  // namespace gw
