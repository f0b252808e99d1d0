// The archive's rows in SQL, written once for SQLite (FTS5 for the text) and PostgreSQL
// (a tsvector with a GIN index), its chain digests, and its codecs: zlib for the kept
// messages, mboxrd and zip (libarchive) for exports.
#include "gateway/archive_store.h"

#include <archive.h>
#include <archive_entry.h>
#include <openssl/sha.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gateway/store.h"
#include "store/sql.h"
#include "store/sql_store.h"

namespace gw {

namespace {

using sql::Param;
using sql::Row;

const char* const kSqliteMigrations[] = {
    R"sql(
CREATE TABLE archive_entries(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  partner TEXT NOT NULL, customer TEXT NOT NULL, direction TEXT NOT NULL,
  received_at TEXT NOT NULL, sender TEXT NOT NULL, sender_key TEXT NOT NULL,
  recipients TEXT NOT NULL, subject TEXT NOT NULL, size INTEGER NOT NULL,
  digest TEXT NOT NULL, retain_until TEXT NOT NULL, entry_digest TEXT NOT NULL,
  chain TEXT NOT NULL, released_at TEXT NOT NULL DEFAULT '',
  release_reason TEXT NOT NULL DEFAULT '');
CREATE INDEX archive_entries_by_customer ON archive_entries(partner, customer, id);
CREATE INDEX archive_entries_by_sender ON archive_entries(partner, customer, sender_key, id);
CREATE INDEX archive_entries_by_time ON archive_entries(partner, customer, received_at);
CREATE INDEX archive_entries_by_digest ON archive_entries(partner, customer, digest);
CREATE TABLE archive_recipients(partner TEXT NOT NULL, customer TEXT NOT NULL,
  recipient TEXT NOT NULL, entry INTEGER NOT NULL,
  PRIMARY KEY (partner, customer, recipient, entry)) WITHOUT ROWID;
CREATE TABLE archive_messages(partner TEXT NOT NULL, customer TEXT NOT NULL,
  digest TEXT NOT NULL, compressed BLOB NOT NULL, UNIQUE (partner, customer, digest));
-- The index keeps no copy of the text (content=''; detail=none: words, not positions,
-- as searches are for words): a third of the size. FTS5 of this SQLite removes a row
-- of such an index only when given its text again, so the text is kept compressed.
CREATE VIRTUAL TABLE archive_text USING fts5(subject, body, content = '',
  tokenize = 'unicode61 remove_diacritics 2', detail = none);
CREATE TABLE archive_text_kept(entry INTEGER PRIMARY KEY, subject TEXT NOT NULL,
  body BLOB NOT NULL);
CREATE TABLE archive_anchors(partner TEXT NOT NULL, customer TEXT NOT NULL,
  anchor TEXT NOT NULL, PRIMARY KEY (partner, customer)) WITHOUT ROWID;
)sql",
};

const char* const kPostgresMigrations[] = {
    R"sql(
CREATE TABLE archive_entries(
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  partner TEXT COLLATE "C" NOT NULL, customer TEXT COLLATE "C" NOT NULL,
  direction TEXT NOT NULL, received_at TEXT COLLATE "C" NOT NULL, sender TEXT NOT NULL,
  sender_key TEXT COLLATE "C" NOT NULL, recipients TEXT NOT NULL, subject TEXT NOT NULL,
  size BIGINT NOT NULL, digest TEXT COLLATE "C" NOT NULL, retain_until TEXT NOT NULL,
  entry_digest TEXT NOT NULL, chain TEXT NOT NULL, released_at TEXT NOT NULL DEFAULT '',
  release_reason TEXT NOT NULL DEFAULT '');
CREATE INDEX archive_entries_by_customer ON archive_entries(partner, customer, id);
CREATE INDEX archive_entries_by_sender ON archive_entries(partner, customer, sender_key, id);
CREATE INDEX archive_entries_by_time ON archive_entries(partner, customer, received_at);
CREATE INDEX archive_entries_by_digest ON archive_entries(partner, customer, digest);
CREATE TABLE archive_recipients(partner TEXT COLLATE "C" NOT NULL,
  customer TEXT COLLATE "C" NOT NULL, recipient TEXT COLLATE "C" NOT NULL,
  entry BIGINT NOT NULL, PRIMARY KEY (partner, customer, recipient, entry));
CREATE TABLE archive_messages(partner TEXT COLLATE "C" NOT NULL,
  customer TEXT COLLATE "C" NOT NULL, digest TEXT COLLATE "C" NOT NULL,
  compressed BYTEA NOT NULL, UNIQUE (partner, customer, digest));
CREATE TABLE archive_text(id BIGINT PRIMARY KEY, search TSVECTOR NOT NULL);
CREATE INDEX archive_text_search ON archive_text USING GIN (search);
CREATE TABLE archive_anchors(partner TEXT COLLATE "C" NOT NULL,
  customer TEXT COLLATE "C" NOT NULL, anchor TEXT NOT NULL, PRIMARY KEY (partner, customer));
)sql",
};

