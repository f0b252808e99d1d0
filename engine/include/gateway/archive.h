// The mail archive's records: a copy of every message a customer's archiving covers, kept for the
// retention its manifest sets, searchable and exportable by the customer's admins.
//
// Contract:
// - A message is kept once per customer however many entries name it (content-addressed
//   by its SHA-256), compressed. An entry is one message as it passed the gateway: its
//   envelope, direction, time and subject.
// - Tamper evidence: each entry carries entry_digest, the SHA-256 of its fields and its
//   message's digest (ArchiveEntryDigest), and chain, the SHA-256 of the previous entry's
//   chain and its own entry_digest (ArchiveChainLink). The chain of a customer starts at
//   its anchor: "" at first, then the chain of the last entry the retention purge removed.
//   Changing a field, a message or the order of entries, or removing an entry other than
//   the oldest, breaks the chain from there on (Service::VerifyArchive finds where).
// - The retention purge removes only the oldest entries, and only those past their
//   retention, so the chain stays whole. Nothing younger than its retention is removed by
//   any API call, the operator's included: a legal release (Service::ReleaseArchived) is
//   run on the gateway's host, names its reason, and keeps the entry's digests so that
//   the chain still verifies.
// - The archive is apart from the configuration store: for SQLite its own file next to it
//   (a 10 GB archive must not be read by every start's integrity check of the store, nor
//   hold its write lock); for PostgreSQL its own tables in the same database, through
//   their own connection.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace gw {

struct ArchivedMessage {
  int64_t id = 0;  // assigned by the store
  std::string partner, customer;
  std::string direction;    // inbound | outbound
  std::string received_at;  // RFC 3339, UTC
  std::string sender;       // "" for the null sender
  std::vector<std::string> recipients;
  std::string subject;
  int64_t size = 0;          // bytes of the message
  std::string digest;        // hex SHA-256 of the message
  std::string retain_until;  // RFC 3339; "" when kept without limit
  std::string entry_digest;  // ArchiveEntryDigest
  std::string chain;         // ArchiveChainLink(previous chain, entry_digest)
  // A legal release: when and why; the entry's fields and message are gone, its digests
  // stay.
  std::string released_at;
  std::string release_reason;
};

nlohmann::json ToJson(const ArchivedMessage& message);

// Which of a customer's entries to list. Every set field narrows the search; text is
// words that must all appear in the subject or the body's text.
struct ArchiveQuery {
  std::string sender;     // an address, exactly (case-insensitive)
  std::string recipient;  // an address, exactly (case-insensitive)
  std::string since;      // RFC 3339; received at or after
  std::string until;      // RFC 3339; received before
  std::string subject;    // a substring of the subject, case-insensitive
  std::string text;       // full text: words of the subject or body
  int64_t before = 0;     // entries with a lower id (paging newest first); 0: from the newest
  size_t limit = 100;
};

// What VerifyArchive found.
struct ArchiveCheck {
  int64_t entries = 0;  // entries walked
  int64_t first_id = 0, last_id = 0;
  std::string anchor;                 // the chain the first entry continues
  std::string head;                   // the last entry's chain: publish it to prove the tail
  std::vector<std::string> problems;  // empty: intact
};

nlohmann::json ToJson(const ArchiveCheck& check);

}  // namespace gw
