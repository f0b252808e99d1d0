// Dovecot's dict protocol: passdb and userdb for continuity users (postfix_protocols.h).
#include "lookups/postfix_protocols.h"

#include <map>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gateway/continuity.h"
#include "gateway/domain_name.h"
#include "gateway/filter_profile.h"
#include "gateway/mail_policy.h"
#include "lookups/framing.h"

namespace gw::postfix {
namespace {

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

}  // namespace gw::postfix
