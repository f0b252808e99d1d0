// Explains why a server's TLS certificate is refused, in words a person can act on:
// libldap only says "Connect error" for every certificate problem.
#pragma once

#include <string>

namespace gwctl {

// `der` is the server's certificate; `host` the name it was reached by; `ca_file` the
// PEM bundle it must chain to. Returns "" when nothing is wrong with it (as far as a
// check of the certificate alone can tell: intermediates the server sends are not seen).
std::string ExplainCertificate(const std::string& der, const std::string& host,
                               const std::string& ca_file);

}  // namespace gwctl
