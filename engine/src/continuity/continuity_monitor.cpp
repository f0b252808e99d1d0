#include "gateway/continuity_monitor.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "continuity/doveadm_client.h"
#include "gateway/rfc3339.h"
#include "gateway/smtp_client.h"

namespace gw {
namespace {

using Key = std::pair<std::string, std::string>;

// What a customer's servers did in the last rounds.
struct Health {
  int failed_rounds = 0;
  bool may_have_kept = true;  // unknown until a round found nothing left to deliver
};

// The customer's users, each once: any may have kept mail, whatever the scope is now.
std::set<std::string> Users(const MailCustomer& customer) {
  std::set<std::string> users;
  for (const auto& [address, user] : customer.recipients) users.insert(user);
  return users;
}

// The envelope sender Dovecot recorded (Return-Path), and the message without the
// trace headers Dovecot's LMTP put on top (Return-Path, Delivered-To).
std::pair<std::string, std::string> Unwrap(const std::string& text) {
  std::string sender;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) break;
    std::string_view line(text.data() + pos, end - pos);
    if (line.rfind("Return-Path:", 0) == 0) {
      size_t open = line.find('<'), close = line.rfind('>');
      if (open != std::string_view::npos && close != std::string_view::npos && close > open)
        sender = std::string(line.substr(open + 1, close - open - 1));
    } else if (line.rfind("Delivered-To:", 0) != 0) {
      break;
    }
    pos = end + 1;
  }
  return {sender, text.substr(pos)};
}

}  // namespace

struct ContinuityMonitor::Impl {
  const MailDirectoryFeed& feed;
  ContinuityRouting& routing;
  ContinuityMonitorOptions options;
  std::optional<DoveadmClient> doveadm;
  ContinuityCounters counters;
  std::map<Key, Health> health;  // the monitor thread's only

  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  std::thread thread;

  Impl(const MailDirectoryFeed& f, ContinuityRouting& r, ContinuityMonitorOptions o)
      : feed(f), routing(r), options(std::move(o)) {
    if (options.doveadm) doveadm.emplace(*options.doveadm, options.doveadm_key, options.imap);
  }

  std::mutex store_mutex;  // the monitor's thread, and retention runs from the API
  static constexpr const char* kJob = "continuity";
  std::string last_holder;  // of the job lease, as last seen (for the log)

  void Log(const std::string& message) const {
    if (options.log) options.log(message);
  }

  // Records in the store, if there is one; a failure is logged (routing goes on).
  template <typename Write>
  void Record(const char* what, Write write) {
    if (!options.store) return;
    std::lock_guard lock(store_mutex);
    if (Status s = write(*options.store); !s.ok())
      Log(fmt::format("continuity: cannot record {}: {}", what, s.message()));
  }

  // Outages recorded from a year back (retention is at most 365 days): ongoing, not yet
  // delivered, or recent.
  Result<std::vector<ContinuityOutage>> RecordedOutages(std::chrono::system_clock::time_point now) {
    std::lock_guard lock(store_mutex);
    return options.store->ListOutages(FormatRfc3339(now - std::chrono::hours(24 * 366)));
  }

  // A restarted monitor takes up where the last one left off.
  void Restore() {
    if (!options.store) return;
    auto outages = RecordedOutages(std::chrono::system_clock::now());
    if (!outages.ok()) {
      Log("continuity: cannot read recorded outages: " + outages.status().message());
      return;
    }
    for (const ContinuityOutage& o : *outages) {
      Health& state = health[{o.partner, o.customer}];
      if (o.ended_at.empty()) {
        routing.Enter(o.partner, o.customer, o.reason, o.started_at);
        state.failed_rounds = options.down_after;
        state.may_have_kept = true;
      } else if (!o.delivered) {
        state.may_have_kept = true;
      }
    }
  }

  // Empty when one of the customer's servers takes mail; otherwise what the last said.
  std::string ProbeServers(const MailCustomer& customer) {
    std::string why;
    for (const Destination& d : customer.config.destinations) {
      ++counters.probes;
      // A server that would not get the mail for want of TLS the customer requires is
      // as good as down: its mail is kept.
      Status s = ProbeMail(
          {d.host, d.port}, "postmaster@" + customer.config.domains.front(), options.probe_timeout,
          options.destination_networks ? &*options.destination_networks : nullptr,
          customer.config.delivery_tls.level != DeliveryTls::Level::kOpportunistic);
      if (s.ok() || s.code() == StatusCode::kFailedPrecondition) return "";
      why = s.message();
    }
    return why.empty() ? "no destination" : why;
  }

