#include "lookups/postfix_protocols.h"

#include <charconv>
#include <map>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gateway/continuity.h"
#include "gateway/domain_name.h"
#include "gateway/filter_profile.h"
#include "gateway/mail_policy.h"

namespace gw::postfix {
namespace {

// Longest socketmap request: a map name and an address (at most 254 bytes) fit easily.
constexpr size_t kMaxSocketmapRequest = 4096;
// Longest memcache command line (keys are at most 250 bytes).
constexpr size_t kMaxMemcacheLine = 1024;

std::optional<uint64_t> ParseNumber(std::string_view text) {
  uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) {
    return std::nullopt;
  }
  return value;
}

// The first netstring of `text` ("5:hello,"), taken off its front; nothing when `text`
// does not start with a whole one.
std::optional<std::string_view> TakeNetstring(std::string_view& text) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto length = ParseNumber(text.substr(0, colon));
  size_t rest = text.size() - colon - 1;
  if (!length || *length >= rest || text[colon + 1 + *length] != ',') return std::nullopt;
  std::string_view value = text.substr(colon + 1, *length);
  text.remove_prefix(colon + 2 + *length);
  return value;
}

// Drops the requests answered from the input (all of it when the connection closes).
bool Finish(std::string& input, size_t consumed, bool open) {
  if (open) {
    input.erase(0, consumed);
  } else {
    input.clear();
  }
  return open;
}

std::string_view DomainOf(std::string_view address) {
  size_t at = address.rfind('@');
  return at == std::string_view::npos ? address : address.substr(at + 1);
}

// Printable for a log line: control bytes escaped, long text cut.
std::string Quote(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 120)) {
    auto byte = static_cast<unsigned char>(c);
    out += byte < 0x20 || byte >= 0x7f ? fmt::format("\\x{:02x}", byte) : std::string(1, c);
  }
  return text.size() > 120 ? out + "..." : out;
}

class Socketmap : public Protocol {
 public:
  Socketmap(DirectoryGetter directory, const ContinuityRouting* continuity, ProblemLog log)
      : directory_(std::move(directory)), continuity_(continuity), log_(std::move(log)) {}

  bool Consume(std::string& input, std::string& output) override {
    size_t pos = 0;
    bool open = true;
    while (pos < input.size()) {
      size_t digits = pos;
      while (digits < input.size() && digits - pos < 6 && input[digits] >= '0' &&
             input[digits] <= '9') {
        ++digits;
      }
      if (digits == input.size()) break;  // the length is still arriving
      auto length = ParseNumber(std::string_view(input).substr(pos, digits - pos));
      if (input[digits] != ':' || !length) {
        open = Fail(output, "malformed netstring", input.substr(pos, 40));
        break;
      }
      if (*length > kMaxSocketmapRequest) {
        open = Fail(output, fmt::format("request of {} bytes is too large", *length), "");
        break;
      }
      size_t end = digits + 1 + *length;
      if (end >= input.size()) break;  // the rest is still arriving
      if (input[end] != ',') {
        open = Fail(output, "malformed netstring", input.substr(pos, 40));
        break;
      }
      Reply(output, Answer(std::string_view(input).substr(digits + 1, *length)));
      pos = end + 1;
    }
    return Finish(input, pos, open);
  }

 private:
  static void Reply(std::string& output, const std::string& answer) {
    output += fmt::format("{}:{},", answer.size(), answer);
  }

  bool Fail(std::string& output, const std::string& problem, const std::string& sample) {
    log_(fmt::format("socketmap: {}{}; closing the connection", problem,
                     sample.empty() ? "" : " (" + Quote(sample) + ")"));
    Reply(output, "TEMP " + problem);
    return false;
  }

