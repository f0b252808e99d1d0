#include "gwctl/export.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <regex>

#include <fmt/format.h>

#include "gateway/field_annotations.h"

#include "gwctl/manifests.h"

namespace gwctl {

namespace {

using nlohmann::json;

// Keys in the order the schema lists them (the order a person writes them in); keys the
// schema does not list follow alphabetically.
std::vector<std::string> KeysInOrder(const json& object, const std::string& pointer) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : object.items()) keys.push_back(key);
  const auto& order = gw::CustomerFields::Get().KeyOrder(pointer);
  auto rank = [&](const std::string& key) {
    auto it = std::find(order.begin(), order.end(), key);
    return static_cast<size_t>(it - order.begin());
  };
  std::stable_sort(keys.begin(), keys.end(), [&](const std::string& a, const std::string& b) {
    return rank(a) != rank(b) ? rank(a) < rank(b) : a < b;
  });
  return keys;
}

// A string YAML 1.2 (and 1.1 readers) would read back as this same string when plain.
bool PlainSafe(const std::string& text) {
  static const std::regex kSafe(R"([A-Za-z0-9_./(][A-Za-z0-9_./()@+=;, -]*)");
  static const std::regex kOtherType(
      R"([-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9]*)?)([eE][-+]?[0-9]+)?|0x[0-9a-fA-F]+|0o[0-7]+|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)|null|Null|NULL|true|True|TRUE|false|False|FALSE|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|y|n|Y|N)");
  if (text.empty() || text.back() == ' ') return false;
  return std::regex_match(text, kSafe) && !std::regex_match(text, kOtherType);
}

std::string Scalar(const json& value) {
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    return PlainSafe(text) ? text : value.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  return value.dump();
}

void Write(const json& value, int indent, const std::string& pointer,
           const std::map<std::string, std::string>& comments, std::string& out);

std::string Comment(const std::map<std::string, std::string>& comments,
                    const std::string& pointer) {
  auto it = comments.find(pointer);
  return it == comments.end() ? "" : "  # " + it->second;
}

bool Inline(const json& value) {
  return !value.is_structured() || value.empty();
}

// `key: value` or `- value` lines; nested structures go below at `indent` + 2.
void WriteEntry(const std::string& lead, const json& value, int indent, const std::string& pointer,
                const std::map<std::string, std::string>& comments, std::string& out) {
  if (Inline(value)) {
    out += lead + " " +
           (value.is_object()  ? "{}"
            : value.is_array() ? "[]"
                               : Scalar(value)) +
           Comment(comments, pointer) + "\n";
    return;
  }
  out += lead + Comment(comments, pointer) + "\n";
  Write(value, indent + 2, pointer, comments, out);
}

void Write(const json& value, int indent, const std::string& pointer,
           const std::map<std::string, std::string>& comments, std::string& out) {
  std::string pad(static_cast<size_t>(indent), ' ');
  if (value.is_object()) {
    for (const auto& key : KeysInOrder(value, pointer)) {
      std::string name = PlainSafe(key) ? key : json(key).dump();
      WriteEntry(pad + name + ":", value[key], indent, PointerAppend(pointer, key), comments, out);
    }
    return;
  }
  for (size_t i = 0; i < value.size(); ++i) {
    const json& item = value[i];
    std::string item_pointer = PointerAppend(pointer, i);
    if (item.is_object() && !item.empty()) {
      // "- key: value" with the rest of the object aligned under the first key.
      std::string nested;
      Write(item, indent + 2, item_pointer, comments, nested);
      nested.replace(static_cast<size_t>(indent), 2, "- ");
      out += nested;
    } else {
      WriteEntry(pad + "-", item, indent, item_pointer, comments, out);
    }
  }
}

// Removes from `spec` what equals `defaults`; reports defaults `spec` does not have.
void StripDefaults(json& spec, const json& defaults, const std::string& path,
                   std::vector<std::string>& missing) {
  for (const auto& [key, value] : defaults.items()) {
    std::string here = path.empty() ? key : path + "." + key;
    if (!spec.contains(key)) {
      missing.push_back(here);
      continue;
    }
    json& mine = spec[key];
    if (mine.is_object() && value.is_object()) {
      StripDefaults(mine, value, here, missing);
      if (mine.empty()) spec.erase(key);
    } else if (mine == value) {
      spec.erase(key);
    }
  }
}

std::string EnvName(const std::string& customer, const std::string& what) {
  std::string name;
  for (char c : customer + "_" + what) {
    name += std::isalnum(static_cast<unsigned char>(c))
                ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
                : '_';
  }
  return name;
}