  // Says a problem delivering a customer's kept mail once, not every round it lasts.
  std::map<Key, std::string> problems;  // the monitor thread's only
  void Problem(const MailCustomer& customer, const std::string& message) {
    std::string& last = problems[{customer.partner, customer.name}];
    if (last != message) Log(message);
    last = message;
  }

  // Sends the customer's kept mail on to its servers; true when none is left to try.
  bool DeliverKept(const MailCustomer& customer) {
    bool all = true;
    for (const std::string& user : Users(customer)) {
      auto uids = doveadm->Undelivered(user);
      if (!uids.ok()) {
        Problem(customer, fmt::format("continuity: {}: {}", user, uids.status().message()));
        return false;
      }
      for (const std::string& uid : *uids) {
        auto text = doveadm->Text(user, uid);
        if (!text.ok() && text.status().code() == StatusCode::kNotFound) continue;  // expunged
        if (!text.ok() && text.status().code() != StatusCode::kMalformed) {
          Problem(customer, fmt::format("continuity: {}: {}", user, text.status().message()));
          return false;
        }
        // Never a changed copy: one that cannot be read unchanged is left to people.
        Status sent(StatusCode::kFailedPrecondition, text.status().message());
        if (text.ok()) {
          auto [sender, body] = Unwrap(*text);
          std::string marked = "X-GW-Continuity: kept while the server was down\r\n" + body;
          sent = options.send_mail(sender, {user}, marked);
        }
        if (!sent.ok() && sent.code() != StatusCode::kFailedPrecondition) {
          all = false;  // deferred: the next round tries again
          continue;
        }
        // Refused for good (5xx), or unreadable unchanged: marked so, left readable for
        // people, not tried again.
        bool refused = !sent.ok();
        if (refused) {
          Log(fmt::format("continuity: kept message {} of {} not delivered, left in continuity: {}",
                          uid, user, sent.message()));
        }
        Status marked_ok =
            doveadm->Mark(user, uid, refused ? DoveadmClient::kRefused : DoveadmClient::kDelivered);
        if (!marked_ok.ok()) {
          Problem(customer,
                  fmt::format("continuity: {} sent but not marked: {}", user, marked_ok.message()));
          return false;
        }
        if (!refused) ++counters.delivered_afterwards;
      }
    }
    return all;
  }

