#include "yaml_documents.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <regex>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>
#include <yaml-cpp/yaml.h>

#include "gateway/utf8.h"

namespace gwctl {

using nlohmann::json;

LocatedDocument::LocatedDocument(std::string file) {
  files_.push_back(std::make_shared<const std::string>(std::move(file)));
}

uint32_t LocatedDocument::FileIndex(const std::string& file) {
  for (uint32_t i = 0; i < files_.size(); ++i) {
    if (*files_[i] == file) return i;
  }
  files_.push_back(std::make_shared<const std::string>(file));
  return static_cast<uint32_t>(files_.size() - 1);
}

void LocatedDocument::SetLocation(const std::string& pointer, bool key, const Location& location) {
  Position p{FileIndex(location.file), location.line, location.column};
  (key ? keys_ : values_)[pointer] = p;
}

Location LocatedDocument::LocationOf(std::string_view pointer, bool key) const {
  auto to_location = [&](const Position& p) { return Location{*files_[p.file], p.line, p.column}; };
  if (key) {
    auto it = keys_.find(std::string(pointer));
    if (it != keys_.end()) return to_location(it->second);
  }
  std::string current(pointer);
  while (true) {
    auto it = values_.find(current);
    if (it != values_.end()) return to_location(it->second);
    if (current.empty()) break;
    current.erase(current.rfind('/'));
  }
  return Location{files_.empty() ? std::string() : *files_.front(), 0, 0};
}

void LocatedDocument::CopyLocations(const LocatedDocument& other, std::string_view from_pointer,
                                    std::string_view to_pointer) {
  auto copy = [&](const std::unordered_map<std::string, Position>& from, bool key) {
    for (const auto& [pointer, position] : from) {
      std::string_view p(pointer);
      if (p.substr(0, from_pointer.size()) != from_pointer) continue;
      std::string_view rest = p.substr(from_pointer.size());
      if (!rest.empty() && rest.front() != '/') continue;
      SetLocation(std::string(to_pointer) + std::string(rest), key,
                  Location{*other.files_[position.file], position.line, position.column});
    }
  };
  copy(other.values_, false);
  copy(other.keys_, true);
}

bool FindInvalidUtf8(std::string_view text, int& line, int& column) {
  size_t bad = gw::FindInvalidUtf8(text);
  if (bad == std::string_view::npos) return false;
  line = 1;
  column = 1;
  for (size_t i = 0; i < bad; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      ++column;  // characters, not continuation bytes
    }
  }
  return true;
}