std::string CsvField(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace

std::string ToYaml(const json& value, const std::map<std::string, std::string>& comments) {
  std::string out;
  Write(value, 0, "", comments, out);
  return out;
}

std::vector<ExportedFile> ExportCustomer(const gw::Customer& customer,
                                         const std::vector<gw::User>& users,
                                         const ExportOptions& options) {
  std::vector<std::string> header = {
      fmt::format("Exported by gwctl export from {} (customer version {}).", options.origin,
                  customer.version),
      "Review it, fill in any secret references, then commit; apply --adopt takes ownership."};
  std::map<std::string, std::string> comments;
  json spec = customer.spec;

  // Secrets: only their fingerprints are on the gateway; write a reference to fill in.
  for (const auto& secret : gw::CustomerFields::Get().secrets()) {
    if (!customer.secret_fingerprints.count(secret.gateway_field)) continue;
    json::json_pointer reference(secret.reference);
    if (!spec.contains(reference))
      spec[reference] =
          "env:" + options.secret_env_prefix + EnvName(customer.name, secret.export_env);
    comments["/spec" + secret.reference] =
        "fill in: must resolve to the current secret (the gateway keeps only a fingerprint)";
  }
  if (options.defaults_spec) {
    std::vector<std::string> missing;
    StripDefaults(spec, *options.defaults_spec, "", missing);
    for (const auto& path : missing) {
      header.push_back(fmt::format(
          "note: the defaults set {}, which this customer does not have; applying will add it.",
          path));
    }
  }

  // A branded report template goes back to its own file, where validate reads it.
  std::vector<ExportedFile> files;
  json::json_pointer template_html("/filtering/spamReport/templateHtml");
  if (spec.contains(template_html)) {
    std::string name = spec["filtering"]["spamReport"].value("template", "default");
    files.push_back({"report-templates/" + name + ".html", spec[template_html].get<std::string>()});
    spec["filtering"]["spamReport"].erase("templateHtml");
  }

  std::vector<const gw::User*> declared;
  std::map<std::string, size_t> from_directory;  // kind -> users
  for (const auto& u : users) {
    if (u.source == "manifest" || u.source == "csv") declared.push_back(&u);
    if (gw::IsDirectorySource(u.source)) ++from_directory[u.source];
  }
  for (const auto& [kind, count] : from_directory) {
    if (spec.contains("users") && spec["users"].contains(kind)) continue;
    header.push_back(
        fmt::format("note: {} users came from a directory that is not described here; add it under "
                    "users.{}, or the plan will remove them.",
                    count, kind));
  }
  if (!declared.empty()) {
    if (!spec["users"].is_object()) spec["users"] = json::object();
    if (declared.size() <= options.inline_users_max) {
      json mailboxes = json::array();
      for (const gw::User* u : declared) {
        json entry = {{"address", u->address}};
        if (!u->first_name.empty()) entry["firstName"] = u->first_name;
        if (!u->last_name.empty()) entry["lastName"] = u->last_name;
        if (u->type != "mailbox") entry["type"] = u->type;
        if (!u->aliases.empty()) entry["aliases"] = u->aliases;
        if (u->continuity) entry["continuity"] = true;
        mailboxes.push_back(std::move(entry));
      }
      spec["users"]["mailboxes"] = std::move(mailboxes);
    } else {
      std::string csv_name = customer.name + ".users.csv";
      std::string csv = "email,first_name,last_name,type,aliases,continuity\n";
      for (const gw::User* u : declared) {
        std::string aliases;
        for (const auto& a : u->aliases) aliases += (aliases.empty() ? "" : ";") + a;
        csv += fmt::format("{},{},{},{},{},{}\n", CsvField(u->address), CsvField(u->first_name),
                           CsvField(u->last_name), u->type == "mailbox" ? "" : CsvField(u->type),
                           CsvField(aliases), u->continuity ? "yes" : "");
      }
      spec["users"]["csv"] = json::array({csv_name});
      files.push_back({"customers/" + csv_name, std::move(csv)});
    }
  }

  json document = {{"apiVersion", "gwctl/v1"},
                   {"kind", "Customer"},
                   {"metadata", {{"name", customer.name}}},
                   {"spec", std::move(spec)}};
  if (!customer.labels.empty()) document["metadata"]["labels"] = customer.labels;
  std::string text;
  for (const auto& line : header) text += "# " + line + "\n";
  text += ToYaml(document, comments);
  files.insert(files.begin(), {"customers/" + customer.name + ".yaml", std::move(text)});
  return files;
}

}  // namespace gwctl
