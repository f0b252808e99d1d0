// A certificate authority of the test's own, in a directory the test owns: it issues
// server certificates for the names a test needs (STARTTLS sinks, verified delivery).
#pragma once

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "process.h"

namespace gwtest {

class TestCa {
 public:
  struct Issued {
    std::string cert, key;  // PEM files
  };

  // Throws when openssl fails (ci/setup installs it).
  explicit TestCa(std::filesystem::path dir) : dir_(std::move(dir)) {
    Run(
        fmt::format("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                    "-keyout {0}/ca.key -out {0}/ca.pem -days 2 -subj /CN=gwctl-test-ca",
                    dir_.string()));
  }

  std::string ca_file() const { return (dir_ / "ca.pem").string(); }

  // A certificate for `names` (subjectAltName DNS entries; the first is also the CN),
  // signed by this CA.
  Issued Issue(const std::string& label, const std::vector<std::string>& names) const {
    std::string san;
    for (const auto& name : names) san += (san.empty() ? "subjectAltName=DNS:" : ",DNS:") + name;
    std::string base = (dir_ / label).string();
    std::ofstream(base + ".ext") << san << "\n";
    Run(fmt::format(
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout {0}.key "
        "-out {0}.csr -subj /CN={1} && openssl x509 -req -in {0}.csr -CA {2}/ca.pem -CAkey "
        "{2}/ca.key -CAcreateserial -days 2 -extfile {0}.ext -out {0}.pem",
        base, names.at(0), dir_.string()));
    return {base + ".pem", base + ".key"};
  }

  // A self-signed certificate for `name`, which no CA vouches for.
  Issued SelfSigned(const std::string& label, const std::string& name) const {
    std::string base = (dir_ / label).string();
    Run(
        fmt::format("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                    "-keyout {0}.key -out {0}.pem -days 2 -subj /CN={1}",
                    base, name));
    return {base + ".pem", base + ".key"};
  }

  // "AB:CD:...": the certificate's SHA-256 digest as Postfix and openssl print it.
  static std::string Fingerprint(const std::string& cert) {
    std::string out = Run("openssl x509 -noout -fingerprint -sha256 -in " + cert);
    size_t equals = out.find('=');
    if (equals == std::string::npos) throw std::runtime_error("no fingerprint: " + out);
    std::string digest = out.substr(equals + 1);
    while (!digest.empty() && (digest.back() == '\n' || digest.back() == '\r')) digest.pop_back();
    return digest;
  }

 private:
  static std::string Run(const std::string& command) {
    auto result = RunCommand("(" + command + ") 2>&1");
    if (result.exit_code != 0) throw std::runtime_error(command + ": " + result.output);
    return result.output;
  }

  std::filesystem::path dir_;
};

}  // namespace gwtest
