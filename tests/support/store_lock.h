// Test support: another process's hold on a gatewayd store, as a second SQLite
// connection that takes the write lock and keeps it until released or destroyed.
#pragma once

#include <sqlite3.h>

#include <string>

namespace gwtest {

class StoreWriteLock {
 public:
  // Takes the lock at once (waiting up to 5 s for a writer in progress); held() says
  // whether it did.
  explicit StoreWriteLock(const std::string& store_path) {
    if (sqlite3_open_v2(store_path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK)
      return;
    sqlite3_busy_timeout(db_, 5000);
    held_ = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK;
  }
  ~StoreWriteLock() {
    Release();
    sqlite3_close_v2(db_);
  }
  StoreWriteLock(const StoreWriteLock&) = delete;
  StoreWriteLock& operator=(const StoreWriteLock&) = delete;

  bool held() const { return held_; }
  void Release() {
    if (held_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    held_ = false;
  }

 private:
  sqlite3* db_ = nullptr;
  bool held_ = false;
};

}  // namespace gwtest
