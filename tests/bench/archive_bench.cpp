// The mail archive: what 10,000 typical messages cost on disk and in time through
// Service::Archive (the path gw-milter's calls take, one durable transaction each), and
// search latency over a large archive (filled in batches through the ArchiveStore, with
// the same digests and chain).
//   archive_bench [--messages N (10000)] [--large N (1000000)] [--store PATH-or-postgres-URL]
// Numbers go to stdout.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "gateway/archive_store.h"
#include "gateway/rfc3339.h"
#include "gateway/service.h"
#include "process.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "archive_bench: %s\n", message.c_str());
  std::exit(1);
}

// Words with a skewed frequency, as text has: a few common, many rare.
class Text {
 public:
  explicit Text(std::mt19937& random) : random_(random) {
    const char* syllables[] = {"ka", "lo", "mi", "ner", "sta", "qu",  "ion", "per",  "tra", "ble",
                               "or", "en", "di", "ver", "sal", "com", "pro", "ment", "ac",  "tu"};
    for (int i = 0; i < 5000; ++i) {
      std::string word;
      for (int n = 1 + i % 3 + (i % 7 == 0); n >= 0; --n) word += syllables[random_() % 20];
      words_.push_back(word);
    }
  }
  std::string Words(size_t count) {
    std::string out;
    for (size_t i = 0; i < count; ++i) {
      // Zipf-like: the square of a uniform draw favours low ranks.
      double u = std::uniform_real_distribution<double>(0, 1)(random_);
      out += words_[static_cast<size_t>(u * u * words_.size())];
      out += (i % 14 == 13) ? ".\r\n" : " ";
    }
    return out;
  }
  const std::string& Word(size_t rank) const { return words_[rank]; }

 private:
  std::mt19937& random_;
  std::vector<std::string> words_;
};

std::string RandomBase64(std::mt19937& random, size_t bytes) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    out += alphabet[random() % 64];
    if (i % 76 == 75) out += "\r\n";
  }
  return out;
}

// A typical message: a realistic header block (Received lines, a DKIM signature), a text
// body of 150-1500 words, and in one of five an attachment of 20-60 KB (already
// compressed data, as PDFs and Office files are).
std::string TypicalMessage(std::mt19937& random, Text& text, int n, const std::string& to,
                           std::string& searchable) {
  std::string message = fmt::format(
      "Received: from mx{0}.sender{1}.example (mx{0}.sender{1}.example [198.51.100.{0}])\r\n"
      "\tby gw.example (Postfix) with ESMTPS id {2:X}\r\n\tfor <{3}>; Mon, 7 Dec 2026 "
      "10:{4:02}:00 +0000\r\n"
      "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=sender{1}.example; s=s1;\r\n"
      "\tb={5}\r\n"
      "From: Sender {1} <news{1}@sender{1}.example>\r\nTo: <{3}>\r\n"
      "Subject: {6}\r\nMessage-ID: <{2:x}.{7}@sender{1}.example>\r\n"
      "Date: Mon, 7 Dec 2026 10:{4:02}:00 +0000\r\nMIME-Version: 1.0\r\n",
      n % 250, n % 400, random(), to, n % 60, RandomBase64(random, 340), text.Words(6), n);
  std::string body = text.Words(150 + random() % 1350);
  searchable = body;
  if (n % 5 != 0) {
    return message + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body;
  }
  return message +
         "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: "
         "text/plain; charset=utf-8\r\n\r\n" +
         body +
         "\r\n--b1\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\n"
         "Content-Transfer-Encoding: base64\r\n\r\n" +
         RandomBase64(random, 20'000 + random() % 40'000) + "\r\n--b1--\r\n";
}

struct Latency {
  std::string what;
  std::vector<double> ms;
};

}  // namespace