  std::string Answer(std::string_view request) {
    size_t space = request.find(' ');
    if (space == std::string_view::npos) {
      log_(fmt::format("socketmap: request without a key ({})", Quote(request)));
      return "PERM request without a key";
    }
    std::string_view map = request.substr(0, space);
    std::string_view key = request.substr(space + 1);
    auto directory = directory_();
    if (!directory) return "TEMP the gateway has not loaded its configuration yet";
    if (map == "domains") {
      const MailCustomer* customer = directory->CustomerFor(key);
      return customer ? "OK " + customer->partner + "/" + customer->name : "NOTFOUND ";
    }
    if (map == "recipients") {
      RecipientLookup found = FindRecipient(*directory, key);
      if (!found.customer) return "NOTFOUND ";
      if (!found.user.empty()) return "OK " + found.user;
      // Unknown addresses of a discovering customer go on to the policy, which probes them.
      return found.customer->config.address_discovery ? "OK discovery" : "NOTFOUND ";
    }
    if (map == "transport") {
      const MailCustomer* customer = directory->CustomerFor(DomainOf(key));
      if (!customer) return "NOTFOUND ";
      return "OK " + (continuity_ ? continuity_->TransportOf(*customer) : customer->transport);
    }
    // smtp_tls_policy_maps: the next hop's TLS policy; NOTFOUND keeps the default.
    if (map == "tls-policy") {
      std::string policy = directory->TlsPolicyFor(key);
      return policy.empty() ? "NOTFOUND " : "OK " + policy;
    }
    if (map == "filter") return FilterAnswer(*directory, key);
    if (map == "relay-filter") return RelayFilterAnswer(*directory, key);
    // The continuity listener's recipients: users whose mail is kept, while their
    // customer is in continuity (others get a 450 there and wait in the queue for their
    // server). Postfix may route by a transport answer it cached from before an outage
    // ended (kept mail handed back to it included): that mail waits too, and its retry
    // finds the customer's servers.
    if (map == "continuity") {
      RecipientLookup found = FindRecipient(*directory, key);
      bool kept = found.customer && !found.user.empty() && continuity_ &&
                  continuity_->Active(found.customer->partner, found.customer->name) &&
                  InContinuityScope(*found.customer, found.user);
      return kept ? "OK " + found.user : "NOTFOUND ";
    }
    // smtpd_sender_login_maps of authenticated submission: the login that may send as
    // this address (its user's, when they may use continuity).
    if (map == "logins") {
      RecipientLookup found = FindRecipient(*directory, key);
      bool may =
          found.customer && !found.user.empty() && MayUseContinuity(*found.customer, found.user);
      return may ? "OK " + found.user : "NOTFOUND ";
    }
    log_(fmt::format("socketmap: unknown map '{}'", Quote(map)));
    return fmt::format(
        "PERM unknown map '{}' (maps: domains, recipients, transport, tls-policy, filter, "
        "relay-filter, continuity, logins)",
        Quote(map));
  }

  // gw-milter's questions are keyed by FilterLookupKey: recipient, sender and client
  // address, each a netstring, so no address can shift the others.
  static std::optional<Envelope> FilterKey(std::string_view key) {
    std::vector<std::string> words;
    while (words.size() < 3) {
      auto word = TakeNetstring(key);
      if (!word) break;
      words.emplace_back(*word);
    }
    if (words.size() != 3 || !key.empty()) return std::nullopt;
    Envelope envelope;
    envelope.recipient = std::move(words[0]);
    envelope.sender = std::move(words[1]);
    envelope.client_address = std::move(words[2]);
    return envelope;
  }

  // The recipient's customer's filter settings, and whether the allow list exempts this
  // sender from spam scoring, as the policy decided at RCPT.
  static std::optional<FilterProfile> InboundProfile(const MailDirectory& directory,
                                                     const Envelope& envelope) {
    const MailCustomer* customer = directory.CustomerFor(DomainOf(envelope.recipient));
    if (!customer) return std::nullopt;
    FilterProfile profile =
        FilterProfileOf(customer->partner + "/" + customer->name, customer->config);
    Verdict verdict = DecideRecipient(directory, envelope);
    profile.skip_spam = verdict.action == Verdict::Action::kAccept &&
                        (verdict.rule == "allow-list" || verdict.rule == "recipient-allow");
    return profile;
  }

  static std::string FilterAnswer(const MailDirectory& directory, std::string_view key) {
    auto envelope = FilterKey(key);
    if (!envelope) return "PERM the filter key must be three netstrings: recipient, sender, client";
    auto profile = InboundProfile(directory, *envelope);
    return profile ? "OK " + ToJson(*profile).dump() : "NOTFOUND ";
  }

