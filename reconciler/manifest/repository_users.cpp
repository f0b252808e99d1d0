#include "repository_users.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "csv.h"
#include "gateway/domain_name.h"
#include "text.h"
#include "yaml_documents.h"

namespace gwctl {

using gw::ParseEmailAddress;

namespace {

class UserReader {
 public:
  UserReader(CustomerManifest& customer, const SourceTree& tree, const ValidationLimits& limits,
             Diagnostics& diagnostics)
      : customer_(customer),
        tree_(tree),
        limits_(limits),
        diagnostics_(diagnostics),
        doc_(customer.effective),
        spec_(JsonCursor::Root(doc_.value())["spec"]) {}

  size_t Run() {
    if (!spec_.is_object()) return 0;
    ReadUsers();
    return csv_files_;
  }

 private:
  void Error(const JsonCursor& at, const std::string& rule, std::string message) {
    diagnostics_.Error(doc_.LocationOf(at.pointer()), rule, std::move(message));
  }
  void Warning(const JsonCursor& at, const char* rule, std::string message) {
    diagnostics_.Warning(doc_.LocationOf(at.pointer()), rule, std::move(message));
  }
  Location At(const JsonCursor& at) const { return doc_.LocationOf(at.pointer()); }

  // Rule 6: inline mailboxes and CSV files.
  void ReadUsers() {
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
      user.continuity = entry["continuity"].boolean_or(false);
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

  std::optional<gw::AddressProblem> FindAddressProblem(const std::string& text) const {
    return gw::FindAddressProblem(text, customer_.domains());
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
    auto contents = tree_.Read(*path, limits_.max_csv_bytes);
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
    static const std::set<std::string> kColumns = {"email", "first_name", "last_name",
                                                   "type",  "aliases",    "continuity"};
    std::map<std::string, size_t> columns;
    for (size_t i = 0; i < records[0].fields.size(); ++i) {
      const CsvField& header = records[0].fields[i];
      std::string name = Trim(header.value);
      if (!kColumns.count(name)) {
        diagnostics_.Error(
            {*path, header.line, header.column}, "csv",
            fmt::format(
                "unknown column '{}' (columns: email, first_name, last_name, type, aliases, "
                "continuity)",
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
      auto error = [&](const CsvField& f, const std::string& rule, std::string message) {
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
        if (!gw::IsUserType(user.type)) {
          error(
              *f, "csv",
              fmt::format("type '{}' must be one of: mailbox, shared, resource, alias", user.type));
          continue;
        }
      }
      if (const CsvField* f = field("continuity")) {
        auto activated = ParseYesNo(Trim(f->value));
        if (!activated) {
          error(*f, "csv",
                fmt::format("continuity '{}' must be yes or no (or true/false, 1/0, empty for no)",
                            Trim(f->value)));
          continue;
        }
        user.continuity = *activated;
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

  CustomerManifest& customer_;
  const SourceTree& tree_;
  const ValidationLimits& limits_;
  Diagnostics& diagnostics_;
  const LocatedDocument& doc_;
  JsonCursor spec_;
  std::unordered_map<std::string, size_t> owners_;  // address or alias -> index in users
  size_t csv_files_ = 0;
};

}  // namespace

size_t ReadRepositoryUsers(CustomerManifest& customer, const SourceTree& tree,
                           const ValidationLimits& limits, Diagnostics& diagnostics) {
  return UserReader(customer, tree, limits, diagnostics).Run();
}

}  // namespace gwctl