// Where SQLite and PostgreSQL spell full-text search differently.
struct TextSearch {
  // SQLite's index holds no text: a row is removed by giving its text again, kept
  // compressed in archive_text_kept. PostgreSQL's tsvector rows are deleted by id.
  bool contentless;
  std::string_view add;  // $1 id, $2 subject, $3 body
  // A predicate on e.id: the entry's text holds every word of parameter ${0}.
  std::string_view matches;
  std::string (*query)(std::string_view words);  // the user's words as that parameter
};

// FTS5's query language is not the user's: each word becomes a quoted string, all of
// which must appear.
std::string Fts5Query(std::string_view words) {
  std::string out;
  size_t i = 0;
  while (i < words.size()) {
    while (i < words.size() && std::isspace(static_cast<unsigned char>(words[i]))) ++i;
    size_t start = i;
    while (i < words.size() && !std::isspace(static_cast<unsigned char>(words[i]))) ++i;
    if (i == start) break;
    std::string word(words.substr(start, i - start));
    if (!out.empty()) out += ' ';
    out += '"';
    for (char c : word) {
      if (c == '"') out += '"';
      out += c;
    }
    out += '"';
  }
  return out;
}

std::string Verbatim(std::string_view words) {
  return std::string(words);
}

const TextSearch kSqliteText = {
    true, "INSERT INTO archive_text(rowid, subject, body) VALUES ($1, $2, $3)",
    "e.id IN (SELECT rowid FROM archive_text WHERE archive_text MATCH ${0})", &Fts5Query};
const TextSearch kPostgresText = {
    false,
    "INSERT INTO archive_text(id, search) VALUES ($1, to_tsvector('simple', CAST($2 AS TEXT) || ' "
    "' || CAST($3 AS TEXT)))",
    "e.id IN (SELECT id FROM archive_text WHERE search @@ plainto_tsquery('simple', "
    "CAST(${0} AS TEXT)))",
    &Verbatim};

#define kEntryColumns                                                                     \
  "e.id, e.partner, e.customer, e.direction, e.received_at, e.sender, e.recipients, "     \
  "e.subject, e.size, e.digest, e.retain_until, e.entry_digest, e.chain, e.released_at, " \
  "e.release_reason "

