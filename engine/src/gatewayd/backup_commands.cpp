#include "gatewayd/backup_commands.h"

#include <archive.h>
#include <archive_entry.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "gateway/config_flags.h"
#include "gateway/daemon_config.h"
#include "gateway/rfc3339.h"
#include "gatewayd/process.h"

namespace gatewayd {
namespace {

namespace fs = std::filesystem;
using gw::Result;
using gw::Status;
using nlohmann::json;

constexpr int kFormat = 1;

Status Unavailable(const std::string& message) {
  return Status(gw::StatusCode::kUnavailable, message);
}

// A consistent copy of a SQLite database that may be in use (a read transaction).
Result<std::string> CopySqlite(const fs::path& database, const fs::path& scratch) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(database.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::string why = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Unavailable(fmt::format("cannot open {}: {}", database.string(), why));
  }
  sqlite3_busy_timeout(db, 10'000);
  fs::path copy = scratch / database.filename();
  // The path is bound, not spliced into the SQL: the operator chose its directory.
  sqlite3_stmt* vacuum = nullptr;
  int rc = sqlite3_prepare_v2(db, "VACUUM INTO ?1", -1, &vacuum, nullptr);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(vacuum, 1, copy.c_str(), -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(vacuum) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
  }
  std::string why = sqlite3_errmsg(db);
  sqlite3_finalize(vacuum);
  sqlite3_close(db);
  if (rc != SQLITE_OK)
    return Unavailable(fmt::format("cannot copy {}: {}", database.string(), why));
  auto bytes = ReadWholeFile(copy.string());
  fs::remove(copy);
  return bytes;
}

struct Member {
  std::string name;  // in the archive
  fs::path path;     // where it is restored
  mode_t mode;
  std::string bytes;
  bool store = false;  // under the data directory: given its owner
};

Result<std::vector<Member>> Collect(const gw::DaemonConfig& config, const fs::path& scratch) {
  std::vector<Member> members;
  fs::path data = config.String("/dataDirectory");
  if (config.Has("/store")) {
    return Status::Invalid(
        "the store is on PostgreSQL: back it up with pg_dump (gatewayd backup holds the "
        "SQLite store only)");
  }
  for (const char* name : {"gateway.db", "gateway.db.archive"}) {
    fs::path database = data / name;
    if (!fs::exists(database)) {
      if (std::string(name) == "gateway.db") return Unavailable("no store at " + database.string());
      continue;
    }
    auto bytes = CopySqlite(database, scratch);
    if (!bytes.ok()) return bytes.status();
    members.push_back({fmt::format("store/{}", name), database, 0600, std::move(*bytes), true});
  }
  fs::path key = gw::DoveadmKeyFile(config);
  if (fs::exists(key)) {
    auto bytes = ReadWholeFile(key.string());
    if (!bytes.ok()) return bytes.status();
    members.push_back({"keys/doveadm-key", key, 0640, std::move(*bytes), true});
  }
  fs::path etc = fs::absolute(config.file()).parent_path();
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(etc, ec)) {
    if (!entry.is_regular_file()) continue;
    auto bytes = ReadWholeFile(entry.path().string());
    if (!bytes.ok()) return bytes.status();
    struct stat info {};
    ::stat(entry.path().c_str(), &info);
    members.push_back({"config/" + entry.path().filename().string(), entry.path(),
                       static_cast<mode_t>(info.st_mode & 0777), std::move(*bytes)});
  }
  if (ec) return Unavailable(fmt::format("cannot list {}: {}", etc.string(), ec.message()));
  return members;
}

int Backup(const gw::DaemonConfig& config, const std::string& out) {
  fs::path scratch = fs::path(out).parent_path() / fmt::format(".gatewayd-backup-{}", ::getpid());
  std::error_code ec;
  fs::create_directories(scratch, ec);
  ::chmod(scratch.c_str(), 0700);
  auto members = Collect(config, scratch);
  fs::remove_all(scratch, ec);
  if (!members.ok()) {
    Log("backup: " + members.status().message());
    return members.status().code() == gw::StatusCode::kInvalidArgument ? 2 : 1;
  }
  json manifest = {{"format", kFormat},
                   {"created", gw::FormatRfc3339(std::chrono::system_clock::now())},
                   {"config", fs::absolute(config.file()).string()},
                   {"files", json::array()}};
  for (const Member& m : *members) {
    manifest["files"].push_back(
        {{"name", m.name}, {"path", m.path.string()}, {"mode", m.mode}, {"store", m.store}});
  }
  std::string temporary = out + ".partial";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    Log("backup: cannot write " + temporary);
    return 1;
  }
  struct archive* a = archive_write_new();
  archive_write_add_filter_gzip(a);
  archive_write_set_format_pax_restricted(a);
  bool ok = archive_write_open_fd(a, fd) == ARCHIVE_OK;
  auto add = [&](const std::string& name, const std::string& bytes) {
    struct archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, name.c_str());
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0600);
    archive_entry_set_size(entry, static_cast<la_int64_t>(bytes.size()));
    ok = ok && archive_write_header(a, entry) == ARCHIVE_OK &&
         archive_write_data(a, bytes.data(), bytes.size()) == static_cast<la_ssize_t>(bytes.size());
    archive_entry_free(entry);
  };
  add("backup.json", manifest.dump(2) + "\n");
  size_t total = 0;
  for (const Member& m : *members) {
    add(m.name, m.bytes);
    total += m.bytes.size();
  }
  ok = archive_write_close(a) == ARCHIVE_OK && ok;
  archive_write_free(a);
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok || ::rename(temporary.c_str(), out.c_str()) != 0) {
    ::unlink(temporary.c_str());
    Log("backup: cannot write " + out);
    return 1;
  }
  std::cout << fmt::format("backed up {} file(s), {} bytes before compression, to {}\n",
                           members->size(), total, out);
  return 0;
}

