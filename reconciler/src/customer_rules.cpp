#include "customer_rules.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "gateway/domain_name.h"
#include "gwctl/csv.h"
#include "gwctl/quantity.h"
#include "gwctl/time_zone.h"
#include "json_cursor.h"
#include "text.h"

namespace gwctl {

using gw::IsSameOrSubdomain;
using gw::NormalizeDomain;
using gw::ParseEmailAddress;

namespace {

constexpr uint64_t kMinMessageSize = 1024;
constexpr uint64_t kMaxMessageSize = 2ull << 30;
const std::set<std::string> kAttachmentCategories = {"executable", "docmacro",  "xlsmacro",
                                                     "pptmacro",   "mediafile", "archive"};
const std::set<std::string> kUserTypes = {"mailbox", "shared", "resource", "alias"};

class CustomerChecker {
 public:
  CustomerChecker(CustomerManifest& customer, const CustomerRuleContext& context,
                  Diagnostics& diagnostics, CustomerClaims& claims)
      : customer_(customer),
        context_(context),
        diagnostics_(diagnostics),
        claims_(claims),
        doc_(customer.effective),
        spec_(JsonCursor::Root(doc_)["spec"]) {}

  // The checks that need nothing but the values themselves, for PartnerDefaults.
  void RunValueChecks() {
    CheckContentFilter();
    CheckSpamReport();
    CheckRetention(spec_["continuity"]["retention"]);
    CheckArchiving();
  }

  size_t Run() {
    if (!spec_.is_object()) return 0;
    CheckDomains();
    CheckDestinations();
    CheckOutboundRelay();
    CheckUsers();
    CheckLdapSources();
    CheckContentFilter();
    CheckLists();
    CheckSpamReport();
    CheckContinuity();
    CheckArchiving();
    return csv_files_;
  }

 private:
  void Error(const JsonCursor& at, const char* rule, std::string message, bool key = false) {
    diagnostics_.Error(doc_.LocationOf(at.pointer(), key), rule, std::move(message));
  }
  void Warning(const JsonCursor& at, const char* rule, std::string message) {
    diagnostics_.Warning(doc_.LocationOf(at.pointer()), rule, std::move(message));
  }
  Location At(const JsonCursor& at) const { return doc_.LocationOf(at.pointer()); }

  bool InCustomerDomains(const std::string& domain) const { return domain_set_.count(domain) > 0; }

  // Rule 3 (this customer's part): valid names, alias != primary, no repeats.
  void CheckDomains() {
    auto domains = spec_["domains"];
    auto add = [&](const JsonCursor& at, bool is_alias) {
      const std::string* text = at.string();
      if (!text) return;
      auto normalized = NormalizeDomain(*text);
      if (!normalized.ok()) {
        Error(at, "domain-invalid", normalized.status().message());
        return;
      }
      if (is_alias && !customer_.domains.empty() && *normalized == customer_.domains.front()) {
        Error(at, "alias-equals-primary", fmt::format("alias '{}' is the primary domain", *text));
        return;
      }
      if (!domain_set_.insert(*normalized).second) {
        Error(at, "domain-duplicate",
              fmt::format("domain '{}' is listed twice for this customer", *text));
        return;
      }
      customer_.domains.push_back(*normalized);
      claims_.domains.emplace_back(*normalized, At(at));
    };
    add(domains["primary"], false);
    if (customer_.domains.empty()) customer_.domains.push_back("");  // keeps the primary slot
    auto aliases = domains["aliases"];
    for (size_t i = 0; i < aliases.size(); ++i) add(aliases[i], true);
    if (customer_.domains.front().empty()) customer_.domains.erase(customer_.domains.begin());
  }