  // What each customer's probe found ("" up), probing several at once: a server that
  // does not answer costs its timeout, and one round must not wait for each in turn.
  std::vector<std::string> ProbeAll(const std::vector<const MailCustomer*>& customers) {
    std::vector<std::string> found(customers.size());
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i; (i = next++) < customers.size();) found[i] = ProbeServers(*customers[i]);
    };
    std::vector<std::thread> workers;
    size_t count = std::min<size_t>(options.probe_concurrency, customers.size());
    for (size_t i = 1; i < count; ++i) workers.emplace_back(work);
    work();
    for (auto& worker : workers) worker.join();
    return found;
  }

  void Round() {
    auto directory = feed.current();
    if (!directory) return;
    // Customers with continuity, and those whose kept mail is still to deliver (switched
    // off during an outage, say).
    std::vector<const MailCustomer*> watched;
    for (const auto& customer : directory->customers()) {
      auto known = health.find({customer->partner, customer->name});
      bool kept = known != health.end() && known->second.may_have_kept;
      if ((customer->config.continuity.enabled || kept) && !customer->config.destinations.empty())
        watched.push_back(customer.get());
    }
    std::vector<std::string> found = ProbeAll(watched);
    // When this round's verdicts take effect (outages start and end at it).
    const std::string now = FormatRfc3339(std::chrono::system_clock::now());
    std::map<Key, Health> next;
    for (size_t i = 0; i < watched.size(); ++i) {
      const MailCustomer* customer = watched[i];
      Key key{customer->partner, customer->name};
      Health fresh;
      fresh.may_have_kept = !options.store;  // with a store, only recorded outages kept mail
      Health state = health.count(key) ? health[key] : fresh;
      const std::string& down = found[i];
      if (down.empty()) {
        state.failed_rounds = 0;
        if (routing.Leave(key.first, key.second)) {
          Log(fmt::format("continuity: {}/{}: its servers take mail again; leaving continuity",
                          key.first, key.second));
          Record("the end of an outage",
                 [&](Store& store) { return store.EndOutage(key.first, key.second, now); });
          state.may_have_kept = true;
        }
        if (state.may_have_kept && doveadm && options.send_mail && DeliverKept(*customer)) {
          state.may_have_kept = false;
          problems.erase(key);
          Record("kept mail delivered",
                 [&](Store& store) { return store.MarkOutagesDelivered(key.first, key.second); });
        }
      } else if (++state.failed_rounds >= options.down_after &&
                 customer->config.continuity.enabled &&
                 routing.Enter(key.first, key.second, down, now)) {
        ++counters.outages;
        state.may_have_kept = true;
        Record("an outage", [&](Store& store) {
          return store.StartOutage({key.first, key.second, now, "", down, false});
        });
        Log(fmt::format("continuity: {}/{}: its servers are down ({}); its mail is kept", key.first,
                        key.second, down));
      }
      next[key] = state;
    }
    // Customers gone, or with continuity switched off, leave it; their mail waits in the
    // queue for their servers.
    std::set<Key> enabled;
    for (const MailCustomer* customer : watched) {
      if (customer->config.continuity.enabled) enabled.insert({customer->partner, customer->name});
    }
    for (const auto& entry : routing.Entries()) {
      Key key{entry.partner, entry.customer};
      if (enabled.count(key)) continue;
      routing.Leave(key.first, key.second);
      Record("the end of an outage",
             [&](Store& store) { return store.EndOutage(key.first, key.second, now); });
    }
    health = std::move(next);
  }

  // Whether this replica runs the rounds: it holds the store's job lease (or there is
  // no store). A store that cannot be asked means not leading: skipping rounds is safe,
  // two replicas probing and delivering at once is not.
  bool Lead() {
    if (!options.store) return true;
    const auto ttl = 3 * options.probe_interval;
    Result<std::string> holder = [&]() -> Result<std::string> {
      std::lock_guard lock(store_mutex);
      auto held = options.store->HoldJobFor(kJob, options.replica, ttl);
      if (held.ok() && *held != options.replica && options.holder_gone &&
          options.holder_gone(*held)) {
        Log(fmt::format("continuity: replica {} is gone; taking its job lease", *held));
        if (Status released = options.store->ReleaseJob(kJob, *held); released.ok())
          return options.store->HoldJobFor(kJob, options.replica, ttl);
      }
      return held;
    }();
    std::string now_holding = holder.ok() ? *holder : "";
    if (now_holding != last_holder || !holder.ok()) {
      if (!holder.ok())
        Log("continuity: cannot reach the job lease; not probing: " + holder.status().message());
      else if (now_holding == options.replica)
        Log("continuity: this replica probes customers' servers");
      else
        Log(
            fmt::format("continuity: replica {} probes customers' servers; this one routes by "
                        "its recorded outages",
                        now_holding));
      last_holder = holder.ok() ? now_holding : "(unreachable)";
    }
    return holder.ok() && now_holding == options.replica;
  }

  // A replica that does not probe routes as the outages the leading one records say.
  void Follow() {
    auto outages = RecordedOutages(std::chrono::system_clock::now());
    if (!outages.ok()) return;  // the routing stays as it was
    std::set<Key> ongoing;
    for (const ContinuityOutage& o : *outages) {
      if (!o.ended_at.empty()) continue;
      ongoing.insert({o.partner, o.customer});
      routing.Enter(o.partner, o.customer, o.reason, o.started_at);
    }
    for (const auto& entry : routing.Entries()) {
      if (!ongoing.count({entry.partner, entry.customer}))
        routing.Leave(entry.partner, entry.customer);
    }
  }

  void Run() {
    auto next_expiry = std::chrono::steady_clock::now();
    bool leading = false;
    std::unique_lock lock(mutex);
    while (!stopping) {
      lock.unlock();
      bool was_leading = std::exchange(leading, Lead());
      if (leading && !was_leading) {
        health.clear();  // take up where the last holder left off
        Restore();
      }
      if (leading) {
        Round();
      } else {
        Follow();
      }
      if (leading && doveadm && std::chrono::steady_clock::now() >= next_expiry) {
        next_expiry += std::chrono::hours(1);
        auto expired = Expire(std::chrono::system_clock::now());
        if (!expired.ok()) Log("continuity retention: " + expired.status().message());
      }
      lock.lock();
      wake.wait_for(lock, options.probe_interval, [&] { return stopping; });
    }
    if (leading && options.store) {  // hand over now rather than when it expires
      std::lock_guard hold(store_mutex);
      options.store->ReleaseJob(kJob, options.replica);
    }
  }

  Result<int64_t> Expire(std::chrono::system_clock::time_point as_of) {
    if (!doveadm) {
      return Status(StatusCode::kFailedPrecondition,
                    "no continuity mailboxes to expunge in (gatewayd --doveadm)");
    }
    auto directory = feed.current();
    if (!directory) return Status(StatusCode::kUnavailable, "the mail directory is not loaded");
    // With a store, only customers with an outage in the last year have mailboxes.
    std::set<Key> had_outages;
    if (options.store) {
      auto outages = RecordedOutages(as_of);
      if (!outages.ok()) return outages.status();
      for (const auto& o : *outages) had_outages.insert({o.partner, o.customer});
    }
    int64_t mailboxes = 0;
    for (const auto& customer : directory->customers()) {
      // Without a store, any continuity customer may have mailboxes.
      if (options.store ? !had_outages.count({customer->partner, customer->name})
                        : !customer->config.continuity.enabled)
        continue;
      auto cutoff = as_of - std::chrono::hours(24 * customer->config.continuity.retention_days);
      int64_t before =
          std::chrono::duration_cast<std::chrono::seconds>(cutoff.time_since_epoch()).count();
      for (const std::string& user : Users(*customer)) {
        if (Status s = doveadm->ExpungeSavedBefore(user, before); !s.ok()) return s;
        ++mailboxes;
      }
    }
    counters.expunged_users += mailboxes;
    return mailboxes;
  }
};