ArchivedMessage ReadEntry(const Row& row) {
  ArchivedMessage m;
  m.id = row.Int(0);
  m.partner = row.Text(1);
  m.customer = row.Text(2);
  m.direction = row.Text(3);
  m.received_at = row.Text(4);
  m.sender = row.Text(5);
  auto recipients = nlohmann::json::parse(row.Text(6), nullptr, false);
  if (recipients.is_array()) {
    for (const auto& r : recipients) {
      if (r.is_string()) m.recipients.push_back(r.get<std::string>());
    }
  }
  m.subject = row.Text(7);
  m.size = row.Int(8);
  m.digest = row.Text(9);
  m.retain_until = row.Text(10);
  m.entry_digest = row.Text(11);
  m.chain = row.Text(12);
  m.released_at = row.Text(13);
  m.release_reason = row.Text(14);
  return m;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// `text` as a LIKE pattern matching it anywhere, its own % _ and \ taken literally.
std::string ContainsPattern(std::string_view text) {
  std::string out = "%";
  for (char c : Lower(text)) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  return out + "%";
}

class SqlArchiveStore : public ArchiveStore {
 public:
  SqlArchiveStore(std::unique_ptr<sql::Connection> db, const TextSearch& text)
      : db_(std::move(db)), text_(text) {}

  Status Transaction(bool write, const std::function<Status()>& body) override {
    // Archived mail is no change the mail directory must reload for.
    return db_->Transaction(write, /*change=*/false, body);
  }

  Result<std::string> Anchor(const std::string& partner, const std::string& customer) override {
    std::string anchor;
    Status s =
        db_->Select("SELECT anchor FROM archive_anchors WHERE partner = $1 AND customer = $2",
                    {partner, customer}, [&](const Row& row) { anchor = row.Text(0); });
    if (!s.ok()) return s;
    return anchor;
  }

  Result<std::string> ChainHead(const std::string& partner, const std::string& customer) override {
    std::optional<std::string> head;
    Status s = db_->Select(
        "SELECT chain FROM archive_entries WHERE partner = $1 AND customer = $2 ORDER BY id DESC "
        "LIMIT 1",
        {partner, customer}, [&](const Row& row) { head = row.Text(0); });
    if (!s.ok()) return s;
    if (head) return *head;
    return Anchor(partner, customer);
  }

  Status PutMessage(const std::string& partner, const std::string& customer,
                    const std::string& digest, const std::string& compressed) override {
    return db_
        ->Execute(
            "INSERT INTO archive_messages(partner, customer, digest, compressed) VALUES ($1, $2, "
            "$3, $4) ON CONFLICT (partner, customer, digest) DO NOTHING",
            {partner, customer, digest, Param::Bytes(compressed)})
        .status();
  }

  Result<int64_t> AddEntry(const ArchivedMessage& e, const std::string& text) override {
    std::string recipients = nlohmann::json(e.recipients).dump();
    std::string sender_key = Lower(e.sender);
    std::optional<int64_t> id;
    Status s = db_->Select(
        "INSERT INTO archive_entries(partner, customer, direction, received_at, sender, "
        "sender_key, recipients, subject, size, digest, retain_until, entry_digest, chain) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
        {e.partner, e.customer, e.direction, e.received_at, e.sender, sender_key, recipients,
         e.subject, e.size, e.digest, e.retain_until, e.entry_digest, e.chain},
        [&](const Row& row) { id = row.Int(0); });
    if (!s.ok()) return s;
    if (!id) return Status(StatusCode::kInternal, "the archive assigned no id");
    std::vector<std::string> keys;
    for (const auto& r : e.recipients) keys.push_back(Lower(r));
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    for (const auto& key : keys) {
      auto added = db_->Execute(
          "INSERT INTO archive_recipients(partner, customer, recipient, entry) VALUES ($1, $2, "
          "$3, $4)",
          {e.partner, e.customer, key, *id});
      if (!added.ok()) return added.status();
    }
    if (auto indexed = db_->Execute(text_.add, {*id, e.subject, text}); !indexed.ok())
      return indexed.status();
    if (text_.contentless) {
      std::string kept = CompressMessage(text);
      auto stored =
          db_->Execute("INSERT INTO archive_text_kept(entry, subject, body) VALUES ($1, $2, $3)",
                       {*id, e.subject, Param::Bytes(kept)});
      if (!stored.ok()) return stored.status();
    }
    return *id;
  }

  Result<std::vector<ArchivedMessage>> Search(const std::string& partner,
                                              const std::string& customer,
                                              const ArchiveQuery& q) override {
    // Kept alive for the statement: Params view their text.
    std::vector<std::string> texts;
    texts.reserve(8);
    std::vector<Param> params = {partner, customer};
    std::string sql = "SELECT " kEntryColumns
                      "FROM archive_entries e WHERE e.partner = $1 AND e.customer = $2 AND "
                      "e.released_at = ''";
    auto bind = [&](std::string value) {
      params.emplace_back(texts.emplace_back(std::move(value)));
      return params.size();
    };
    if (q.before > 0) {
      params.emplace_back(q.before);
      sql += fmt::format(" AND e.id < ${}", params.size());
    }
    if (!q.sender.empty()) sql += fmt::format(" AND e.sender_key = ${}", bind(Lower(q.sender)));
    if (!q.recipient.empty()) {
      sql += fmt::format(
          " AND e.id IN (SELECT entry FROM archive_recipients WHERE partner = $1 AND customer = "
          "$2 AND recipient = ${})",
          bind(Lower(q.recipient)));
    }
    if (!q.since.empty()) sql += fmt::format(" AND e.received_at >= ${}", bind(q.since));
    if (!q.until.empty()) sql += fmt::format(" AND e.received_at < ${}", bind(q.until));
    if (!q.subject.empty()) {
      sql += fmt::format(" AND lower(e.subject) LIKE ${} ESCAPE '\\'",
                         bind(ContainsPattern(q.subject)));
    }
    if (std::string words = text_.query(q.text); !words.empty()) {
      sql += " AND " + fmt::format(fmt::runtime(text_.matches), bind(words));
    }
    params.emplace_back(static_cast<int64_t>(q.limit));
    sql += fmt::format(" ORDER BY e.id DESC LIMIT ${}", params.size());
    std::vector<ArchivedMessage> found;
    Status s = db_->Select(sql, params, [&](const Row& row) { found.push_back(ReadEntry(row)); });
    if (!s.ok()) return s;
    return found;
  }

  Result<std::vector<ArchivedMessage>> Entries(const std::string& partner,
                                               const std::string& customer, int64_t after,
                                               size_t limit) override {
    std::vector<ArchivedMessage> found;
    Status s = db_->Select("SELECT " kEntryColumns
                           "FROM archive_entries e WHERE e.partner = $1 AND e.customer = $2 AND "
                           "e.id > $3 ORDER BY e.id LIMIT $4",
                           {partner, customer, after, static_cast<int64_t>(limit)},
                           [&](const Row& row) { found.push_back(ReadEntry(row)); });
    if (!s.ok()) return s;
    return found;
  }

  Result<std::optional<ArchivedMessage>> LoadEntry(const std::string& partner,
                                                   const std::string& customer,
                                                   int64_t id) override {
    std::optional<ArchivedMessage> found;
    Status s =
        db_->Select("SELECT " kEntryColumns
                    "FROM archive_entries e WHERE e.partner = $1 AND e.customer = $2 AND "
                    "e.id = $3",
                    {partner, customer, id}, [&](const Row& row) { found = ReadEntry(row); });
    if (!s.ok()) return s;
    return found;
  }

  Result<std::optional<std::string>> LoadMessage(const std::string& partner,
                                                 const std::string& customer,
                                                 const std::string& digest) override {
    std::optional<std::string> found;
    Status s = db_->Select(
        "SELECT compressed FROM archive_messages WHERE partner = $1 AND customer = $2 AND "
        "digest = $3",
        {partner, customer, digest}, [&](const Row& row) { found = row.Bytes(0); });
    if (!s.ok()) return s;
    return found;
  }

  Result<std::vector<std::pair<std::string, std::string>>> Customers() override {
    std::vector<std::pair<std::string, std::string>> found;
    Status s = db_->Select(
        "SELECT DISTINCT partner, customer FROM archive_entries ORDER BY partner, customer", {},
        [&](const Row& row) { found.emplace_back(row.Text(0), row.Text(1)); });
    if (!s.ok()) return s;
    return found;
  }

  Result<int64_t> RemoveThrough(const std::string& partner, const std::string& customer,
                                int64_t through_id, const std::string& anchor) override {
    if (Status s = RemoveText(partner, customer, 0, through_id); !s.ok()) return s;
    auto recipients = db_->Execute(
        "DELETE FROM archive_recipients WHERE partner = $1 AND customer = $2 AND entry <= $3",
        {partner, customer, through_id});
    if (!recipients.ok()) return recipients.status();
    auto removed = db_->Execute(
        "DELETE FROM archive_entries WHERE partner = $1 AND customer = $2 AND id <= $3",
        {partner, customer, through_id});
    if (!removed.ok()) return removed.status();
    if (Status s = DropUnnamedMessages(partner, customer); !s.ok()) return s;
    auto anchored = db_->Execute(
        "INSERT INTO archive_anchors(partner, customer, anchor) VALUES ($1, $2, $3) ON CONFLICT "
        "(partner, customer) DO UPDATE SET anchor = excluded.anchor",
        {partner, customer, anchor});
    if (!anchored.ok()) return anchored.status();
    return *removed;
  }

  Status Release(const std::string& partner, const std::string& customer, int64_t id,
                 const std::string& released_at, const std::string& reason) override {
    if (Status s = RemoveText(partner, customer, id, id); !s.ok()) return s;
    auto recipients = db_->Execute(
        "DELETE FROM archive_recipients WHERE partner = $1 AND customer = $2 AND entry = $3",
        {partner, customer, id});
    if (!recipients.ok()) return recipients.status();
    auto released = db_->Execute(
        "UPDATE archive_entries SET sender = '', sender_key = '', recipients = '[]', subject = "
        "'', released_at = $4, release_reason = $5 WHERE partner = $1 AND customer = $2 AND id = "
        "$3",
        {partner, customer, id, released_at, reason});
    if (!released.ok()) return released.status();
    if (*released == 0)
      return Status(StatusCode::kNotFound, fmt::format("no archived entry {}", id));
    return DropUnnamedMessages(partner, customer);
  }

 private:
  // Takes the customer's entries from `first` to `last` (ids; 0: from the oldest) out of
  // the full-text index.
  Status RemoveText(const std::string& partner, const std::string& customer, int64_t first,
                    int64_t last) {
    if (!text_.contentless) {
      return db_
          ->Execute(
              "DELETE FROM archive_text WHERE id IN (SELECT id FROM archive_entries WHERE "
              "partner = $1 AND customer = $2 AND id >= $3 AND id <= $4)",
              {partner, customer, first, last})
          .status();
    }
    struct Kept {
      int64_t entry;
      std::string subject, body;
    };
    std::vector<Kept> kept;
    Status read = db_->Select(
        "SELECT k.entry, k.subject, k.body FROM archive_text_kept k JOIN archive_entries e ON "
        "e.id = k.entry WHERE e.partner = $1 AND e.customer = $2 AND e.id >= $3 AND e.id <= $4",
        {partner, customer, first, last}, [&](const Row& row) {
          kept.push_back({row.Int(0), row.Text(1), row.Bytes(2)});
        });
    if (!read.ok()) return read;
    for (const Kept& k : kept) {
      auto body = DecompressMessage(k.body);
      if (!body.ok()) return body.status();
      auto removed = db_->Execute(
          "INSERT INTO archive_text(archive_text, rowid, subject, body) VALUES ('delete', $1, $2, "
          "$3)",
          {k.entry, k.subject, *body});
      if (!removed.ok()) return removed.status();
      auto forgotten = db_->Execute("DELETE FROM archive_text_kept WHERE entry = $1", {k.entry});
      if (!forgotten.ok()) return forgotten.status();
    }
    return Status::Ok();
  }

  // Messages no live entry of the customer names any more.
  Status DropUnnamedMessages(const std::string& partner, const std::string& customer) {
    return db_
        ->Execute(
            "DELETE FROM archive_messages WHERE partner = $1 AND customer = $2 AND NOT EXISTS "
            "(SELECT 1 FROM archive_entries e WHERE e.partner = $1 AND e.customer = $2 AND "
            "e.digest = archive_messages.digest AND e.released_at = '')",
            {partner, customer})
        .status();
  }

  std::unique_ptr<sql::Connection> db_;
  const TextSearch& text_;
};

std::string Hex(const unsigned char* bytes, size_t size) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < size; ++i) {
    out += digits[bytes[i] >> 4];
    out += digits[bytes[i] & 15];
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return Hex(digest, sizeof digest);
}

}  // namespace