  // Rule 4.
  void CheckDestinations() {
    auto destinations = spec_["destinations"];
    std::vector<std::pair<Destination, JsonCursor>> parsed;
    if (const std::string* shorthand = destinations.string()) {
      auto list = ParseDestinationShorthand(*shorthand);
      if (!list.ok()) {
        Error(destinations, "destination-invalid", list.status().message());
      } else {
        for (auto& d : *list) parsed.emplace_back(std::move(d), destinations);
      }
    } else {
      for (size_t i = 0; i < destinations.size(); ++i) {
        auto entry = destinations[i];
        const std::string* host = entry["host"].string();
        if (!host) continue;
        auto normalized = NormalizeHost(*host);
        if (!normalized.ok()) {
          Error(entry["host"], "destination-invalid", normalized.status().message());
          continue;
        }
        Destination d;
        d.host = std::move(normalized).value();
        d.port = static_cast<int>(entry["port"].integer().value_or(25));
        d.preference =
            static_cast<int>(entry["preference"].integer().value_or(DefaultPreference(i)));
        parsed.emplace_back(std::move(d), entry);
      }
    }
    std::map<std::pair<std::string, int>, const JsonCursor*> seen;
    for (const auto& [destination, at] : parsed) {
      if (!seen.emplace(std::make_pair(destination.host, destination.port), &at).second) {
        Error(at, "destination-duplicate",
              fmt::format("destination {}:{} is listed twice", destination.host, destination.port));
        continue;
      }
      if (destination.host == context_.gateway_host || destination.host == "127.0.0.1" ||
          destination.host == "::1" || destination.host == "localhost") {
        Error(
            at, "destination-self",
            fmt::format("destination {} is the gateway itself; mail would loop", destination.host));
        continue;
      }
      customer_.destinations.push_back(destination);
    }
    bool filtering = spec_["filtering"]["enabled"].boolean_or(true);
    if (filtering && !destinations.exists()) {
      Error(spec_, "destination-missing",
            "filtering is enabled but no destinations are set: the gateway would have nowhere to "
            "deliver mail");
    }
  }

  // Rule 5 (this customer's part; overlaps between customers are checked repository-wide).
  void CheckOutboundRelay() {
    auto relay = spec_["outboundRelay"];
    if (!relay.is_object()) return;
    auto sources = relay["sources"];
    bool enabled = relay["enabled"].boolean_or(true);
    if (sources.exists() && relay["service"].exists()) {
      Error(relay, "relay-config", "set either sources or service, not both");
    } else if (enabled && !sources.exists() && !relay["service"].exists()) {
      Error(relay, "relay-config",
            "the outbound relay is enabled but has neither sources nor service");
    }
    std::vector<std::pair<std::string, JsonCursor>> entries;
    if (const std::string* comma = sources.string()) {
      for (auto& part : Split(*comma, ',')) entries.emplace_back(std::move(part), sources);
    } else {
      for (size_t i = 0; i < sources.size(); ++i) {
        if (const std::string* text = sources[i].string()) entries.emplace_back(*text, sources[i]);
      }
    }
    std::set<IpRange> seen;
    for (const auto& [text, at] : entries) {
      auto range = IpRange::Parse(text);
      if (!range.ok()) {
        Error(at, "relay-source-invalid", range.status().message());
        continue;
      }
      if (!seen.insert(*range).second) {
        Error(at, "relay-source-duplicate",
              fmt::format("relay source {} is listed twice", range->ToString()));
        continue;
      }
      int widest = range->is_v6() ? 48 : 16;
      if (range->prefix_length() < widest) {
        Warning(at, "relay-source-wide",
                fmt::format(
                    "relay source {} is wider than /{}: everyone in it may relay as this customer",
                    range->ToString(), widest));
      }
      if (range->IsPrivate()) {
        Warning(at, "relay-source-private",
                fmt::format("relay source {} is a private range; the gateway sees the customer's "
                            "public address",
                            range->ToString()));
      }
      customer_.relay_sources.push_back(*range);
      claims_.relay_sources.emplace_back(*range, At(at));
    }
  }

