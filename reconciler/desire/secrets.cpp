#include "gwctl/secrets.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>

#include <fmt/format.h>

namespace gwctl {
namespace {

// gwctl's own credentials: no manifest may read them, whatever prefix the operator sets.
constexpr std::array<const char*, 3> kOwnCredentials = {"GWCTL_TOKEN", "GWCTL_GIT_TOKEN",
                                                        "GWCTL_WEBHOOK_SECRET"};

gw::Status Refused(const std::string& why) {
  return gw::Status::Invalid(why);
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Opens `relative` beneath `dir`: openat2's RESOLVE_BENEATH lets a symbolic link point
// only inside the directory (Kubernetes secret volumes are links within their
// directory). A kernel without openat2 gets a walk that follows no link at all.
int OpenBeneath(int dir, const std::string& relative) {
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  int fd = static_cast<int>(syscall(SYS_openat2, dir, relative.c_str(), &how, sizeof how));
  if (fd >= 0 || errno != ENOSYS) return fd;
  int at = dup(dir);
  size_t start = 0;
  while (at >= 0) {
    size_t slash = relative.find('/', start);
    std::string part = relative.substr(start, slash == std::string::npos ? slash : slash - start);
    bool last = slash == std::string::npos;
    int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (last ? O_NONBLOCK | O_NOCTTY : O_DIRECTORY);
    int next = openat(at, part.c_str(), flags);
    int saved = errno;
    close(at);
    errno = saved;
    if (last) return next;
    at = next;
    start = slash + 1;
  }
  return -1;
}

gw::Result<std::string> ReadSecretFile(const std::string& reference, const std::string& relative,
                                       const std::filesystem::path& secrets_dir) {
  FileDescriptor dir(open(secrets_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) {
    return gw::Status(gw::StatusCode::kFailedPrecondition,
                      fmt::format("secret {}: the secrets directory {} cannot be opened: {}",
                                  reference, secrets_dir.string(), std::strerror(errno)));
  }
  FileDescriptor file(OpenBeneath(dir.get(), relative));
  if (file.get() < 0) {
    if (errno == ENOENT) {
      return gw::Status(gw::StatusCode::kNotFound,
                        fmt::format("secret {}: no such file in the secrets directory {}",
                                    reference, secrets_dir.string()));
    }
    std::string why = errno == EXDEV || errno == ELOOP
                          ? "a symbolic link that leaves the secrets directory"
                          : std::strerror(errno);
    return gw::Status(gw::StatusCode::kFailedPrecondition,
                      fmt::format("secret {}: cannot be read: {}", reference, why));
  }
  struct stat info {};
  if (fstat(file.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
    return gw::Status(gw::StatusCode::kFailedPrecondition,
                      fmt::format("secret {}: not a regular file", reference));
  }
  // Read one byte past the limit: a file that grows while read is caught too.
  std::string value(kMaxSecretBytes + 1, '\0');
  size_t have = 0;
  while (have < value.size()) {
    ssize_t n = read(file.get(), value.data() + have, value.size() - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return gw::Status(
          gw::StatusCode::kFailedPrecondition,
          fmt::format("secret {}: cannot be read: {}", reference, std::strerror(errno)));
    }
    if (n == 0) break;
    have += static_cast<size_t>(n);
  }
  if (have > kMaxSecretBytes) {
    return gw::Status(
        gw::StatusCode::kFailedPrecondition,
        fmt::format("secret {}: larger than {} KiB", reference, kMaxSecretBytes / 1024));
  }
  value.resize(have);
  if (!value.empty() && value.back() == '\n') value.pop_back();
  if (!value.empty() && value.back() == '\r') value.pop_back();
  return value;
}

}  // namespace

gw::Result<SecretPolicy> SecretPolicy::FromEnvironment() {
  SecretPolicy policy;
  if (const char* prefix = std::getenv("GWCTL_SECRET_ENV_PREFIX")) {
    if (!*prefix) {
      return Refused(
          "GWCTL_SECRET_ENV_PREFIX is empty: manifests would read every environment variable");
    }
    policy.env_prefix = prefix;
  }
  if (const char* dir = std::getenv("GWCTL_SECRETS_DIR"); dir && *dir) policy.secrets_dir = dir;
  return policy;
}

std::optional<std::string> CheckSecretReference(const std::string& reference,
                                                const SecretPolicy& policy) {
  if (reference.rfind("env:", 0) == 0) {
    std::string name = reference.substr(4);
    for (const char* own : kOwnCredentials) {
      if (name == own) return fmt::format("{} is gwctl's own credential, never a manifest's", name);
    }
    if (name.rfind(policy.env_prefix, 0) != 0 || name.size() == policy.env_prefix.size()) {
      return fmt::format(
          "env:{} is not a secret variable: manifests read only variables named {}* (the "
          "operator's GWCTL_SECRET_ENV_PREFIX)",
          name, policy.env_prefix);
    }
    return std::nullopt;
  }
  if (reference.rfind("file:", 0) == 0) {
    std::string path = reference.substr(5);
    if (path.empty()) return std::string("file: names no file");
    if (path.front() == '/') {
      return fmt::format(
          "file:{} is an absolute path; file: secrets are paths inside the secrets directory "
          "(--secrets-dir)",
          path);
    }
    size_t start = 0;
    while (true) {
      size_t slash = path.find('/', start);
      std::string part = path.substr(start, slash == std::string::npos ? slash : slash - start);
      if (part.empty() || part == "." || part == "..") {
        return fmt::format(
            "file:{} must be a plain relative path inside the secrets directory (no empty, . "
            "or .. segments)",
            path);
      }
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    return std::nullopt;
  }
  return fmt::format("'{}' is not a secret reference (env:NAME or file:PATH)", reference);
}

gw::Result<std::string> ResolveSecret(const std::string& reference, const SecretPolicy& policy) {
  if (auto refused = CheckSecretReference(reference, policy)) {
    // The form was checked by validation; a reference here that breaks it came from
    // elsewhere (a saved plan, say): name it, never read it.
    if (reference.rfind("env:", 0) == 0 || reference.rfind("file:", 0) == 0)
      return Refused(fmt::format("secret {}: {}", reference, *refused));
    return Refused(*refused);
  }
  if (reference.rfind("env:", 0) == 0) {
    std::string name = reference.substr(4);
    const char* value = std::getenv(name.c_str());
    if (!value) {
      return gw::Status(
          gw::StatusCode::kNotFound,
          fmt::format("secret {}: the environment variable {} is not set", reference, name));
    }
    return std::string(value);
  }
  if (policy.secrets_dir.empty()) {
    return gw::Status(gw::StatusCode::kFailedPrecondition,
                      fmt::format("secret {}: no secrets directory is set (--secrets-dir or "
                                  "GWCTL_SECRETS_DIR)",
                                  reference));
  }
  return ReadSecretFile(reference, reference.substr(5), policy.secrets_dir);
}

std::map<std::string, std::string> SecretReferencesIn(const nlohmann::json& spec) {
  std::map<std::string, std::string> references;
  std::function<void(const nlohmann::json&, const nlohmann::json::json_pointer&)> walk =
      [&](const nlohmann::json& value, const nlohmann::json::json_pointer& at) {
        if (value.is_object()) {
          for (const auto& [key, item] : value.items()) {
            bool reference = key.size() > 3 && key.compare(key.size() - 3, 3, "Ref") == 0;
            if (reference && item.is_string()) {
              references[(at / key).to_string()] = item.get<std::string>();
            } else {
              walk(item, at / key);
            }
          }
        } else if (value.is_array()) {
          for (size_t i = 0; i < value.size(); ++i) walk(value[i], at / i);
        }
      };
  walk(spec, nlohmann::json::json_pointer());
  return references;
}

}  // namespace gwctl
