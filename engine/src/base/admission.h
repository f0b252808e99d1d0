// Admission: which connections a server takes, for every server of gatewayd that a
// client can reach without credentials first (the admin API, the mail lookups). At most
// `max_connections` are open, and at most `max_per_address` from one address. When a
// limit is reached, the connection that has waited longest without a request in
// progress is closed to make room (an idle one before one still sending its request; a
// busy one never), within the full address when that address is the limit: a client
// that opens connections and sends nothing cannot keep out one that asks.
//
// Thread-safe. A displaced connection's `displace` runs outside the lock, at most once,
// after the connection has left; it must tolerate a connection already gone (capture a
// weak_ptr).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace gw {

class Admission {
 public:
  enum class State {
    kIdle,     // waiting for a request: displaced first
    kPartial,  // a request begun, not complete: displaced next
    kBusy,     // being answered: never displaced
  };
  using Id = uint64_t;  // 0: not admitted

  Admission(size_t max_connections, size_t max_per_address);

  // Takes a connection from `address` in state kPartial, displacing another if a limit
  // is reached; 0 when no room can be made.
  Id Admit(const std::string& address, std::function<void()> displace);
  void Enter(Id id, State state);
  void Leave(Id id);  // idempotent

  // Displaces one connection (the one waiting longest) if any may be; false otherwise.
  bool DisplaceOne();
  // The `displace` of every connection (only of those not busy, when asked), leaving
  // them admitted: for a server that stops.
  std::vector<std::function<void()>> Closers(bool idle_only) const;

  size_t open() const;
  uint64_t displaced() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    Id id;
    std::string address;
    State state;
    Clock::time_point since;
    std::function<void()> displace;
  };
  using Entries = std::list<Entry>;

  // The entry to displace (of `address`, when given); end() when none may be. Locked.
  Entries::iterator Victim(const std::string* address);
  // Removes `victim` and returns its displace. Locked.
  std::function<void()> Remove(Entries::iterator victim);

  const size_t max_connections_, max_per_address_;
  mutable std::mutex mutex_;
  Entries entries_;
  std::unordered_map<Id, Entries::iterator> by_id_;
  std::unordered_map<std::string, size_t> per_address_;
  Id next_id_ = 1;
  uint64_t displaced_ = 0;
};

}  // namespace gw