  // Rule 6: inline mailboxes and CSV files.
  void CheckUsers() {
    auto users = spec_["users"];
    auto mailboxes = users["mailboxes"];
    for (size_t i = 0; i < mailboxes.size(); ++i) {
      auto entry = mailboxes[i];
      UserRecord user;
      user.source = "manifest";
      user.location = At(entry);
      user.first_name = entry["firstName"].string_or("");
      user.last_name = entry["lastName"].string_or("");
      user.type = entry["type"].string_or("mailbox");
      auto address = CheckAddress(entry["address"]);
      if (!address) continue;
      user.address = *address;
      auto aliases = entry["aliases"];
      for (size_t k = 0; k < aliases.size(); ++k) {
        if (auto alias = CheckAddress(aliases[k])) user.aliases.push_back(*alias);
      }
      AddUser(std::move(user),
              [&](const std::string& message) { Error(entry, "user-duplicate", message); });
    }
    auto csv = users["csv"];
    for (size_t i = 0; i < csv.size(); ++i) {
      if (const std::string* path = csv[i].string()) ReadCsv(*path, csv[i]);
    }
    std::sort(customer_.users.begin(), customer_.users.end(),
              [](const UserRecord& a, const UserRecord& b) { return a.address < b.address; });
    auto billable =
        static_cast<int64_t>(std::count_if(customer_.users.begin(), customer_.users.end(),
                                           [](const UserRecord& u) { return u.billable(); }));
    if (auto declared = spec_["billableUsers"].integer(); declared && billable > *declared) {
      Warning(spec_["billableUsers"], "billable-users",
              fmt::format("{} billable mailboxes are listed but billableUsers is {}", billable,
                          *declared));
    }
  }

  struct AddressProblem {
    const char* rule;  // user-invalid or user-domain
    std::string message;
  };

  // Why `text` is not a valid address in one of the customer's domains, if it is not.
  std::optional<AddressProblem> FindAddressProblem(const std::string& text) const {
    auto address = ParseEmailAddress(text);
    if (!address.ok()) return AddressProblem{"user-invalid", address.status().message()};
    if (!InCustomerDomains(address->domain)) {
      return AddressProblem{"user-domain",
                            fmt::format("'{}' is not in this customer's domains ({})", text,
                                        fmt::join(customer_.domains, ", "))};
    }
    return std::nullopt;
  }

  // Parses an address written at `at` and checks its domain; reports and returns
  // nothing when it is invalid.
  std::optional<std::string> CheckAddress(const JsonCursor& at) {
    const std::string* text = at.string();
    if (!text) return std::nullopt;
    if (auto problem = FindAddressProblem(*text)) {
      Error(at, problem->rule, problem->message);
      return std::nullopt;
    }
    return ParseEmailAddress(*text)->ToString();
  }

  // Records a user and its aliases; on a clash, an inline entry wins over a CSV one
  // silently (rule 6); any other clash is reported through `report`.
  template <typename Report>
  void AddUser(UserRecord user, Report report) {
    std::vector<std::string> names = {user.address};
    names.insert(names.end(), user.aliases.begin(), user.aliases.end());
    for (const auto& name : names) {
      auto it = owners_.find(name);
      if (it == owners_.end()) continue;
      const UserRecord& existing = customer_.users[it->second];
      if (user.source == "csv" && existing.source == "manifest" && name == user.address &&
          existing.address == name) {
        return;  // merged: the inline mailbox wins
      }
      report(fmt::format("address '{}' is already defined at {}", name,
                         FileAndLine(existing.location)));
      return;
    }
    for (const auto& name : names) owners_[name] = customer_.users.size();
    customer_.users.push_back(std::move(user));
  }

