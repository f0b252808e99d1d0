// fake-directories: the test fakes of Microsoft 365 (identity platform and Graph) and
// Google Workspace (token endpoint and Directory API) as one process, filled for the
// example repository's contoso and wonka, so that onboarding them can be tried by hand
// (README: "Users from Microsoft 365 and Google Workspace").
//   fake-directories --dir DIR [--contoso-users N] [--wonka-users N]
// Writes DIR/env (the environment gwctl needs to reach the fakes) and DIR/secrets (the
// files the examples' secret references name), then serves until SIGINT or SIGTERM.
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fake_google_directory.h"
#include "fake_graph.h"
#include "process.h"
#include "test_ca.h"

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::string Read(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "fake-directories: %s\n", message.c_str());
  std::exit(2);
}

std::string Quoted(const std::string& value) {
  std::string out = "'";
  for (char c : value) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

int main(int argc, char** argv) {
  fs::path dir;
  int contoso_users = 400, wonka_users = 120;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) Die(flag + " needs a value");
    std::string value = argv[++i];
    if (flag == "--dir") {
      dir = value;
    } else if (flag == "--contoso-users") {
      contoso_users = std::stoi(value);
    } else if (flag == "--wonka-users") {
      wonka_users = std::stoi(value);
    } else {
      Die("unknown flag " + flag);
    }
  }
  if (dir.empty()) Die("--dir DIR is required");
  fs::create_directories(dir / "secrets");
  dir = fs::absolute(dir);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  gwtest::TestCa ca(dir);
  // Contoso's app registration: its certificate and key, as examples/customers/contoso.yaml
  // names them (file:contoso-graph.pem in the secrets directory).
  std::string app = (dir / "contoso-app").string();
  auto made = gwtest::RunCommand(fmt::format(
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout {0}.key -out {0}.pem -days 365 "
      "-subj /CN=gwctl-contoso 2>&1 && openssl genrsa -out {1}/wonka-google.key 2048 2>&1",
      app, dir.string()));
  if (made.exit_code != 0) Die("openssl: " + made.output);
  std::string certificate = Read(app + ".pem");
  std::ofstream(dir / "secrets" / "contoso-graph.pem") << Read(app + ".key") << certificate;
  fs::permissions(dir / "secrets" / "contoso-graph.pem",
                  fs::perms::owner_read | fs::perms::owner_write);

  gwtest::FakeGraph::Options graph_options;
  graph_options.tenant = "9a1c4e2b-3f5d-4b6a-8c7e-1d2f3a4b5c6d";
  graph_options.client_id = "6e1f2b1c-9d3a-4c51-8a2e-0f4b7c2d9e10";
  graph_options.certificate_pem = certificate;
  gwtest::FakeGraph graph(ca, graph_options);
  for (int n = 1; n <= contoso_users; ++n) {
    graph.PutUser({{"id", fmt::format("c{:06}", n)},
                   {"userPrincipalName", fmt::format("user{}@contoso.example", n)},
                   {"mail", fmt::format("user{}@contoso.example", n)},
                   {"accountEnabled", true},
                   {"assignedLicenses", json::array({{{"skuId", "e3"}}})},
                   {"proxyAddresses",
                    {fmt::format("SMTP:user{}@contoso.example", n),
                     fmt::format("smtp:user{}@contoso-group.example", n),
                     fmt::format("smtp:user{}@contoso.onmicrosoft.com", n)}}});
  }
  graph.PutUser({{"id", "c-shared-info"},
                 {"userPrincipalName", "info@contoso.example"},
                 {"mail", "info@contoso.example"},
                 {"accountEnabled", false},  // a shared mailbox: sign-in blocked, no licence
                 {"assignedLicenses", json::array()},
                 {"proxyAddresses", {"SMTP:info@contoso.example"}}});
  graph.PutGroup({{"id", "c-group-sales"},
                  {"displayName", "Sales"},
                  {"mail", "sales@contoso.example"},
                  {"mailEnabled", true},
                  {"proxyAddresses", {"SMTP:sales@contoso.example"}}});

  // Fabrikam, the subsidiary: its own tenant on the same Graph, with a client secret.
  graph.AddTenant("fabrikam.onmicrosoft.com", "2b7d4c1a-5e6f-4a8b-9c0d-1e2f3a4b5c6d",
                  "fabrikam-demo-secret");
  for (int n = 1; n <= 40; ++n) {
    graph.PutUser("fabrikam.onmicrosoft.com",
                  {{"id", fmt::format("f{:06}", n)},
                   {"userPrincipalName", fmt::format("user{}@fabrikam.example", n)},
                   {"accountEnabled", true},
                   {"assignedLicenses", json::array({{{"skuId", "e3"}}})},
                   {"proxyAddresses", {fmt::format("SMTP:user{}@fabrikam.example", n)}}});
  }

  std::string google_key = Read(dir / "wonka-google.key");
  gwtest::FakeGoogleDirectory google(ca, google_key, "gateway-admin@wonka.example", 500);
  google.SetCustomerId("C03az79cb");  // examples/customers/wonka.yaml's
  for (int n = 1; n <= wonka_users; ++n) {
    google.AddUser({{"id", fmt::format("{}", 100000 + n)},
                    {"primaryEmail", fmt::format("user{}@wonka.example", n)},
                    {"aliases", {fmt::format("u{}@wonka.example", n)}},
                    {"suspended", false},
                    {"name", {{"givenName", fmt::format("User{}", n)}, {"familyName", "Wonka"}}}});
  }
  json key_file = {{"type", "service_account"},
                   {"client_email", "gwctl@wonka-project.iam.gserviceaccount.com"},
                   {"private_key_id", "fake"},
                   {"private_key", google_key}};

  std::ofstream env(dir / "env");
  env << "# . this file: gwctl then reaches the fakes instead of Microsoft and Google\n"
      << "export SSL_CERT_FILE=" << Quoted(ca.ca_file()) << "\n"
      << "export GWCTL_MICROSOFT_LOGIN_URL=" << graph.url() << "\n"
      << "export GWCTL_MICROSOFT_GRAPH_URL=" << graph.url() << "\n"
      << "export GWCTL_GOOGLE_TOKEN_URL=" << google.url() << "/token\n"
      << "export GWCTL_GOOGLE_DIRECTORY_URL=" << google.url() << "\n"
      << "export GWCTL_SECRET_FABRIKAM_GRAPH=fabrikam-demo-secret\n"
      << "export GWCTL_SECRET_WONKA_GOOGLE_KEY=" << Quoted(key_file.dump()) << "\n";
  env.close();
  std::printf(
      "fake-directories: Graph at %s, Google at %s; . %s/env and use --secrets-dir %s/secrets\n",
      graph.url().c_str(), google.url().c_str(), dir.c_str(), dir.c_str());
  std::fflush(stdout);
  int signal = 0;
  sigwait(&signals, &signal);
  return 0;
}
