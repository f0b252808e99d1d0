// A private Dovecot instance for continuity mailboxes (continuity.h), whose users and
// passwords are gatewayd's: dovecot.conf and the dict client's file, written into one
// directory that `dovecot -c DIR/dovecot.conf` runs (nothing under /etc/dovecot is read).
//
// Contract: WriteDovecotInstance creates `dir` with the configuration, and `mail_root`
// owned by the mail user (Dovecot refuses to deliver as root). Logins and deliveries are
// checked against gatewayd's --continuity-auth socket (passdb and userdb over Dovecot's
// dict protocol); no password or user list is written to a file. The doveadm HTTP API,
// when asked for, is what gatewayd reads kept mail through; its key is written to a file
// only root can read, never into dovecot.conf itself. Values Dovecot's files cannot
// carry (spaces, quotes, braces, newlines) are refused.
#pragma once

#include <optional>
#include <string>

#include "gateway/endpoint.h"
#include "gateway/status.h"

namespace gw {

struct DovecotInstanceOptions {
  std::string dir;
  std::string mail_root;    // mailboxes: MAIL_ROOT/DOMAIN/LOCAL/Maildir; default DIR/mail
  std::string auth_socket;  // gatewayd's --continuity-auth
  std::string hostname = "gateway.invalid";
  std::optional<Endpoint> imap, pop3;      // STARTTLS (required when a certificate is given)
  std::optional<Endpoint> imaps, pop3s;    // implicit TLS (993 and 995 in production)
  Endpoint lmtp;                           // postfix-config's --continuity-lmtp
  std::optional<Endpoint> sasl;            // postfix-config's --sasl
  std::optional<Endpoint> doveadm;         // HTTP API for gatewayd (loopback)
  std::string doveadm_key;                 // the API key (from --doveadm-key-file)
  std::string tls_cert, tls_key;           // PEM files: IMAPS/POP3S-style STARTTLS, required
  int mail_uid = 65534, mail_gid = 65534;  // nobody:nogroup
  // A host's own settings, appended as given to dovecot.conf (later settings win):
  // overrides kept across regeneration.
  std::string conf_local;
};

Status WriteDovecotInstance(const DovecotInstanceOptions& options);

}  // namespace gw