  void ReadCsv(const std::string& written, const JsonCursor& at) {
    auto path = ResolveRepositoryPath(doc_.LocationOf(at.pointer()).file, written);
    if (!path.ok()) {
      Error(at, "csv-path", path.status().message());
      return;
    }
    auto contents = context_.tree->Read(*path, context_.limits.max_csv_bytes);
    if (!contents.ok()) {
      Error(
          at,
          contents.status().code() == gw::StatusCode::kInvalidArgument ? "path-escape" : "csv-path",
          contents.status().message());
      return;
    }
    ++csv_files_;
    int line = 0, column = 0;
    if (FindInvalidUtf8(*contents, line, column)) {
      diagnostics_.Error({*path, line, column}, "utf8",
                         "invalid UTF-8; CSV files must be UTF-8 text");
      return;
    }
    auto records = ParseCsv(*path, *contents, diagnostics_);
    if (records.empty()) {
      diagnostics_.Error({*path, 1, 1}, "csv",
                         "the file is empty; a header row with an email column is required");
      return;
    }
    static const std::set<std::string> kColumns = {"email", "first_name", "last_name", "type",
                                                   "aliases"};
    std::map<std::string, size_t> columns;
    for (size_t i = 0; i < records[0].fields.size(); ++i) {
      const CsvField& header = records[0].fields[i];
      std::string name = Trim(header.value);
      if (!kColumns.count(name)) {
        diagnostics_.Error(
            {*path, header.line, header.column}, "csv",
            fmt::format(
                "unknown column '{}' (columns: email, first_name, last_name, type, aliases)",
                name));
      } else if (!columns.emplace(name, i).second) {
        diagnostics_.Error({*path, header.line, header.column}, "csv",
                           fmt::format("column '{}' appears twice", name));
      }
    }
    if (!columns.count("email")) {
      diagnostics_.Error({*path, records[0].line, 1}, "csv",
                         "the header row has no 'email' column");
      return;
    }
    size_t width = records[0].fields.size();
    for (size_t r = 1; r < records.size(); ++r) {
      const CsvRecord& record = records[r];
      if (record.fields.size() != width) {
        diagnostics_.Error(
            {*path, record.line, 1}, "csv",
            fmt::format("row has {} fields; the header has {}", record.fields.size(), width));
        continue;
      }
      auto field = [&](const char* name) -> const CsvField* {
        auto it = columns.find(name);
        return it == columns.end() ? nullptr : &record.fields[it->second];
      };
      auto error = [&](const CsvField& f, const char* rule, std::string message) {
        diagnostics_.Error({*path, f.line, f.column}, rule, std::move(message));
      };
      UserRecord user;
      user.source = "csv";
      user.location = {*path, record.line, 0};
      const CsvField& email = *field("email");
      if (Trim(email.value).empty()) {
        error(email, "csv", "email is empty");
        continue;
      }
      if (auto problem = FindAddressProblem(Trim(email.value))) {
        error(email, problem->rule, problem->message);
        continue;
      }
      user.address = ParseEmailAddress(Trim(email.value))->ToString();
      if (const CsvField* f = field("first_name")) user.first_name = Trim(f->value);
      if (const CsvField* f = field("last_name")) user.last_name = Trim(f->value);
      if (const CsvField* f = field("type"); f && !Trim(f->value).empty()) {
        user.type = Trim(f->value);
        if (!kUserTypes.count(user.type)) {
          error(
              *f, "csv",
              fmt::format("type '{}' must be one of: mailbox, shared, resource, alias", user.type));
          continue;
        }
      }
      bool aliases_ok = true;
      if (const CsvField* f = field("aliases")) {
        for (const auto& alias : Split(f->value, ';')) {
          if (auto problem = FindAddressProblem(alias)) {
            error(*f, problem->rule, problem->message);
            aliases_ok = false;
            continue;
          }
          user.aliases.push_back(ParseEmailAddress(alias)->ToString());
        }
      }
      if (!aliases_ok) continue;
      AddUser(std::move(user),
              [&](const std::string& message) { error(email, "user-duplicate", message); });
    }
  }