Result<std::unique_ptr<ArchiveStore>> OpenArchiveStore(const std::string& store_location) {
  if (IsPostgresUrl(store_location)) {
    auto db = OpenPostgresDatabase(store_location, kPostgresMigrations, "gatewayd_archive_schema",
                                   7361030, std::chrono::seconds(10));
    if (!db.ok()) return db.status();
    return std::unique_ptr<ArchiveStore>(
        std::make_unique<SqlArchiveStore>(std::move(*db), kPostgresText));
  }
  auto db = OpenSqliteDatabase(store_location + ".archive", kSqliteMigrations, 5000, "archive");
  if (!db.ok()) return db.status();
  return std::unique_ptr<ArchiveStore>(
      std::make_unique<SqlArchiveStore>(std::move(*db), kSqliteText));
}

std::string MessageDigest(std::string_view message) {
  return Sha256Hex(message);
}

std::string ArchiveEntryDigest(const ArchivedMessage& e) {
  // A JSON array: every field delimited, so no two entries share a canonical form.
  nlohmann::json fields = {e.partner,    e.customer, e.direction, e.received_at, e.sender,
                           e.recipients, e.subject,  e.size,      e.digest,      e.retain_until};
  return Sha256Hex(fields.dump());
}

std::string ArchiveChainLink(const std::string& previous_chain, const std::string& entry_digest) {
  return Sha256Hex(previous_chain + "\n" + entry_digest);
}