namespace {

Location At(const std::string& file, const YAML::Mark& mark) {
  return Location{file, mark.line + 1, mark.column + 1};
}

// YAML 1.2 core schema resolution of a plain (untagged, unquoted) scalar.
json ResolvePlainScalar(const std::string& text) {
  static const std::regex kInt(R"([-+]?[0-9]+)");
  static const std::regex kOctal(R"(0o[0-7]+)");
  static const std::regex kHex(R"(0x[0-9a-fA-F]+)");
  static const std::regex kFloat(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (text == "null" || text == "Null" || text == "NULL" || text == "~" || text.empty())
    return nullptr;
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  if (text.size() > 40) return text;  // no number is this long; keeps the regexes cheap
  try {
    if (std::regex_match(text, kInt)) return std::stoll(text);
    if (std::regex_match(text, kOctal)) return std::stoll(text.substr(2), nullptr, 8);
    if (std::regex_match(text, kHex)) return std::stoll(text.substr(2), nullptr, 16);
    if (std::regex_match(text, kFloat)) return std::stod(text);
  } catch (const std::out_of_range&) {
    return text;  // too large for a number: keep the text, the schema will complain
  }
  if (text == ".inf" || text == ".Inf" || text == ".INF" || text == "+.inf") return HUGE_VAL;
  if (text == "-.inf" || text == "-.Inf" || text == "-.INF") return -HUGE_VAL;
  if (text == ".nan" || text == ".NaN" || text == ".NAN") return NAN;
  return text;
}

class Converter {
 public:
  Converter(const std::string& file, std::string_view text, LocatedDocument& document,
            Diagnostics& diagnostics, const YamlLimits& limits)
      : file_(file), text_(text), document_(document), diagnostics_(diagnostics), limits_(limits) {}

  bool failed() const { return failed_; }

  json Convert(const YAML::Node& node, const std::string& pointer, int depth) {
    if (failed_) return nullptr;
    if (++values_ > limits_.max_values) {
      Fail(node.Mark(), "document-size",
           fmt::format("document expands to more than {} values; anchors and aliases that "
                       "multiply like this are refused",
                       limits_.max_values));
      return nullptr;
    }
    if (depth > limits_.max_depth) {
      Fail(node.Mark(), "document-size",
           fmt::format("document nests deeper than {} levels", limits_.max_depth));
      return nullptr;
    }
    document_.SetLocation(pointer, false, At(file_, node.Mark()));
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return nullptr;
      case YAML::NodeType::Scalar:
        return Scalar(node);
      case YAML::NodeType::Sequence: {
        json array = json::array();
        size_t index = 0;
        for (const auto& child : node) {
          array.push_back(Convert(child, PointerAppend(pointer, index++), depth + 1));
        }
        return array;
      }
      case YAML::NodeType::Map: {
        json object = json::object();
        for (const auto& member : node) {
          const YAML::Node& key = member.first;
          if (!key.IsScalar()) {
            diagnostics_.Error(At(file_, key.Mark()), "yaml-syntax",
                               "mapping keys must be plain strings");
            continue;
          }
          const std::string& name = key.Scalar();
          std::string child = PointerAppend(pointer, name);
          if (object.contains(name)) {
            Location first = document_.LocationOf(child, true);
            diagnostics_.Error(
                At(file_, key.Mark()), "duplicate-key",
                fmt::format("duplicate key '{}' (first set at line {})", name, first.line));
            continue;
          }
          document_.SetLocation(child, true, At(file_, key.Mark()));
          object[name] = Convert(member.second, child, depth + 1);
        }
        return object;
      }
    }
    return nullptr;
  }

 private:
  json Scalar(const YAML::Node& node) {
    const std::string& tag = node.Tag();
    const std::string& text = node.Scalar();
    if (tag == "!" && !QuoteIsClosed(node.Mark())) {
      Fail(node.Mark(), "yaml-syntax", "quoted string is never closed");
      return nullptr;
    }
    if (tag == "?") return ResolvePlainScalar(text);
    if (tag == "!" || tag == "tag:yaml.org,2002:str") return text;
    json resolved = ResolvePlainScalar(text);
    if (tag == "tag:yaml.org,2002:int" && resolved.is_number_integer()) return resolved;
    if (tag == "tag:yaml.org,2002:float" && resolved.is_number()) return resolved.get<double>();
    if (tag == "tag:yaml.org,2002:bool" && resolved.is_boolean()) return resolved;
    if (tag == "tag:yaml.org,2002:null" && resolved.is_null()) return resolved;
    diagnostics_.Error(At(file_, node.Mark()), "yaml-syntax",
                       fmt::format("tag '{}' is not supported here", tag));
    return text;
  }

  // yaml-cpp 0.7 accepts a quoted scalar that runs to the end of the file; find its
  // closing quote in the source ourselves.
  bool QuoteIsClosed(const YAML::Mark& mark) const {
    if (mark.pos < 0 || static_cast<size_t>(mark.pos) >= text_.size()) return true;
    char quote = text_[mark.pos];
    if (quote != '"' && quote != '\'') return true;  // a block scalar or an explicit tag
    for (size_t i = mark.pos + 1; i < text_.size(); ++i) {
      if (quote == '"' && text_[i] == '\\') {
        ++i;
      } else if (text_[i] == quote) {
        if (quote == '\'' && i + 1 < text_.size() && text_[i + 1] == '\'') {
          ++i;
        } else {
          return true;
        }
      }
    }
    return false;
  }

  void Fail(const YAML::Mark& mark, const char* rule, std::string message) {
    failed_ = true;
    diagnostics_.Error(At(file_, mark), rule, std::move(message));
  }

  const std::string& file_;
  std::string_view text_;
  LocatedDocument& document_;
  Diagnostics& diagnostics_;
  const YamlLimits& limits_;
  size_t values_ = 0;
  bool failed_ = false;
};

// yaml-cpp 0.7 never consumes a ',' where a document should begin (",a", or "x" then a
// line ",y"): LoadAll then appends empty documents until memory runs out. This pass only
// watches where each document begins, and stops at the first that begins where the last
// one did.
class DocumentStarts final : public YAML::EventHandler {
 public:
  std::optional<YAML::Mark> stuck;

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (started_ && mark.pos == last_.pos) stuck = mark;
    last_ = mark;
    started_ = true;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  YAML::Mark last_;
  bool started_ = false;
};

// Where a document would make yaml-cpp loop, if one would. Throws as LoadAll does.
std::optional<YAML::Mark> FindStuckDocument(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts starts;
  while (!starts.stuck && parser.HandleNextDocument(starts)) {
  }
  return starts.stuck;
}

std::string HumanBytes(size_t bytes) {
  if (bytes >= (1u << 20)) return fmt::format("{:.1f} MiB", bytes / 1048576.0);
  if (bytes >= 1024) return fmt::format("{:.1f} KiB", bytes / 1024.0);
  return fmt::format("{} bytes", bytes);
}

}  // namespace

