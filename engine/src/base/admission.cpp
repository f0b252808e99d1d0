#include "base/admission.h"

namespace gw {

Admission::Admission(size_t max_connections, size_t max_per_address)
    : max_connections_(max_connections), max_per_address_(max_per_address) {}

Admission::Entries::iterator Admission::Victim(const std::string* address) {
  auto victim = entries_.end();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->state == State::kBusy || (address && it->address != *address)) continue;
    if (victim == entries_.end() || it->state < victim->state ||
        (it->state == victim->state && it->since < victim->since)) {
      victim = it;
    }
  }
  return victim;
}

std::function<void()> Admission::Remove(Entries::iterator victim) {
  std::function<void()> displace = std::move(victim->displace);
  if (--per_address_[victim->address] == 0) per_address_.erase(victim->address);
  by_id_.erase(victim->id);
  entries_.erase(victim);
  return displace;
}

Admission::Id Admission::Admit(const std::string& address, std::function<void()> displace) {
  std::vector<std::function<void()>> displaced;
  Id id = 0;
  {
    std::lock_guard lock(mutex_);
    bool room = true;
    if (entries_.size() >= max_connections_) {
      auto victim = Victim(nullptr);
      room = victim != entries_.end();
      if (room) displaced.push_back(Remove(victim));
    }
    auto count = per_address_.find(address);
    if (room && count != per_address_.end() && count->second >= max_per_address_) {
      auto victim = Victim(&address);
      room = victim != entries_.end();
      if (room) displaced.push_back(Remove(victim));
    }
    if (room) {
      id = next_id_++;
      entries_.push_back({id, address, State::kPartial, Clock::now(), std::move(displace)});
      by_id_[id] = std::prev(entries_.end());
      ++per_address_[address];
    }
    displaced_ += displaced.size();
  }
  for (auto& close : displaced) {
    if (close) close();
  }
  return id;
}

void Admission::Enter(Id id, State state) {
  std::lock_guard lock(mutex_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  it->second->state = state;
  it->second->since = Clock::now();
}

void Admission::Leave(Id id) {
  std::lock_guard lock(mutex_);
  auto it = by_id_.find(id);
  if (it != by_id_.end()) Remove(it->second);
}

bool Admission::DisplaceOne() {
  std::function<void()> close;
  {
    std::lock_guard lock(mutex_);
    auto victim = Victim(nullptr);
    if (victim == entries_.end()) return false;
    close = Remove(victim);
    ++displaced_;
  }
  if (close) close();
  return true;
}

std::vector<std::function<void()>> Admission::Closers(bool idle_only) const {
  std::lock_guard lock(mutex_);
  std::vector<std::function<void()>> closers;
  for (const Entry& entry : entries_) {
    if (!idle_only || entry.state != State::kBusy) closers.push_back(entry.displace);
  }
  return closers;
}

size_t Admission::open() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

uint64_t Admission::displaced() const {
  std::lock_guard lock(mutex_);
  return displaced_;
}

}  // namespace gw