  // The relay listener's: the sending customer's outbound settings with its tenant proof
  // (never exempt from spam scoring: a customer's own account may be sending spam), and
  // the recipient's customer's inbound ones when the mail stays in the gateway.
  static std::string RelayFilterAnswer(const MailDirectory& directory, std::string_view key) {
    auto envelope = FilterKey(key);
    if (!envelope) {
      return "PERM the relay-filter key must be three netstrings: recipient, sender, client";
    }
    Verdict relayed = DecideRelay(directory, *envelope);
    if (!relayed.outbound || !relayed.customer || relayed.action == Verdict::Action::kRefuse) {
      return "NOTFOUND ";
    }
    const MailCustomer& sending = *relayed.customer;
    RelayFilter filter{FilterProfileOf(sending.partner + "/" + sending.name, sending.config), {}};
    filter.sender.proof = TenantProofOf(sending.config);
    filter.recipient = InboundProfile(directory, *envelope);
    return "OK " + ToJson(filter).dump();
  }

  DirectoryGetter directory_;
  const ContinuityRouting* continuity_;
  ProblemLog log_;
};

class Policy : public Protocol {
 public:
  Policy(DirectoryGetter directory, ProblemLog log, TlsTally* tally)
      : directory_(std::move(directory)), log_(std::move(log)), tally_(tally) {}

  bool Consume(std::string& input, std::string& output) override {
    size_t pos = 0;
    while (true) {
      size_t end = input.find("\n\n", pos);
      if (end == std::string::npos) {
        if (input.size() - pos > kMaxRequestBytes) {
          log_(fmt::format("policy: request over {} bytes; closing the connection",
                           kMaxRequestBytes));
          output += "action=451 4.3.5 policy request too large\n\n";
          return Finish(input, pos, false);
        }
        break;
      }
      std::map<std::string, std::string, std::less<>> attributes;
      std::string_view block = std::string_view(input).substr(pos, end - pos);
      while (!block.empty()) {
        size_t eol = block.find('\n');
        std::string_view line = block.substr(0, eol);
        block = eol == std::string_view::npos ? std::string_view() : block.substr(eol + 1);
        size_t equals = line.find('=');
        if (equals != std::string_view::npos) {
          attributes.insert_or_assign(std::string(line.substr(0, equals)),
                                      std::string(line.substr(equals + 1)));
        }
      }
      output += "action=" + Decide(attributes) + "\n\n";
      pos = end + 2;
    }
    return Finish(input, pos, true);
  }

 private:
  using Attributes = std::map<std::string, std::string, std::less<>>;

  static std::string Get(const Attributes& attributes, std::string_view name) {
    auto it = attributes.find(name);
    return it == attributes.end() ? "" : it->second;
  }

  std::string Incomplete(const std::string& problem) {
    log_("policy: " + problem);
    return "451 4.3.5 incomplete policy request";
  }