ContinuityMonitor::ContinuityMonitor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::unique_ptr<ContinuityMonitor> ContinuityMonitor::Start(const MailDirectoryFeed& feed,
                                                            ContinuityRouting& routing,
                                                            ContinuityMonitorOptions options) {
  auto impl = std::make_unique<Impl>(feed, routing, std::move(options));
  Impl* raw = impl.get();
  raw->thread = std::thread([raw] { raw->Run(); });
  return std::unique_ptr<ContinuityMonitor>(new ContinuityMonitor(std::move(impl)));
}

ContinuityMonitor::~ContinuityMonitor() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  impl_->thread.join();
}

Result<int64_t> ContinuityMonitor::ExpireKept(std::chrono::system_clock::time_point as_of) {
  return impl_->Expire(as_of);
}

const ContinuityCounters& ContinuityMonitor::counters() const {
  return impl_->counters;
}

std::string ContinuityMetrics(const ContinuityRouting& routing, const ContinuityCounters& c) {
  return fmt::format(
      "# HELP gatewayd_continuity_customers Customers whose servers are down and whose mail is "
      "kept.\n"
      "# TYPE gatewayd_continuity_customers gauge\n"
      "gatewayd_continuity_customers {}\n"
      "# HELP gatewayd_continuity_outages_total Customers that entered continuity.\n"
      "# TYPE gatewayd_continuity_outages_total counter\n"
      "gatewayd_continuity_outages_total {}\n"
      "# HELP gatewayd_continuity_probes_total Probes of customers' servers.\n"
      "# TYPE gatewayd_continuity_probes_total counter\n"
      "gatewayd_continuity_probes_total {}\n"
      "# HELP gatewayd_continuity_delivered_total Kept messages delivered to servers that came "
      "back.\n"
      "# TYPE gatewayd_continuity_delivered_total counter\n"
      "gatewayd_continuity_delivered_total {}\n",
      routing.Entries().size(), c.outages.load(), c.probes.load(), c.delivered_afterwards.load());
}

}  // namespace gw
