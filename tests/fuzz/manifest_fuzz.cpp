// The manifest loader end to end: YAML with locations, the schemas and every rule, on a
// repository whose one customer file is the input (with a CSV file it may refer to).
#include <cstddef>
#include <cstdint>
#include <map>

#include "gwctl/validate.h"

namespace {

class MemoryTree final : public gwctl::SourceTree {
 public:
  explicit MemoryTree(std::map<std::string, std::string> files) : files_(std::move(files)) {}
  std::string Describe() const override { return "fuzz"; }
  gw::Result<std::vector<std::string>> ListManifestFiles(gwctl::Diagnostics&) const override {
    std::vector<std::string> names;
    for (const auto& [name, unused] : files_)
      if (gwctl::IsManifestFileName(name)) names.push_back(name);
    return names;
  }
  gw::Result<std::string> Read(const std::string& path, size_t max_bytes) const override {
    auto it = files_.find(path);
    if (it == files_.end()) return gw::Status(gw::StatusCode::kNotFound, path);
    if (it->second.size() > max_bytes) return gw::Status(gw::StatusCode::kResourceExhausted, path);
    return it->second;
  }

 private:
  std::map<std::string, std::string> files_;
};

constexpr const char* kRepository =
    "apiVersion: gwctl/v1\nkind: Repository\nmetadata: {name: fuzz}\n"
    "spec: {gateway: {embedded: state}}\n";
constexpr const char* kUsers = "email,first_name,last_name,type,aliases\na@acme.example,A,B,,\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  MemoryTree tree(
      {{"gwctl.yaml", kRepository},
       {"customers/users.csv", kUsers},
       {"customers/fuzz.yaml", std::string(reinterpret_cast<const char*>(data), size)}});
  auto report = gwctl::ValidateRepository(tree);
  if (!report.ok()) __builtin_trap();  // a readable tree must always give a report
  return 0;
}