  std::string Decide(const Attributes& attributes) {
    if (Get(attributes, "request") != "smtpd_access_policy") {
      return Incomplete("a request without request=smtpd_access_policy");
    }
    std::string state = Get(attributes, "protocol_state");
    if (state.empty()) return Incomplete("a request without protocol_state");
    auto directory = directory_();
    if (!directory) return "451 4.3.0 the gateway has not loaded its configuration yet";
    // Postfix sends encryption_protocol empty for a cleartext connection; a request
    // without it counts as cleartext.
    Envelope envelope{Get(attributes, "sender"), Get(attributes, "recipient"), 0,
                      Get(attributes, "client_address"),
                      !Get(attributes, "encryption_protocol").empty()};
    auto size = ParseNumber(Get(attributes, "size"));
    if (state == "RCPT" || state == "END-OF-MESSAGE") {
      if (!size) return Incomplete(fmt::format("{} without a numeric size", state));
      envelope.size = *size;
    }
    std::string instance = Get(attributes, "instance");
    // postfix-config names the relay listener's context by whether a content filter
    // runs there to check a shared service's tenant proof.
    std::string context = Get(attributes, "policy_context");
    if (context == "release") return ReleaseRoute(*directory, envelope, state, attributes);
    if (context == "outbound" || context == "outbound-unfiltered") {
      if (state != "RCPT") return "DUNNO";
      if (envelope.recipient.empty()) return Incomplete("RCPT without a recipient");
      Verdict verdict = DecideRelay(*directory, envelope, context == "outbound");
      if (!verdict.accepted()) return verdict.reply;
      Tally(verdict, true, envelope);
      return "OK";
    }
    if (state == "RCPT") {
      if (envelope.recipient.empty()) return Incomplete("RCPT without a recipient");
      // Mail to other domains got here only through the relay restrictions, which
      // decided it; "" stands for it in the transaction's record.
      Verdict verdict = DecideRecipient(*directory, envelope);
      std::string owner;
      if (verdict.customer) {
        if (verdict.action != Verdict::Action::kAccept &&
            verdict.action != Verdict::Action::kProbe) {
          return verdict.reply;
        }
        owner = verdict.customer->partner + "/" + verdict.customer->name;
      }
      // One customer per transaction, so the end-of-data rules (and the milters') are
      // that customer's; clients send the other recipients again in a new transaction.
      if (instance != instance_) {
        instance_ = instance;
        instance_customer_ = owner;
        instance_domain_ = verdict.customer ? verdict.customer->config.domains.front() : "";
      } else if (owner != instance_customer_) {
        return fmt::format("452 4.5.3 <{}>: send mail for this domain in a separate transaction",
                           envelope.recipient);
      }
      if (!verdict.customer) return "DUNNO";
      Tally(verdict, false, envelope);
      return verdict.action == Verdict::Action::kProbe ? kDiscoveryClass : "DUNNO";
    }
    if (state == "END-OF-MESSAGE") {
      const MailCustomer* customer = nullptr;
      if (!envelope.recipient.empty()) {
        customer = FindRecipient(*directory, envelope.recipient).customer;
        if (!customer) return "DUNNO";  // relayed out
      } else if (!instance.empty() && instance == instance_) {
        if (instance_customer_.empty()) return "DUNNO";  // relayed out
        customer = directory->CustomerFor(instance_domain_);
      }
      if (!customer) return "451 4.3.0 the recipients of this message are not known; try again";
      Verdict verdict = DecideSize(*customer, envelope.size);
      return verdict.accepted() ? "DUNNO" : verdict.reply;
    }
    return "DUNNO";
  }

  // gatewayd's own deliveries: kept continuity mail goes straight to its customer's
  // servers (FILTER overrides the transport, which Postfix may hold from the outage);
  // released and report mail is routed as any other.
  static std::string ReleaseRoute(const MailDirectory& directory, const Envelope& envelope,
                                  const std::string& state, const Attributes& attributes) {
    if (state != "RCPT" || Get(attributes, "helo_name") != kContinuityRedeliveryHelo)
      return "DUNNO";
    const MailCustomer* customer = FindRecipient(directory, envelope.recipient).customer;
    return customer ? "FILTER " + customer->transport : "DUNNO";
  }

  void Tally(const Verdict& verdict, bool relayed, const Envelope& envelope) {
    if (!tally_ || !verdict.customer) return;
    tally_->Count(verdict.customer->partner + "/" + verdict.customer->name, relayed,
                  envelope.client_encrypted.value_or(false));
  }

  DirectoryGetter directory_;
  ProblemLog log_;
  TlsTally* tally_;
  // The transaction in progress on this connection (one smtpd process, one at a time).
  std::string instance_, instance_customer_, instance_domain_;
};

class VerifyMemcache : public Protocol {
 public:
  VerifyMemcache(VerifyCache& cache, DirectoryGetter directory, DiscoveredAddress discovered,
                 ProblemLog log)
      : cache_(cache),
        directory_(std::move(directory)),
        discovered_(std::move(discovered)),
        log_(std::move(log)) {}