  // Rule 7.
  void CheckLdapSources() {
    auto sources = spec_["users"]["ldap"];
    for (size_t i = 0; i < sources.size(); ++i) {
      auto source = sources[i];
      const std::string* url = source["url"].string();
      if (!url) continue;
      bool ldaps = url->rfind("ldaps://", 0) == 0;
      if (!ldaps && url->rfind("ldap://", 0) != 0) continue;  // the schema reports it
      std::string authority = url->substr(ldaps ? 8 : 7);
      if (!authority.empty() && authority.back() == '/') authority.pop_back();
      std::string host = authority;
      int port = ldaps ? 636 : 389;
      if (!authority.empty() && authority.front() == '[') {
        size_t close = authority.find(']');
        host = authority.substr(1, close == std::string::npos ? std::string::npos : close - 1);
        if (close != std::string::npos && close + 1 < authority.size())
          port = std::atoi(authority.c_str() + close + 2);
      } else if (auto colon = authority.find(':'); colon != std::string::npos) {
        host = authority.substr(0, colon);
        port = std::atoi(authority.c_str() + colon + 1);
      }
      bool starttls = source["startTLS"].boolean_or(false);
      if (ldaps && starttls)
        Error(source["startTLS"], "ldap-config",
              "startTLS upgrades ldap:// connections; ldaps:// is TLS already");
      bool tls = ldaps || starttls;
      bool host_is_ip = IpRange::Parse(host).ok();
      if (tls && host_is_ip) {
        Error(
            source["url"], "ldap-tls-host",
            fmt::format("TLS certificate checking needs a hostname, not the IP address {}", host));
      }
      if (port == 636 && !tls)
        Warning(source["url"], "ldap-port", "port 636 is LDAPS; this source does not use TLS");
      if (ldaps && port == 389)
        Warning(source["url"], "ldap-port", "ldaps:// on port 389, the plain LDAP port");
      if (port < 1 || port > 65535) Error(source["url"], "ldap-config", "the port must be 1-65535");
      if (source["bindDN"].exists() && !source["bindPasswordRef"].exists()) {
        Error(source, "ldap-config",
              "bindDN is set but bindPasswordRef is not (omit bindDN for an anonymous bind)");
      }
      if (!source["bindDN"].exists() && source["bindPasswordRef"].exists()) {
        Error(source["bindPasswordRef"], "ldap-config", "bindPasswordRef is set but bindDN is not");
      }
    }
  }

  // Rule 8.
  void CheckContentFilter() {
    auto filter = spec_["filtering"]["contentFilter"];
    if (const std::string* size = filter["maxMessageSize"].string()) {
      auto bytes = ParseSize(*size);
      if (bytes.ok() && (*bytes < kMinMessageSize || *bytes > kMaxMessageSize)) {
        Error(filter["maxMessageSize"], "content-filter-size",
              fmt::format("maxMessageSize {} is outside 1KiB-2GiB", *size));
      }
    }
    auto attachments = filter["forbiddenAttachments"];
    for (size_t i = 0; i < attachments.size(); ++i) {
      const std::string* entry = attachments[i].string();
      if (!entry || kAttachmentCategories.count(*entry)) continue;
      std::string lower = *entry;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      bool extension_chars =
          lower.size() > 1 && std::all_of(lower.begin() + 1, lower.end(), [](unsigned char c) {
            return std::isalnum(c) || c == '-' || c == '_' || c == '.';
          });
      if (entry->front() == '.' && extension_chars && lower != *entry) {
        Error(attachments[i], "attachment-type",
              fmt::format("extension '{}' must be lowercase: '{}'", *entry, lower));
      } else if (entry->front() != '.' || !extension_chars) {
        Error(
            attachments[i], "attachment-type",
            fmt::format(
                "'{}' is neither a category (executable, docmacro, xlsmacro, pptmacro, mediafile, "
                "archive) nor an extension such as .iso",
                *entry));
      }
    }
  }

