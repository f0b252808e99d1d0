// Test support for applies that must converge however they are interrupted: a repository
// written in numbered rounds (every customer and every user changes from one round to the
// next), and what the audit log says about who held the partner's lease when.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "gateway/client.h"
#include "temp_repo.h"

namespace gwtest {

// Customers c00.. of partner northwind, each with `users` CSV users; round `round` sets
// billableUsers to 500 + round and every user's first name to "U<n> r<round>". The
// repository lifts the update limit, since every round updates every customer.
inline void WriteRound(const gwctl::testing::TempRepo& repo, int round, int customers, int users) {
  repo.Write("gwctl.yaml",
             "apiVersion: gwctl/v1\nkind: Repository\nmetadata: {name: northwind}\n"
             "spec: {safety: {maxUpdatePercent: 100}}\n");
  for (int c = 0; c < customers; ++c) {
    std::string name = fmt::format("c{:02d}", c);
    repo.Write("customers/" + name + ".yaml",
               fmt::format("apiVersion: gwctl/v1\nkind: Customer\nmetadata: {{name: {0}}}\nspec:\n"
                           "  product: ultimate-defense\n  billableUsers: {1}\n  domains: "
                           "{{primary: {0}.example}}\n"
                           "  destinations: mx.{0}.example\n  users: {{csv: [{0}.csv]}}\n",
                           name, 500 + round));
    std::string csv = "email,first_name\n";
    for (int u = 0; u < users; ++u)
      csv += fmt::format("u{}@{}.example,U{} r{}\n", u, name, u, round);
    repo.Write("customers/" + name + ".csv", csv);
  }
}

// How many of northwind's customers carry round `round`'s billableUsers (-1: unreadable).
inline int CustomersAtRound(gw::GatewayClient& client, int round) {
  auto state = client.GetState("northwind");
  if (!state.ok()) return -1;
  int count = 0;
  for (const auto& customer : state->customers)
    if (customer.spec.value("billableUsers", 0) == 500 + round) ++count;
  return count;
}

// The partner's audit log read as lease history.
struct LeaseHistory {
  struct Term {
    std::string holder;
    std::map<std::string, size_t> writes;  // action -> how many, while it held the lease
  };
  std::vector<Term> terms;            // in the order the lease was acquired
  std::vector<std::string> problems;  // an acquisition while held, a write outside a lease
  size_t writes = 0;                  // writes made under a lease

  std::vector<std::string> Holders() const {
    std::vector<std::string> holders;
    for (const auto& term : terms) holders.push_back(term.holder);
    return holders;
  }
};

inline LeaseHistory ReadLeaseHistory(const std::vector<gw::AuditEntry>& audit) {
  LeaseHistory history;
  std::string holder;
  for (const auto& entry : audit) {
    if (entry.action == "lease.acquire") {
      if (!holder.empty())
        history.problems.push_back(
            fmt::format("acquired by {} while {} held it", entry.target, holder));
      holder = entry.target;
      history.terms.push_back({holder, {}});
    } else if (entry.action == "lease.release") {
      if (holder != entry.target)
        history.problems.push_back(
            fmt::format("released by {} while {} held it", entry.target, holder));
      holder.clear();
    } else if (entry.action != "partner.create") {
      if (holder.empty())
        history.problems.push_back(
            fmt::format("{} {} outside a lease", entry.action, entry.target));
      else
        ++history.writes, ++history.terms.back().writes[entry.action];
    }
  }
  return history;
}

}  // namespace gwtest