  bool Consume(std::string& input, std::string& output) override {
    size_t pos = 0;
    bool open = true;
    while (open) {
      size_t eol = input.find('\n', pos);
      if (eol == std::string::npos) {
        if (input.size() - pos > kMaxMemcacheLine) open = Fail(output, "command line too long");
        break;
      }
      std::string_view line = std::string_view(input).substr(pos, eol - pos);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      std::vector<std::string_view> words;
      for (size_t start = 0; start < line.size();) {
        size_t space = line.find(' ', start);
        if (space == std::string_view::npos) space = line.size();
        if (space > start) words.push_back(line.substr(start, space - start));
        start = space + 1;
      }
      size_t next = eol + 1;
      if (words.empty()) {
        output += "ERROR\r\n";
      } else if (words[0] == "get" || words[0] == "gets") {
        for (size_t i = 1; i < words.size(); ++i) {
          std::string value;
          if (cache_.Get(std::string(words[i]), value)) {
            output += fmt::format("VALUE {} 0 {}\r\n{}\r\n", words[i], value.size(), value);
          }
        }
        output += "END\r\n";
      } else if (words[0] == "set" && (words.size() == 5 || words.size() == 6)) {
        auto bytes = ParseNumber(words[4]);
        if (!bytes || *bytes > kMaxRequestBytes) {
          open = Fail(output, "set with a bad or too large byte count");
          break;
        }
        if (input.size() < next + *bytes + 2) break;  // the value is still arriving
        if (input.compare(next + *bytes, 2, "\r\n") != 0) {
          open = Fail(output, "set value not followed by CRLF");
          break;
        }
        std::string key(words[1]);
        std::string value = input.substr(next, *bytes);
        next += *bytes + 2;
        // Only verify(8)'s own records are kept (its key_format is verify:%s), and only
        // at their size: anything else is not stored.
        if (key.rfind("verify:", 0) != 0 || key.size() > VerifyCache::kMaxKeyBytes ||
            value.size() > VerifyCache::kMaxValueBytes) {
          if (words.size() == 5) output += "NOT_STORED\r\n";
        } else {
          Learn(key, value);
          cache_.Set(key, std::move(value));
          if (words.size() == 5) output += "STORED\r\n";
        }
      } else if (words[0] == "delete" && (words.size() == 2 || words.size() == 3)) {
        bool deleted = cache_.Delete(std::string(words[1]));
        if (words.size() == 2) output += deleted ? "DELETED\r\n" : "NOT_FOUND\r\n";
      } else if (words[0] == "quit") {
        open = false;
      } else {
        log_(fmt::format("verify memcache: unknown command ({})", Quote(line)));
        output += "ERROR\r\n";
      }
      pos = next;
    }
    return Finish(input, pos, open);
  }

 private:
  bool Fail(std::string& output, const std::string& problem) {
    log_(fmt::format("verify memcache: {}; closing the connection", problem));
    output += "CLIENT_ERROR " + problem + "\r\n";
    return false;
  }

  // verify(8) stores "status:probed:updated:text" under "verify:ADDRESS"; status 0 is
  // "deliverable": the destination answered 250.
  void Learn(const std::string& key, const std::string& value) {
    constexpr std::string_view kPrefix = "verify:";
    if (key.compare(0, kPrefix.size(), kPrefix) != 0 || value.compare(0, 2, "0:") != 0) return;
    std::string address = AsciiLower(std::string_view(key).substr(kPrefix.size()));
    auto directory = directory_();
    if (!directory) return;
    RecipientLookup found = FindRecipient(*directory, address);
    if (found.customer && found.user.empty() && found.customer->config.address_discovery) {
      discovered_(*found.customer, address);
    }
  }

  VerifyCache& cache_;
  DirectoryGetter directory_;
  DiscoveredAddress discovered_;
  ProblemLog log_;
};

// Dovecot's tab escaping (lib/strescape.c): \x01 introduces an escaped byte.
std::string TabUnescape(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\x01' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    switch (text[++i]) {
      case '0':
        out += '\0';
        break;
      case '1':
        out += '\x01';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case 'n':
        out += '\n';
        break;
      default:
        out += text[i];
    }
  }
  return out;
}

std::string TabEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '\0':
        out +=
            "\x01"
            "0";
        break;
      case '\x01':
        out +=
            "\x01"
            "1";
        break;
      case '\t':
        out +=
            "\x01"
            "t";
        break;
      case '\r':
        out +=
            "\x01"
            "r";
        break;
      case '\n':
        out +=
            "\x01"
            "n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

class DovecotDict : public Protocol {
 public:
  DovecotDict(DirectoryGetter directory, PasswordLookup passwords, ProblemLog log)
      : directory_(std::move(directory)), passwords_(std::move(passwords)), log_(std::move(log)) {}