std::vector<LocatedDocument> ParseYamlDocuments(const std::string& file, std::string_view text,
                                                Diagnostics& diagnostics,
                                                const YamlLimits& limits) {
  if (text.size() > limits.max_file_bytes) {
    diagnostics.Error({file, 0, 0}, "file-size",
                      fmt::format("file is {}; manifests are limited to {}",
                                  HumanBytes(text.size()), HumanBytes(limits.max_file_bytes)));
    return {};
  }
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  int line = 0, column = 0;
  if (FindInvalidUtf8(text, line, column)) {
    diagnostics.Error({file, line, column}, "utf8", "invalid UTF-8; manifests must be UTF-8 text");
    return {};
  }

  std::vector<YAML::Node> nodes;
  try {
    std::string owned(text);
    if (auto stuck = FindStuckDocument(owned)) {
      diagnostics.Error(At(file, *stuck), "yaml-syntax",
                        "unexpected ',' (a document cannot begin with a comma)");
      return {};
    }
    nodes = YAML::LoadAll(owned);
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp stops at its own depth (2000) with the message "bad file".
    diagnostics.Error(e.mark.is_null() ? Location{file, 0, 0} : At(file, e.mark), "document-size",
                      fmt::format("document nests deeper than {} levels", limits.max_depth));
    return {};
  } catch (const YAML::Exception& e) {
    std::string message = e.msg;
    if (message == "end of map not found" || message == "illegal map value") {
      // yaml-cpp's wording for the usual cause: a tab or a misaligned key.
      message += " (check the indentation: YAML indents with spaces, never tabs)";
    }
    Location where = e.mark.is_null() ? Location{file, 0, 0} : At(file, e.mark);
    diagnostics.Error(where, "yaml-syntax", message);
    return {};
  } catch (const std::exception& e) {
    diagnostics.Error({file, 0, 0}, "yaml-syntax", e.what());
    return {};
  }

  // Without aliases a file cannot hold more values than bytes; allow generous reuse of
  // anchors but stop exponential expansion early.
  YamlLimits budget = limits;
  budget.max_values = std::min(limits.max_values, 16 * text.size() + 10000);
  std::vector<LocatedDocument> documents;
  for (const auto& node : nodes) {
    if (node.IsNull()) continue;
    LocatedDocument document(file);
    Converter converter(file, text, document, diagnostics, budget);
    json value = converter.Convert(node, "", 0);
    if (converter.failed()) continue;
    document.mutable_value() = std::move(value);
    documents.push_back(std::move(document));
  }
  return documents;
}

}  // namespace gwctl
