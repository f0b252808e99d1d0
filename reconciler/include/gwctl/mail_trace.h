// Mail traces offline: what the gateway would do with a message, decided by the engine's
// own function (gateway/mail_policy.h) on the mail directory a repository describes, and
// the manifest line of the setting that decides it. `gwctl trace` prints one; MailTest
// documents (kind: MailTest) list expectations that `gwctl validate` checks, so a pull
// request that would bounce someone's mail fails CI.
//
// Contract: a directory built from a repository holds its customers' inline and CSV
// users; users a customer reads from LDAP are not there (a verdict that depends on them
// says so: `users_incomplete`).
#pragma once

#include <string>

#include "gateway/mail_directory.h"
#include "gateway/mail_policy.h"
#include "gwctl/diagnostics.h"
#include "gwctl/manifests.h"

namespace gwctl {

// The mail directory a validated repository describes (partner: its Repository's name).
gw::MailDirectory MailDirectoryOf(const Manifests& manifests);

struct TracedMail {
  gw::Verdict verdict;
  Location decided_at;  // where the deciding setting is written; file empty when nowhere
  // The recipient was not found, but its customer reads users from a directory (LDAP)
  // that offline traces do not read.
  bool users_incomplete = false;
};

TracedMail TraceMail(const Manifests& manifests, const gw::MailDirectory& directory,
                     const gw::Envelope& envelope);

// Runs every case of every MailTest document; a case whose outcome differs from its
// expectation is an error (rule "mail-test") at the case, naming what decided instead.
void CheckMailTests(const Manifests& manifests, Diagnostics& diagnostics);

}  // namespace gwctl