  // Rule 9.
  void CheckLists() {
    auto lists = spec_["lists"];
    std::map<std::string, JsonCursor> allowed;
    auto normalize_entry = [&](const JsonCursor& entry,
                               bool own_domain_warning) -> std::optional<std::string> {
      for (const char* field : {"sender", "senderDomain", "ip", "recipient", "recipientDomain"}) {
        const std::string* value = entry[field].string();
        if (!value) continue;
        std::string kind(field);
        gw::Result<std::string> normalized = gw::Status(gw::StatusCode::kInvalidArgument, "");
        std::string domain;
        if (kind == "sender" || kind == "recipient") {
          auto address = ParseEmailAddress(*value);
          if (address.ok()) domain = address->domain;
          normalized =
              address.ok() ? gw::Result<std::string>(address->ToString()) : address.status();
        } else if (kind == "ip") {
          auto range = IpRange::Parse(*value);
          normalized = range.ok() ? gw::Result<std::string>(range->ToString()) : range.status();
        } else {
          normalized = NormalizeDomain(*value);
          if (normalized.ok()) domain = *normalized;
        }
        if (!normalized.ok()) {
          Error(entry[field], "list-entry-invalid", normalized.status().message());
          return std::nullopt;
        }
        if (own_domain_warning && !domain.empty()) {
          for (const auto& own : customer_.domains) {
            if (IsSameOrSubdomain(domain, own)) {
              Warning(
                  entry[field], "allow-own-domain",
                  fmt::format(
                      "allow-listing the customer's own domain {} lets spoofed mail through", own));
              break;
            }
          }
        }
        return kind + ":" + *normalized;
      }
      return std::nullopt;
    };
    auto allow = lists["allow"];
    for (size_t i = 0; i < allow.size(); ++i) {
      if (auto key = normalize_entry(allow[i], true)) allowed.emplace(*key, allow[i]);
    }
    auto block = lists["block"];
    for (size_t i = 0; i < block.size(); ++i) {
      auto key = normalize_entry(block[i], false);
      if (!key) continue;
      if (auto it = allowed.find(*key); it != allowed.end()) {
        Error(block[i], "list-conflict",
              fmt::format("{} is on both the allow list ({}) and the block list",
                          key->substr(key->find(':') + 1), FileAndLine(At(it->second))));
      }
    }
    auto outbound = lists["outboundBlock"];
    for (size_t i = 0; i < outbound.size(); ++i) normalize_entry(outbound[i], false);
    auto recipient_allow = lists["recipientAllow"];
    std::map<std::string, JsonCursor> allowed_recipients;
    for (size_t i = 0; i < recipient_allow.size(); ++i) {
      const std::string* local = recipient_allow[i].string();
      if (!local) continue;
      if (*local == "*") {
        Error(recipient_allow[i], "recipient-allow-all",
              "recipientAllow: \"*\" would deliver every message unfiltered, switching filtering "
              "off");
      }
      allowed_recipients.emplace(*local, recipient_allow[i]);
    }
    auto recipient_block = lists["recipientBlock"];
    for (size_t i = 0; i < recipient_block.size(); ++i) {
      const std::string* local = recipient_block[i].string();
      if (!local) continue;
      if (auto it = allowed_recipients.find(*local); it != allowed_recipients.end()) {
        Error(recipient_block[i], "list-conflict",
              fmt::format("'{}' is on both recipientAllow ({}) and recipientBlock", *local,
                          FileAndLine(At(it->second))));
      }
    }
  }