int main(int argc, char** argv) {
  long messages = 10'000, large = 1'000'000;
  std::string store;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--messages")
      messages = std::stol(value);
    else if (flag == "--large")
      large = std::stol(value);
    else if (flag == "--store")
      store = value;
    else
      Die("unknown flag " + flag);
  }
  fs::path dir = gwtest::MakeTempDir("archive-bench");
  if (store.empty()) store = (dir / "gateway.db").string();
  auto service = gw::Service::Open(store);
  if (!service.ok()) Die(service.status().message());
  gw::Actor local = gw::Actor::Local();
  gw::Actor filter{"gw-milter", gw::Role::kFilter, "", ""};
  if (gw::Status s = (*service)->PutPartner(local, "bench"); !s.ok()) Die(s.message());
  for (const char* name : {"typical", "large"}) {
    gw::CustomerWrite write;
    write.spec = {{"product", "ultimate-defense"},
                  {"billableUsers", 1000},
                  {"domains", {{"primary", std::string(name) + ".example"}}},
                  {"destinations", "mx.example.net"},
                  {"archiving", {{"enabled", true}, {"retention", "2555d"}}}};
    auto put =
        (*service)->PutCustomer(local, "bench", name, write, gw::WriteCondition::CreateOnly());
    if (!put.ok()) Die(put.status().message());
  }

  // 1. Typical messages through Service::Archive.
  std::mt19937 random(42);
  Text text(random);
  size_t raw = 0;
  auto started = Clock::now();
  for (long n = 0; n < messages; ++n) {
    std::string to = fmt::format("user{}@typical.example", n % 500);
    std::string searchable;  // what gw-milter extracts: the subject and the text parts
    std::string message = TypicalMessage(random, text, static_cast<int>(n), to, searchable);
    raw += message.size();
    gw::ArchivedMessage meta;
    meta.customer = "typical";
    meta.direction = "inbound";
    meta.sender = fmt::format("news{}@sender{}.example", n % 400, n % 400);
    meta.recipients = {to};
    meta.subject = "bench";
    auto id = (*service)->Archive(filter, "bench", meta, message, searchable);
    if (!id.ok()) Die(id.status().message());
  }
  double through_service = Seconds(started);
  std::string archive_file = store + ".archive";
  bool sqlite = fs::exists(archive_file);
  std::printf(
      "%ld typical messages (%.1f KiB average, %.1f MiB in all) through Service::Archive: "
      "%.1f s, %.0f messages/s\n",
      messages, raw / 1024.0 / messages, raw / 1048576.0, through_service,
      messages / through_service);
  if (sqlite) {
    (*service).reset();  // its last writes checkpointed into the file
    service = gw::Service::Open(store);
    if (!service.ok()) Die(service.status().message());
    double on_disk = static_cast<double>(fs::file_size(archive_file));
    std::printf(
        "archive file: %.1f MiB for %ld messages: %.1f KiB per message, %.2f of their "
        "size (compressed message, entry, full-text index)\n",
        on_disk / 1048576.0, messages, on_disk / 1024.0 / messages, on_disk / raw);
  }

  // 2. A large archive, filled in batches, then searched.
  auto archive = gw::OpenArchiveStore(store);
  if (!archive.ok()) Die(archive.status().message());
  std::string head;
  started = Clock::now();
  const long batch = 2000;
  auto base = std::chrono::system_clock::now() - std::chrono::hours(24 * 365);
  for (long done = 0; done < large;) {
    gw::Status s = (*archive)->Transaction(true, [&]() -> gw::Status {
      if (head.empty()) {
        auto h = (*archive)->ChainHead("bench", "large");
        if (!h.ok()) return h.status();
        head = *h;
      }
      for (long i = 0; i < batch && done < large; ++i, ++done) {
        std::string to = fmt::format("user{}@large.example", done % 5000);
        std::string body = text.Words(60 + random() % 200);
        std::string subject = text.Words(5);
        std::string message =
            fmt::format("From: a@sender{}.example\r\nTo: {}\r\nSubject: {}\r\n\r\n{}", done % 3000,
                        to, subject, body);
        gw::ArchivedMessage e;
        e.partner = "bench";
        e.customer = "large";
        e.direction = done % 3 ? "inbound" : "outbound";
        // A year of mail, in order.
        e.received_at = gw::FormatRfc3339(base + std::chrono::seconds(done * 31'536'000 / large));
        e.sender = fmt::format("a@sender{}.example", done % 3000);
        e.recipients = {to};
        e.subject = subject;
        e.size = static_cast<int64_t>(message.size());
        e.digest = gw::MessageDigest(message);
        e.retain_until = gw::FormatRfc3339(base + std::chrono::hours(24 * 2555));
        e.entry_digest = gw::ArchiveEntryDigest(e);
        e.chain = head = gw::ArchiveChainLink(head, e.entry_digest);
        if (gw::Status put =
                (*archive)->PutMessage("bench", "large", e.digest, gw::CompressMessage(message));
            !put.ok())
          return put;
        auto added = (*archive)->AddEntry(e, subject + "\n" + body);
        if (!added.ok()) return added.status();
      }
      return gw::Status::Ok();
    });
    if (!s.ok()) Die(s.message());
    if (done % 100'000 == 0) std::fprintf(stderr, "  %ld archived\n", done);
  }
  double filling = Seconds(started);
  std::printf("%ld messages archived in batches of %ld: %.1f s, %.0f messages/s\n", large, batch,
              filling, large / filling);
  if (sqlite) {
    std::printf("archive file now %.1f MiB\n",
                static_cast<double>(fs::file_size(archive_file)) / 1048576.0);
  }

  // Searches a user would run, each several times with other values; newest 100 first.
  std::vector<Latency> latencies;
  auto time = [&](const std::string& what, auto make_query) {
    Latency l{what, {}};
    for (int i = 0; i < 7; ++i) {
      gw::ArchiveQuery query = make_query(i);
      auto t = Clock::now();
      auto found = (*service)->SearchArchive(local, "bench", "large", query);
      if (!found.ok()) Die(found.status().message());
      l.ms.push_back(Seconds(t) * 1000);
    }
    std::sort(l.ms.begin(), l.ms.end());
    latencies.push_back(l);
  };
  time("sender (exact)", [](int i) {
    gw::ArchiveQuery q;
    q.sender = fmt::format("a@sender{}.example", 17 + i * 311);
    return q;
  });
  time("recipient (exact)", [](int i) {
    gw::ArchiveQuery q;
    q.recipient = fmt::format("user{}@large.example", 42 + i * 577);
    return q;
  });
  time("a rare word", [&](int i) {
    gw::ArchiveQuery q;
    q.text = text.Word(4000 + i);
    return q;
  });
  time("two common words", [&](int i) {
    gw::ArchiveQuery q;
    q.text = text.Word(i) + " " + text.Word(i + 1);
    return q;
  });
  time("a week (date range)", [&](int i) {
    gw::ArchiveQuery q;
    q.since = gw::FormatRfc3339(base + std::chrono::hours(24 * 7 * (i + 10)));
    q.until = gw::FormatRfc3339(base + std::chrono::hours(24 * 7 * (i + 11)));
    return q;
  });
  time("subject words (substring scan)", [&](int i) {
    gw::ArchiveQuery q;
    q.subject = text.Word(3000 + i);
    return q;
  });
  time("sender + a word + a month", [&](int i) {
    gw::ArchiveQuery q;
    q.sender = fmt::format("a@sender{}.example", 100 + i);
    q.text = text.Word(i + 2);
    q.since = gw::FormatRfc3339(base + std::chrono::hours(24 * 30 * (i + 1)));
    q.until = gw::FormatRfc3339(base + std::chrono::hours(24 * 30 * (i + 2)));
    return q;
  });
  std::printf("search over %ld archived messages (7 queries each, newest 100):\n", large);
  for (const auto& l : latencies) {
    std::printf("  %-32s median %7.1f ms, max %7.1f ms\n", l.what.c_str(), l.ms[l.ms.size() / 2],
                l.ms.back());
  }
  auto check_started = Clock::now();
  auto check = (*service)->VerifyArchive(local, "bench", "typical");
  if (!check.ok()) Die(check.status().message());
  std::printf("verify of the %lld typical entries: %.1f s, %s\n",
              static_cast<long long>(check->entries), Seconds(check_started),
              check->problems.empty() ? "intact" : "NOT intact");
  fs::remove_all(dir);
  return 0;
}