  bool Consume(std::string& input, std::string& output) override {
    size_t pos = 0;
    bool open = true;
    for (size_t end; open && (end = input.find('\n', pos)) != std::string::npos; pos = end + 1) {
      std::string_view line = std::string_view(input).substr(pos, end - pos);
      if (line.empty()) continue;
      switch (line[0]) {
        case 'H':
          hello_ = true;
          break;
        case 'L':
          if (!hello_) {
            open = Fail("a lookup before the hello");
            break;
          }
          output += Lookup(TabUnescape(line.substr(1, line.find('\t') - 1)));
          output += '\n';
          break;
        default:
          // Iteration and writes are not served: continuity users are looked up one by one.
          open = Fail(fmt::format("command '{}' is not served", Quote(line.substr(0, 1))));
      }
    }
    if (open && input.size() - pos > kMaxRequestBytes) open = Fail("a line over 64 KiB");
    return Finish(input, pos, open);
  }

 private:
  bool Fail(const std::string& problem) {
    log_(fmt::format("dovecot dict: {}; closing the connection", problem));
    return false;
  }

  std::string Lookup(const std::string& key) {
    std::string_view path = key;
    if (path.rfind("shared/", 0) == 0) path.remove_prefix(7);
    size_t slash = path.find('/');
    if (slash == std::string_view::npos) return "N";
    std::string_view table = path.substr(0, slash);
    if (table != "passdb" && table != "userdb") return "N";
    auto directory = directory_();
    if (!directory) return "Fthe gateway has not loaded its configuration yet";
    RecipientLookup found = FindRecipient(*directory, path.substr(slash + 1));
    if (!found.customer || found.user.empty()) return "N";
    nlohmann::json answer = {{"user", found.user}};
    // Any user has a place for mail (what reaches Dovecot is gated by the continuity
    // map), so kept mail stays reachable after the scope changes.
    if (table == "passdb") {
      if (!MayUseContinuity(*found.customer, found.user)) return "N";
      auto hash = passwords_(*found.customer, found.user);
      if (!hash.ok()) return std::string("F").append(TabEscape(hash.status().message()));
      if (!*hash) return "N";
      answer["password"] = **hash;
    }
    return std::string("O").append(TabEscape(answer.dump()));
  }

  DirectoryGetter directory_;
  PasswordLookup passwords_;
  ProblemLog log_;
  bool hello_ = false;
};

}  // namespace

std::unique_ptr<Protocol> MakeDovecotDict(DirectoryGetter directory, PasswordLookup passwords,
                                          ProblemLog log) {
  return std::make_unique<DovecotDict>(std::move(directory), std::move(passwords), std::move(log));
}

void VerifyCache::Set(const std::string& key, std::string value) {
  std::lock_guard lock(mutex_);
  if (auto old = entries_.find(key); old != entries_.end()) Forget(old);
  size_t size = key.size() + value.size();
  if (size > max_bytes_) return;
  while (!entries_.empty() && (entries_.size() >= capacity_ || bytes_ + size > max_bytes_)) {
    Forget(entries_.begin());
  }
  if (entries_.size() >= capacity_) return;  // a capacity of 0
  bytes_ += size;
  entries_.emplace(key, std::move(value));
}

size_t VerifyCache::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

bool VerifyCache::Get(const std::string& key, std::string& value) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return false;
  value = it->second;
  return true;
}

bool VerifyCache::Delete(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto found = entries_.find(key);
  if (found == entries_.end()) return false;
  Forget(found);
  return true;
}

void VerifyCache::Forget(std::unordered_map<std::string, std::string>::iterator entry) {
  bytes_ -= entry->first.size() + entry->second.size();
  entries_.erase(entry);
}

std::unique_ptr<Protocol> MakeSocketmap(DirectoryGetter directory,
                                        const ContinuityRouting* continuity, ProblemLog log) {
  return std::make_unique<Socketmap>(std::move(directory), continuity, std::move(log));
}

std::unique_ptr<Protocol> MakePolicy(DirectoryGetter directory, ProblemLog log, TlsTally* tally) {
  return std::make_unique<Policy>(std::move(directory), std::move(log), tally);
}

std::unique_ptr<Protocol> MakeVerifyMemcache(VerifyCache& cache, DirectoryGetter directory,
                                             DiscoveredAddress discovered, ProblemLog log) {
  return std::make_unique<VerifyMemcache>(cache, std::move(directory), std::move(discovered),
                                          std::move(log));
}

}  // namespace gw::postfix
