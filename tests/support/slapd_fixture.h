// Test support: a real slapd on loopback, on ports the kernel chose, with a directory
// loaded from LDIF. Optionally with TLS (ldaps:// and StartTLS) using a certificate for
// "localhost" signed by a throwaway CA, and with a small Active Directory schema
// (userAccountControl, proxyAddresses, the auxiliary class "user"). Stopped and removed
// by the destructor.
#pragma once

#include <netdb.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "gatewayd_fixture.h"  // MakeTempDir
#include "loopback.h"
#include "process.h"

namespace gwtest {

class Slapd {
 public:
  static constexpr const char* kSuffix = "dc=corp,dc=example";
  static constexpr const char* kBindDn = "cn=gateway,dc=corp,dc=example";
  static constexpr const char* kBindPassword = "s3cret-bind-password";

  struct Options {
    std::string people_ldif;  // entries below ou=people,dc=corp,dc=example
    bool tls = false;
    bool active_directory_schema = false;
    int size_limit = 0;  // > 0: plain searches stop there; paged ones of up to 1,000 per page pass
  };

  explicit Slapd(Options options) : options_(std::move(options)), dir_(MakeTempDir("slapd")) {
    setenv("LDAPNOINIT", "1", 1);  // neither slapd nor ldap tools read the machine's ldap.conf
    if (options_.tls) MakeCertificates();
    WriteConfig();
    Load(options_.people_ldif);
    Start();
  }
  ~Slapd() {
    process_.reset();
    std::filesystem::remove_all(dir_);
  }

  bool started() const { return process_ != nullptr; }
  std::string url() const { return fmt::format("ldap://127.0.0.1:{}", port_); }
  std::string hostname_url() const { return fmt::format("ldap://localhost:{}", port_); }
  std::string ldaps_url() const { return fmt::format("ldaps://localhost:{}", tls_port_); }
  std::string ldaps_ip_url() const { return fmt::format("ldaps://127.0.0.1:{}", tls_port_); }
  std::filesystem::path ca_file() const { return dir_ / "ca.pem"; }
  const std::string& log() const { return log_; }

  void Stop() {
    if (!process_) return;
    process_->Signal(SIGTERM);
    process_->Wait();
    log_ += process_->output();
    process_.reset();
  }

  // Replaces the people in the directory (slapd stopped and started again, same ports).
  void Reload(const std::string& people_ldif) {
    Stop();
    std::filesystem::remove_all(dir_ / "db");
    Load(people_ldif);
    Start();
  }

