// LoopAlerts: what `gwctl run` tells people (gateway/notifier.h) after each pass, read off
// the loop's status: a pass that cannot run (git or the gateway unreachable), a commit
// refused, a customer failing or in conflict, drift left standing (--drift report), a user
// source failing, and a source's credential about to expire. Each is an incident keyed
// by what it concerns ("customer/acme", "source/acme/ldap/corp"), told once and again
// when it ends, including when its customer or source leaves the repository.
#pragma once

#include <set>
#include <string>

#include "gateway/notifier.h"
#include "loop.h"

namespace gwctl {

class LoopAlerts {
 public:
  explicit LoopAlerts(gw::Notifier& notifier) : notifier_(notifier) {}
  void Report(const LoopStatus& status);

 private:
  gw::Notifier& notifier_;
  std::set<std::string> seen_;  // keys reported failing, until reported fine
};

}  // namespace gwctl
