#include "gwctl/apply.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "gwctl/diagnostics.h"
#include "parallel.h"
#include "retry.h"

namespace gwctl {

namespace {

bool Retryable(gw::StatusCode code) {
  return code == gw::StatusCode::kUnavailable || code == gw::StatusCode::kInternal;
}

// Keeps the lease alive on a background thread until destroyed.
class LeaseKeeper {
 public:
  LeaseKeeper(gw::GatewayClient& gateway, std::string partner, std::string holder, int ttl)
      : gateway_(gateway), partner_(std::move(partner)), holder_(std::move(holder)), ttl_(ttl) {}

  gw::Status Acquire(int wait_seconds,
                     const std::function<void(const std::string&)>& waiting = nullptr) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_seconds);
    for (bool told = false;; told = true) {
      auto lease = gateway_.TakeLease(partner_, holder_, ttl_);
      if (lease.ok()) break;
      if (lease.status().code() != gw::StatusCode::kConflict ||
          std::chrono::steady_clock::now() >= deadline) {
        return lease.status();
      }
      if (!told && waiting) waiting(lease.status().message());
      std::this_thread::sleep_for(kLeaseRetry.Delay(1));
    }
    renewer_ = std::thread([this] {
      std::unique_lock lock(mutex_);
      while (!stopping_) {
        if (wake_.wait_for(lock, std::chrono::seconds(std::max(1, ttl_ / 3)),
                           [this] { return stopping_; }))
          break;
        gateway_.TakeLease(partner_, holder_, ttl_);
      }
    });
    return gw::Status::Ok();
  }

  ~LeaseKeeper() {
    if (!renewer_.joinable()) return;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    renewer_.join();
    gateway_.TakeLease(partner_, holder_, 0);
  }

 private:
  gw::GatewayClient& gateway_;
  std::string partner_, holder_;
  int ttl_;
  std::thread renewer_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
};

class Applier {
 public:
  Applier(const Plan& plan, const DesiredState& desired, gw::GatewayClient& gateway,
          const ApplyOptions& options)
      : plan_(plan), desired_(desired), gateway_(gateway), options_(options) {
    for (const auto& c : desired.customers) by_name_.emplace(c.name, &c);
  }

  ApplyReport Run() {
    std::vector<const CustomerChange*> writes, deletes;
    for (const auto& change : plan_.changes) {
      if (change.kind == ChangeKind::kDelete) deletes.push_back(&change);
      if (change.kind == ChangeKind::kCreate || change.kind == ChangeKind::kUpdate ||
          change.kind == ChangeKind::kReplace) {
        writes.push_back(&change);
      }
    }
    total_ = writes.size() + deletes.size();
    ParallelFor(writes.size(), static_cast<size_t>(std::max(1, options_.parallelism)),
                [&](size_t i) {
                  if (!Stopping()) Record(writes[i]->customer, ApplyCustomer(*writes[i]));
                });
    ParallelFor(deletes.size(), static_cast<size_t>(std::max(1, options_.parallelism)),
                [&](size_t i) {
                  if (!Stopping()) Record(deletes[i]->customer, DeleteCustomer(*deletes[i]));
                });
    report_.not_started = total_ - done_;
    return report_;
  }

 private:
  // Asked to stop, or the gateway stopped answering: once one customer has run out of
  // retries on an unreachable gateway the others would only wait out the same retries,
  // so the customers not yet started are left for the next run.
  bool Stopping() const { return (options_.stop && options_.stop->load()) || unreachable_.load(); }

  void Record(const std::string& customer, const gw::Status& status) {
    std::lock_guard lock(mutex_);
    if (status.code() == gw::StatusCode::kUnavailable) unreachable_ = true;
    if (!status.ok()) {
      report_.failed[customer] = Explain(customer, status);
      report_.retry_after =
          std::max(report_.retry_after, std::chrono::milliseconds(status.retry_after_ms()));
    }
    ++done_;
    if (options_.progress) options_.progress(done_, total_);
  }

  // The gateway names each problem by JSON pointer; a settings problem is placed in the
  // manifest it came from (gwctl validate runs the same rules, so this is rare: another
  // customer's claim, or a gateway of a newer version).
  std::string Explain(const std::string& customer, const gw::Status& status) const {
    if (status.details().empty()) return status.message();
    auto desired = by_name_.find(customer);
    std::string out = "the gateway refused it:";
    for (const auto& d : status.details()) {
      std::string where = d.field;
      if (desired != by_name_.end() && d.field.rfind("/spec", 0) == 0)
        where = FormatLocation(desired->second->effective->LocationOf(d.field), "");
      out += fmt::format("\n  {}: {} [{}]", where, d.message, d.rule);
    }
    return out;
  }

  gw::Status Retry(const std::function<gw::Status()>& call) {
    return WithRetries(options_.max_attempts, call);
  }

  gw::Status ApplyCustomer(const CustomerChange& planned) {
    const DesiredCustomer& desired = *by_name_.at(planned.customer);
    CustomerChange change = planned;
    for (int attempt = 0; attempt < 3; ++attempt) {
      gw::Status status = ApplyOnce(change);
      if (status.code() != gw::StatusCode::kFailedPrecondition) return status;
      if (!options_.replan_on_conflict) {
        return gw::Status(status.code(),
                          "changed on the gateway since the plan was made; plan again");
      }
      // Someone changed the customer since the plan: plan it again from what is there now.
      gw::Result<gw::Customer> now = gw::Status(gw::StatusCode::kInternal, "");
      gw::Status read = Retry([&] {
        now = gateway_.GetCustomer(plan_.partner, desired.name);
        return now.ok() || now.status().code() == gw::StatusCode::kNotFound ? gw::Status::Ok()
                                                                            : now.status();
      });
      if (!read.ok()) return read;
      auto replanned = PlanCustomer(desired, now.ok() ? &*now : nullptr, desired_.owner, gateway_,
                                    plan_.partner);
      if (!replanned.ok()) return replanned.status();
      if (replanned->kind == ChangeKind::kConflict) {
        return gw::Status(
            gw::StatusCode::kConflict,
            fmt::format("now owned by '{}' on the gateway; left alone", replanned->observed_owner));
      }
      change = std::move(*replanned);
    }
    return gw::Status(gw::StatusCode::kFailedPrecondition,
                      "kept changing on the gateway while being applied");
  }