  void Start() {
    for (int attempt = 0; attempt < 5 && !process_; ++attempt) {
      if (port_ == 0 || attempt > 0) {
        port_ = PickFreePort();
        tls_port_ = options_.tls ? PickFreePort() : 0;
      }
      std::string urls = fmt::format("ldap://127.0.0.1:{}/", port_);
      if (options_.tls) urls += fmt::format(" ldaps://127.0.0.1:{}/", tls_port_);
      auto process = std::make_unique<ChildProcess>(std::vector<std::string>{
          SLAPD_BINARY, "-f", (dir_ / "slapd.conf").string(), "-h", urls, "-d", "none"});
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (std::chrono::steady_clock::now() < deadline) {
        if (CanConnect(port_) && (!options_.tls || CanConnect(tls_port_))) {
          process_ = std::move(process);
          break;
        }
        if (process->Exited()) break;  // the port was taken after all: try others
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (!process_) log_ += process->output();
    }
  }

 private:
  void Run(const std::string& command) {
    int status = std::system(command.c_str());
    if (status != 0) throw std::runtime_error("failed: " + command);
  }

  void MakeCertificates() {
    std::string d = dir_.string();
    // libldap checks a certificate for "localhost" against the machine's own name instead.
    std::ofstream(dir_ / "san.ext") << "subjectAltName=DNS:localhost" << LocalNames() << "\n";
    Run(fmt::format(
        "cd '{0}' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
        "-keyout ca.key -out ca.pem -days 2 -subj /CN=gwctl-test-ca 2>/dev/null && "
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key "
        "-out server.csr -subj /CN=localhost 2>/dev/null && "
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile san.ext -out server.pem 2>/dev/null",
        d));
  }

  static std::string LocalNames() {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    std::string names = fmt::format(",DNS:{}", host);
    addrinfo hints{};
    hints.ai_flags = AI_CANONNAME;
    addrinfo* info = nullptr;
    if (getaddrinfo(host, nullptr, &hints, &info) == 0) {
      if (info->ai_canonname && std::string(info->ai_canonname) != host) {
        names += fmt::format(",DNS:{}", info->ai_canonname);
      }
      freeaddrinfo(info);
    }
    return names;
  }

  void WriteConfig() {
    std::ofstream conf(dir_ / "slapd.conf");
    conf << "include /etc/ldap/schema/core.schema\n"
            "include /etc/ldap/schema/cosine.schema\n"
            "include /etc/ldap/schema/inetorgperson.schema\n";
    if (options_.active_directory_schema) {
      std::ofstream(dir_ / "ad.schema") <<
          R"(attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
  EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.2.210 NAME 'proxyAddresses'
  EQUALITY caseExactMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )
objectclass ( 1.2.840.113556.1.5.9 NAME 'user' SUP top AUXILIARY
  MAY ( userAccountControl $ proxyAddresses ) )
)";
      conf << "include " << (dir_ / "ad.schema").string() << "\n";
    }
    conf << "modulepath /usr/lib/ldap\nmoduleload back_mdb\n"
         << "pidfile " << (dir_ / "slapd.pid").string() << "\n";
    if (options_.tls) {
      conf << "TLSCACertificateFile " << (dir_ / "ca.pem").string() << "\n"
           << "TLSCertificateFile " << (dir_ / "server.pem").string() << "\n"
           << "TLSCertificateKeyFile " << (dir_ / "server.key").string() << "\n";
    }
    if (options_.size_limit > 0) {
      conf << fmt::format(
          "sizelimit size.soft={0} size.hard={0} size.pr=1000 size.prtotal=unlimited\n",
          options_.size_limit);
    }
    conf << "access to attrs=userPassword by anonymous auth by * none\n"
            "access to * by * read\n"
            "database mdb\nmaxsize 1073741824\n"
         << "suffix \"" << kSuffix << "\"\n"
         << "rootdn \"cn=admin," << kSuffix << "\"\nrootpw admin-password\n"
         << "directory " << (dir_ / "db").string() << "\n";
  }

  void Load(const std::string& people_ldif) {
    std::filesystem::create_directories(dir_ / "db");
    {
      std::ofstream ldif(dir_ / "load.ldif");
      ldif << "dn: " << kSuffix << "\nobjectClass: dcObject\nobjectClass: organization\no: corp\n"
           << "dc: corp\n\n"
           << "dn: ou=people," << kSuffix << "\nobjectClass: organizationalUnit\nou: people\n\n"
           << "dn: " << kBindDn << "\nobjectClass: person\ncn: gateway\nsn: gateway\n"
           << "userPassword: " << kBindPassword << "\n\n"
           << people_ldif;
    }
    Run(fmt::format("'{}' -q -f '{}' -l '{}'", SLAPADD_BINARY, (dir_ / "slapd.conf").string(),
                    (dir_ / "load.ldif").string()));
  }

  Options options_;
  std::filesystem::path dir_;
  std::unique_ptr<ChildProcess> process_;
  int port_ = 0;
  int tls_port_ = 0;
  std::string log_;
};

// LDIF for one person under ou=people; `extra` holds more attribute lines and
// `auxiliary_class` one more object class (slapadd needs the objectClass lines together).
inline std::string PersonLdif(const std::string& uid, const std::string& mail,
                              const std::string& extra = "",
                              const std::string& auxiliary_class = "") {
  return fmt::format(
      "dn: uid={0},ou=people,{1}\nobjectClass: inetOrgPerson\n{4}uid: {0}\ncn: {0}\n"
      "givenName: Given-{0}\nsn: Family-{0}\n{2}{3}\n",
      uid, Slapd::kSuffix, mail.empty() ? "" : "mail: " + mail + "\n", extra,
      auxiliary_class.empty() ? "" : "objectClass: " + auxiliary_class + "\n");
}

}  // namespace gwtest