  // Rule 10.
  void CheckSpamReport() {
    auto report = spec_["filtering"]["spamReport"];
    if (!report.is_object()) return;
    if (report["enabled"].boolean_or(false)) {
      if (report["days"].size() == 0)
        Error(report, "spam-report", "the spam report is enabled but has no days");
      if (report["times"].size() == 0)
        Error(report, "spam-report", "the spam report is enabled but has no times");
    }
    if (const std::string* zone = report["timezone"].string(); zone && !IsKnownTimeZone(*zone)) {
      Error(report["timezone"], "spam-report",
            fmt::format("unknown time zone '{}' (use an IANA name such as Europe/London)", *zone));
    }
  }

  // Rule 11.
  void CheckContinuity() {
    auto continuity = spec_["continuity"];
    if (!continuity.is_object()) return;
    auto enabled = continuity["enabled"];
    std::string origin = FileAndLine(At(enabled));
    if (enabled.boolean_or(false)) {
      if (spec_["product"].string_or("") != "ultimate-access" && spec_["product"].exists()) {
        Error(spec_["product"], "continuity",
              fmt::format("continuity is enabled ({}) but needs product ultimate-access, not {}",
                          origin, spec_["product"].string_or("")));
      }
      // With filtering on, a missing destination is already reported by rule 4.
      if (!spec_["destinations"].exists() && !spec_["filtering"]["enabled"].boolean_or(true)) {
        Error(enabled, "continuity",
              "continuity needs a destination: it keeps mail while that server is down");
      }
    }
    CheckRetention(continuity["retention"]);
    auto members = continuity["members"];
    std::string scope = continuity["scope"].string_or("all");
    if (members.size() > 0 && scope != "selected") {
      Error(members, "continuity", "members are only used with scope: selected");
    }
    if (scope == "selected" && members.size() == 0) {
      Error(continuity["scope"], "continuity", "scope: selected needs at least one member");
    }
    bool has_ldap = spec_["users"]["ldap"].size() > 0;  // LDAP users are known only at plan time
    for (size_t i = 0; i < members.size(); ++i) {
      const std::string* text = members[i].string();
      if (!text) continue;
      auto address = ParseEmailAddress(*text);
      if (!address.ok()) {
        Error(members[i], "continuity", address.status().message());
      } else if (!owners_.count(address->ToString()) && !has_ldap) {
        Error(members[i], "continuity",
              fmt::format("member '{}' is not one of this customer's users", *text));
      }
    }
  }

  void CheckRetention(const JsonCursor& retention) {
    if (const std::string* text = retention.string()) {
      auto days = ParseDays(*text);
      if (days.ok() && (*days < 1 || *days > 365)) {
        Error(retention, "continuity", fmt::format("retention {} is outside 1d-365d", *text));
      }
    }
  }

  void CheckArchiving() {
    auto retention = spec_["archiving"]["retention"];
    if (const std::string* text = retention.string()) {
      auto days = ParseDays(*text);
      if (days.ok() && *days < 1) Error(retention, "archiving", "retention must be at least 1d");
    }
  }

  CustomerManifest& customer_;
  const CustomerRuleContext& context_;
  Diagnostics& diagnostics_;
  CustomerClaims& claims_;
  const LocatedDocument& doc_;
  JsonCursor spec_;
  std::set<std::string> domain_set_;
  std::unordered_map<std::string, size_t> owners_;  // address or alias -> index in users
  size_t csv_files_ = 0;
};

}  // namespace

void CheckDefaults(const LocatedDocument& defaults, Diagnostics& diagnostics) {
  // Runs on a copy shaped like a customer; nothing is read through the tree.
  CustomerManifest holder;
  holder.effective = defaults;
  CustomerClaims unused_claims;
  ValidationLimits unused_limits;
  CustomerRuleContext no_tree{nullptr, unused_limits, ""};
  CustomerChecker(holder, no_tree, diagnostics, unused_claims).RunValueChecks();
}

size_t CheckCustomer(CustomerManifest& customer, const CustomerRuleContext& context,
                     Diagnostics& diagnostics, CustomerClaims& claims) {
  return CustomerChecker(customer, context, diagnostics, claims).Run();
}

}  // namespace gwctl