  gw::Status ApplyOnce(const CustomerChange& change) {
    const std::string& partner = plan_.partner;
    bool create = change.kind == ChangeKind::kCreate;
    if (change.kind == ChangeKind::kReplace) {
      if (gw::Status s = Retry([&] {
            return gateway_.DeleteCustomer(partner, change.customer, change.observed_version);
          });
          !s.ok()) {
        return s;
      }
      create = true;
    }
    if (!create) {
      if (gw::Status s = Batches(change.customer, {}, change.users.remove); !s.ok()) return s;
    }
    if (create || !change.fields.empty()) {
      gw::WriteCondition condition = create
                                         ? gw::WriteCondition::CreateOnly()
                                         : gw::WriteCondition::AtVersion(change.observed_version);
      gw::Status s = Retry([&] {
        return gateway_.PutCustomer(partner, change.customer, change.write, condition).status();
      });
      if (!s.ok()) return s;
      std::lock_guard lock(mutex_);
      ++report_.customers_written;
    }
    std::vector<gw::User> upserts = change.users.add;
    upserts.insert(upserts.end(), change.users.change.begin(), change.users.change.end());
    return Batches(change.customer, upserts, {});
  }

  // Sends removals, then upserts, in batches of options_.user_batch.
  gw::Status Batches(const std::string& customer, const std::vector<gw::User>& upserts,
                     const std::vector<std::string>& removals) {
    size_t step = std::max<size_t>(1, options_.user_batch);
    auto send = [&](const auto& items, auto member, size_t& counter) -> gw::Status {
      for (size_t i = 0; i < items.size(); i += step) {
        gw::UserBatch batch;
        (batch.*member).assign(items.begin() + i, items.begin() + std::min(items.size(), i + step));
        gw::Status s =
            Retry([&] { return gateway_.BatchUsers(plan_.partner, customer, batch).status(); });
        if (!s.ok()) return s;
        std::lock_guard lock(mutex_);
        counter += (batch.*member).size();
      }
      return gw::Status::Ok();
    };
    if (gw::Status s = send(removals, &gw::UserBatch::remove, report_.users_removed); !s.ok())
      return s;
    return send(upserts, &gw::UserBatch::upsert, report_.users_written);
  }

  gw::Status DeleteCustomer(const CustomerChange& change) {
    int64_t version = change.observed_version;
    for (int attempt = 0; attempt < 3; ++attempt) {
      gw::Status s =
          Retry([&] { return gateway_.DeleteCustomer(plan_.partner, change.customer, version); });
      if (s.ok() || s.code() == gw::StatusCode::kNotFound) {
        std::lock_guard lock(mutex_);
        if (s.ok()) ++report_.customers_deleted;
        return gw::Status::Ok();
      }
      if (s.code() != gw::StatusCode::kFailedPrecondition) return s;
      auto now = gateway_.GetCustomer(plan_.partner, change.customer);
      if (!now.ok())
        return now.status().code() == gw::StatusCode::kNotFound ? gw::Status::Ok() : now.status();
      if (now->owner != desired_.owner) {
        return gw::Status(gw::StatusCode::kConflict,
                          fmt::format("now owned by '{}'; not deleted", now->owner));
      }
      version = now->version;
    }
    return gw::Status(gw::StatusCode::kFailedPrecondition,
                      "kept changing on the gateway while being deleted");
  }

  const Plan& plan_;
  const DesiredState& desired_;
  gw::GatewayClient& gateway_;
  const ApplyOptions& options_;
  std::map<std::string, const DesiredCustomer*> by_name_;
  std::mutex mutex_;
  ApplyReport report_;
  size_t done_ = 0, total_ = 0;
  std::atomic<bool> unreachable_ = false;
};

}  // namespace

gw::Status WithRetries(int max_attempts, const std::function<gw::Status()>& call) {
  thread_local std::mt19937 random(std::random_device{}());
  std::uniform_real_distribution<double> draw(0, 1);
  gw::Status status;
  for (int attempt = 0; attempt < std::max(1, max_attempts); ++attempt) {
    if (attempt > 0) {
      // Never sooner than the gateway asked (Retry-After on 429/503).
      std::this_thread::sleep_for(kGatewayCallRetry.Delay(
          attempt, std::chrono::milliseconds(status.retry_after_ms()), draw(random)));
    }
    status = call();
    if (status.ok() || !Retryable(status.code())) return status;
  }
  return status;
}

gw::Result<ApplyReport> ApplyPlan(const Plan& plan, const DesiredState& desired,
                                  gw::GatewayClient& gateway, const ApplyOptions& options) {
  LeaseKeeper lease(gateway, plan.partner, options.lease_holder, options.lease_ttl_seconds);
  if (gw::Status s = lease.Acquire(options.lease_wait_seconds, options.waiting_for_lease);
      !s.ok()) {
    return gw::Status(s.code(), "cannot take the partner's apply lease: " + s.message());
  }
  return Applier(plan, desired, gateway, options).Run();
}

}  // namespace gwctl
