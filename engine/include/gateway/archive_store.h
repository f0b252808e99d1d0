// ArchiveStore: the rows under the mail archive (archive.h states what the archive
// promises), the digests of its chain, and the codecs of its messages and exports.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/archive.h"
#include "gateway/status.h"

namespace gw {

// Hex SHA-256 of a message, as entries name it.
std::string MessageDigest(std::string_view message);
std::string ArchiveEntryDigest(const ArchivedMessage& entry);
std::string ArchiveChainLink(const std::string& previous_chain, const std::string& entry_digest);

// The rows under the archive (archive.h states its contract). Not thread-safe; every method but
// Transaction is called inside Transaction's body.
class ArchiveStore {
 public:
  virtual ~ArchiveStore() = default;
  virtual Status Transaction(bool write, const std::function<Status()>& body) = 0;

  // The chain a new entry of the customer continues: its newest entry's, else its anchor.
  virtual Result<std::string> ChainHead(const std::string& partner,
                                        const std::string& customer) = 0;
  virtual Result<std::string> Anchor(const std::string& partner, const std::string& customer) = 0;
  // Keeps `compressed` under `digest` unless the customer keeps it already.
  virtual Status PutMessage(const std::string& partner, const std::string& customer,
                            const std::string& digest, const std::string& compressed) = 0;
  // Adds the entry (id assigned, returned) and indexes `text` for full-text search.
  virtual Result<int64_t> AddEntry(const ArchivedMessage& entry, const std::string& text) = 0;
  virtual Result<std::vector<ArchivedMessage>> Search(const std::string& partner,
                                                      const std::string& customer,
                                                      const ArchiveQuery& query) = 0;
  // Up to `limit` entries with an id above `after`, oldest first.
  virtual Result<std::vector<ArchivedMessage>> Entries(const std::string& partner,
                                                       const std::string& customer, int64_t after,
                                                       size_t limit) = 0;
  virtual Result<std::optional<ArchivedMessage>> LoadEntry(const std::string& partner,
                                                           const std::string& customer,
                                                           int64_t id) = 0;
  // The compressed message kept under `digest`, if any.
  virtual Result<std::optional<std::string>> LoadMessage(const std::string& partner,
                                                         const std::string& customer,
                                                         const std::string& digest) = 0;
  // The customers with entries.
  virtual Result<std::vector<std::pair<std::string, std::string>>> Customers() = 0;
  // Removes the customer's entries up to `through_id`, messages no entry names any more,
  // and sets its anchor to `anchor`. Returns how many entries went.
  virtual Result<int64_t> RemoveThrough(const std::string& partner, const std::string& customer,
                                        int64_t through_id, const std::string& anchor) = 0;
  // A legal release: the entry's fields, text and (if no other entry names it) message
  // go; its digests, chain and the release's time and reason stay.
  virtual Status Release(const std::string& partner, const std::string& customer, int64_t id,
                         const std::string& released_at, const std::string& reason) = 0;
};

// The archive beside the store at `store_location` (store.h OpenStore): the SQLite file
// `<store>.archive`, or the same PostgreSQL database.
Result<std::unique_ptr<ArchiveStore>> OpenArchiveStore(const std::string& store_location);

// zlib, for the archive's messages.
std::string CompressMessage(std::string_view message);
Result<std::string> DecompressMessage(std::string_view compressed);

// One message of an mbox export (mboxrd: a "From " line of the message is quoted, so
// that it cannot start a message of its own).
std::string MboxEntry(const ArchivedMessage& entry, std::string_view message);
// A zip of (file name, bytes) pairs, deflated.
Result<std::string> ZipOf(const std::vector<std::pair<std::string, std::string>>& files);

}  // namespace gw