Result<std::map<std::string, std::string>> ReadArchive(const std::string& file) {
  struct archive* a = archive_read_new();
  archive_read_support_filter_gzip(a);
  archive_read_support_format_tar(a);
  std::map<std::string, std::string> members;
  if (archive_read_open_filename(a, file.c_str(), 1 << 16) != ARCHIVE_OK) {
    std::string why = archive_error_string(a) ? archive_error_string(a) : "unreadable";
    archive_read_free(a);
    return Unavailable(fmt::format("cannot read {}: {}", file, why));
  }
  struct archive_entry* entry = nullptr;
  int rc;
  while ((rc = archive_read_next_header(a, &entry)) == ARCHIVE_OK) {
    std::string bytes;
    char buffer[1 << 16];
    la_ssize_t n;
    while ((n = archive_read_data(a, buffer, sizeof buffer)) > 0)
      bytes.append(buffer, static_cast<size_t>(n));
    if (n < 0) break;
    members[archive_entry_pathname(entry)] = std::move(bytes);
  }
  bool complete = rc == ARCHIVE_EOF;
  archive_read_free(a);
  if (!complete) return Status::Invalid(file + " is damaged or not a gatewayd backup");
  return members;
}

int Restore(const std::string& file, const std::string& expected_config, bool force) {
  auto members = ReadArchive(file);
  if (!members.ok()) {
    Log("restore: " + members.status().message());
    return 2;
  }
  json manifest = json::parse((*members)["backup.json"], nullptr, false);
  if (!manifest.is_object() || !manifest.contains("files")) {
    Log("restore: " + file + " has no backup.json: not a gatewayd backup");
    return 2;
  }
  if (manifest.value("format", 0) > kFormat) {
    Log(fmt::format("restore: {} is of backup format {}, newer than this gatewayd reads ({})", file,
                    manifest.value("format", 0), kFormat));
    return 2;
  }
  // The configuration comes back with the rest, where the operator says it lives; it
  // says where the store goes.
  std::string config_path = manifest.value("config", "");
  if (fs::path(config_path) != fs::absolute(expected_config).lexically_normal()) {
    Log(
        fmt::format("restore: {} is the backup of the host configured by {}, not {} (give "
                    "--config {} to restore it)",
                    file, config_path, expected_config, config_path));
    return 2;
  }
  auto config = gw::DaemonConfig::Parse(
      config_path, (*members)["config/" + fs::path(config_path).filename().string()]);
  if (!config.ok()) {
    Log("restore: the backup's configuration: " + config.status().message());
    return 2;
  }
  fs::path data = config->String("/dataDirectory");
  if (fs::exists(data / "gateway.db") && !force) {
    Log("restore: " + (data / "gateway.db").string() +
        " exists; stop gatewayd and give --force to replace it");
    return 2;
  }
  struct stat owner {};
  std::error_code ec;
  fs::create_directories(data, ec);
  ::stat(data.c_str(), &owner);
  // Every file goes under the data directory or beside the configuration, nowhere else,
  // and all are checked before any is written: a damaged or hand-edited manifest cannot
  // write elsewhere. (A backup holds the host's tokens: it is trusted as its configuration
  // is, and kept as safely.)
  fs::path etc = fs::path(config_path).parent_path();
  auto inside = [](const fs::path& path, const fs::path& root) {
    auto [end, _] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
    return end == root.end();
  };
  for (const json& f : manifest["files"]) {
    std::string name = f.value("name", "");
    fs::path path = fs::path(f.value("path", "")).lexically_normal();
    bool placed = path.is_absolute() && path.filename() != ".." &&
                  (inside(path, data.lexically_normal()) || inside(path, etc.lexically_normal()));
    if (!members->count(name) || !placed) {
      Log(fmt::format("restore: the manifest's {} ({}) is not in the backup or not under {} or {}",
                      name, path.string(), data.string(), etc.string()));
      return 2;
    }
  }
  for (const json& f : manifest["files"]) {
    std::string name = f.value("name", "");
    fs::path path = fs::path(f.value("path", "")).lexically_normal();
    fs::create_directories(path.parent_path(), ec);
    if (f.value("store", false)) {
      // A store's journals from before belong to the store being replaced.
      for (const char* suffix : {"-wal", "-shm", "-journal"})
        fs::remove(path.string() + suffix, ec);
    }
    Status written = gw::WriteFileAtomically(path, (*members)[name], f.value("mode", 0600));
    if (!written.ok()) {
      Log("restore: " + written.message());
      return 1;
    }
    if (f.value("store", false) && ::geteuid() == 0 &&
        ::chown(path.c_str(), owner.st_uid, owner.st_gid) != 0) {
      Log("restore: warning: cannot give " + path.string() + " to the data directory's owner");
    }
    std::cout << "restored " << path.string() << "\n";
  }
  std::cout << fmt::format(
      "restored the backup of {} ; start gatewayd (it migrates an older "
      "store as it opens it)\n",
      manifest.value("created", "?"));
  return 0;
}

}  // namespace

BackupCommands::BackupCommands(CLI::App& app) {
  backup_ = app.add_subcommand(
      "backup", "Write the store, its archive, keys and configuration to one file (tar.gz, 0600)");
  backup_->add_option("--config", config_, "The gateway's configuration file")
      ->capture_default_str();
  backup_->add_option("--out", file_, "The backup file to write")->required();
  restore_ = app.add_subcommand(
      "restore", "Put a backup's store, keys and configuration back where they came from");
  restore_->add_option("--from", file_, "The backup file")->required();
  restore_
      ->add_option("--config", config_,
                   "Where the host's configuration lives (the backup's must be the same)")
      ->capture_default_str();
  restore_->add_flag("--force", force_, "Replace an existing store (stop gatewayd first)");
}

std::optional<int> BackupCommands::Run() const {
  if (restore_->parsed()) return Restore(file_, config_, force_);
  if (!backup_->parsed()) return std::nullopt;
  auto config = gw::DaemonConfig::Read(config_);
  if (!config.ok()) {
    std::cerr << config.status().message() << "\n";
    return 2;
  }
  return Backup(*config, file_);
}

}  // namespace gatewayd
