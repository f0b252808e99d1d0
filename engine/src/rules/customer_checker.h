#pragma once

// One customer's spec checked and compiled, rule by rule (the numbers are MANIFESTS.md's).
// CompileCustomer and CheckPartnerDefaults in gateway/customer_rules.h are the contract; this
// class is their implementation, split by concern: customer_rules.cpp (domains, directory
// sources, continuity, archiving), delivery_rules.cpp (destinations, TLS, the outbound
// relay) and filter_rules.cpp (content filter, lists, spam report).

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/customer_rules.h"
#include "gateway/json_cursor.h"

namespace gw {

class CustomerChecker {
 public:
  CustomerChecker(const nlohmann::json& document, const CustomerRuleOptions& options,
                  RuleFindings& findings)
      : options_(options), findings_(findings), spec_(JsonCursor::Root(document)["spec"]) {}

  CompiledCustomer Compile();
  // The checks that need nothing but the values themselves, for PartnerDefaults.
  void CheckValues();

 private:
  CompiledCustomer Finish();

  void Add(RuleFinding::Severity severity, const JsonCursor& at, const char* rule,
           std::string message, std::string related = {}) {
    findings_.push_back(
        {severity, at.pointer(), false, rule, std::move(message), std::move(related)});
  }
  void Error(const JsonCursor& at, const char* rule, std::string message,
             std::string related = {}) {
    Add(RuleFinding::Severity::kError, at, rule, std::move(message), std::move(related));
  }
  void Warning(const JsonCursor& at, const char* rule, std::string message) {
    Add(RuleFinding::Severity::kWarning, at, rule, std::move(message));
  }

  // customer_rules.cpp
  void CheckDomains();
  void CheckLdapSources();
  void CheckCloudDirectories();
  void CheckSyncIntervals();
  void CheckContinuity();
  std::optional<int64_t> CheckRetention(const JsonCursor& retention);
  void CheckArchiving();
  void CheckRegion();

  // delivery_rules.cpp
  void CheckDestinations();
  void CheckDeliveryTls();
  Status CheckInternal(const Destination& destination) const;
  bool IsGatewayItself(const Destination& destination) const;
  void CheckOutboundRelay();
  void CheckRelayBinding(const JsonCursor& relay);

  // filter_rules.cpp
  void CheckContentFilter();
  std::optional<ListEntry> ListEntryAt(const JsonCursor& entry, bool own_domain_warning);
  void CheckLists();
  void CheckSpamReport();
  void CheckSelfService();

  const CustomerRuleOptions& options_;
  RuleFindings& findings_;
  JsonCursor spec_;
  CustomerConfig config_;
  std::vector<std::string> domain_pointers_;
  std::vector<std::string> relay_pointers_;
};

}  // namespace gw
