// DnsResolver: asks DNS for the records a domain publishes (MX, TXT, A), through
// c-ares, at the system's resolvers or at given servers (a test's private nsd).
//
// Contract:
// - Each answer says which of these it is: records found; the name does not exist
//   (NXDOMAIN); the name exists without records of that type; the servers failed
//   (SERVFAIL, REFUSED, a malformed reply); no answer within the timeout. Only the
//   first three are facts about the domain: a failure or a timeout is never read as
//   "the record is absent", and its text says which it was and which server.
// - Resolve asks every question at once (up to `max_in_flight` outstanding) and returns
//   when each has its answer or its time is up: `tries` tries, the first waiting
//   `timeout` and each later one twice as long as the one before (c-ares), so one server
//   that never answers costs timeout x (2^tries - 1): 600 ms at 200 ms and 2 tries.
// - Records come back as text: MX "PREFERENCE HOST" (no trailing dot), TXT the
//   record's strings joined, A the dotted address.
// One resolver per thread (its c-ares channel is not shared).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "gateway/endpoint.h"
#include "gateway/status.h"

namespace gw {

enum class DnsType { kMx, kTxt, kA };

struct DnsQuestion {
  std::string name;
  DnsType type = DnsType::kTxt;
};

struct DnsAnswer {
  enum class Outcome { kFound, kNoSuchName, kNoRecords, kServerFailure, kTimeout };
  Outcome outcome = Outcome::kTimeout;
  std::vector<std::string> records;  // kFound only
  std::string problem;               // for kServerFailure and kTimeout: what happened

  // The answer is a fact about the domain (records, or their absence).
  bool Known() const { return outcome != Outcome::kServerFailure && outcome != Outcome::kTimeout; }
};

struct DnsResolverOptions {
  std::vector<Endpoint> servers;  // empty: the system's (/etc/resolv.conf)
  std::chrono::milliseconds timeout{2000};
  int tries = 2;
  size_t max_in_flight = 64;
};

class DnsResolver {
 public:
  static Result<std::unique_ptr<DnsResolver>> Create(const DnsResolverOptions& options);
  ~DnsResolver();

  // One answer per question, in the questions' order.
  std::vector<DnsAnswer> Resolve(const std::vector<DnsQuestion>& questions);

  DnsResolver(const DnsResolver&) = delete;
  DnsResolver& operator=(const DnsResolver&) = delete;

 private:
  struct Impl;
  explicit DnsResolver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Options asking `servers` ("HOST:PORT", as a --dns-server flag gives them; none: the
// system's resolvers) with `timeout`; an unreadable server is kInvalidArgument naming it.
Result<DnsResolverOptions> DnsResolverOptionsFor(const std::vector<std::string>& servers,
                                                 std::chrono::milliseconds timeout);

}  // namespace gw