std::string CompressMessage(std::string_view message) {
  uLongf size = compressBound(message.size());
  std::string out(size, '\0');
  // Level 6, zlib's default: most of the saving for little of the time.
  compress2(reinterpret_cast<Bytef*>(out.data()), &size,
            reinterpret_cast<const Bytef*>(message.data()), message.size(), 6);
  out.resize(size);
  return out;
}

Result<std::string> DecompressMessage(std::string_view compressed) {
  z_stream stream{};
  if (inflateInit(&stream) != Z_OK) return Status(StatusCode::kInternal, "zlib failed to start");
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  std::string out;
  char buffer[64 * 1024];
  int result = Z_OK;
  while (result == Z_OK) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof buffer;
    result = inflate(&stream, Z_NO_FLUSH);
    out.append(buffer, sizeof buffer - stream.avail_out);
  }
  inflateEnd(&stream);
  if (result != Z_STREAM_END)
    return Status(StatusCode::kInternal, "an archived message cannot be decompressed");
  return out;
}

std::string MboxEntry(const ArchivedMessage& entry, std::string_view message) {
  std::string out = fmt::format(
      "From {} {}\n", entry.sender.empty() ? "MAILER-DAEMON" : entry.sender, entry.received_at);
  size_t pos = 0;
  while (pos < message.size()) {
    size_t end = message.find('\n', pos);
    std::string_view line =
        message.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // mboxrd: ">From ", ">>From ", ... gain one more '>'.
    size_t quotes = line.find_first_not_of('>');
    if (quotes != std::string_view::npos && line.substr(quotes, 5) == "From ") out += '>';
    out.append(line);
    out += '\n';
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  out += '\n';
  return out;
}

Result<std::string> ZipOf(const std::vector<std::pair<std::string, std::string>>& files) {
  std::string out;
  struct archive* a = archive_write_new();
  archive_write_set_format_zip(a);
  archive_write_set_bytes_in_last_block(a, 1);
  auto append = [](struct archive*, void* sink, const void* data, size_t size) -> la_ssize_t {
    static_cast<std::string*>(sink)->append(static_cast<const char*>(data), size);
    return static_cast<la_ssize_t>(size);
  };
  Status status;
  if (archive_write_open(a, &out, nullptr, append, nullptr) != ARCHIVE_OK) {
    status = Status(StatusCode::kInternal, archive_error_string(a));
  }
  for (size_t i = 0; status.ok() && i < files.size(); ++i) {
    struct archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, files[i].first.c_str());
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0644);
    archive_entry_set_size(entry, static_cast<la_int64_t>(files[i].second.size()));
    if (archive_write_header(a, entry) != ARCHIVE_OK ||
        archive_write_data(a, files[i].second.data(), files[i].second.size()) < 0) {
      status = Status(StatusCode::kInternal, archive_error_string(a));
    }
    archive_entry_free(entry);
  }
  if (archive_write_close(a) != ARCHIVE_OK && status.ok())
    status = Status(StatusCode::kInternal, archive_error_string(a));
  archive_write_free(a);
  if (!status.ok()) return status;
  return out;
}

}  // namespace gw
