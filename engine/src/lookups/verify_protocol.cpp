// The memcache protocol verify(8) keeps its probe results in (postfix_protocols.h).
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

// Longest memcache command line (keys are at most 250 bytes).
constexpr size_t kMaxMemcacheLine = 1024;

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

}  // namespace

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

std::unique_ptr<Protocol> MakeVerifyMemcache(VerifyCache& cache, DirectoryGetter directory,
                                             DiscoveredAddress discovered, ProblemLog log) {
  return std::make_unique<VerifyMemcache>(cache, std::move(directory), std::move(discovered),
                                          std::move(log));
}

}  // namespace gw::postfix
