// Shared helpers for eavdb tests: temporary directories and dataset lookup.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>

#include "eavdb/batch.h"
#include "eavdb/schema.h"

namespace eavdb::testing {

/// An attribute definition with the given code, type and required flag (label = code).
inline AttributeDef attr(const std::string& code, ValueType type, bool required = false) {
  AttributeDef a;
  a.code = code;
  a.label = code;
  a.type = type;
  a.required = required;
  return a;
}

/// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("eavdb-test-" + std::to_string(rd()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  /// Path of `name` inside the directory.
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  /// Writes `content` to `name` and returns its path.
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream(file(name), std::ios::binary) << content;
    return file(name);
  }

 private:
  std::filesystem::path path_;
};

/// The vega-datasets data directory ($EAVDB_DATA_DIR, else the build-time default), or "" when
/// the datasets are not available.
inline std::string data_dir() {
  const char* env = std::getenv("EAVDB_DATA_DIR");
  std::string dir = env && *env ? env : EAVDB_DATA_DIR;
  if (dir.empty() || !std::filesystem::exists(dir + "/movies.json")) return "";
  return dir;
}

/// An in-memory record stream over `records` (the tests' stand-in for a file; BatchProcessor
/// only pulls). size_hint() is the number of records.
class RecordList final : public RecordSource {
 public:
  explicit RecordList(std::vector<BatchRecord> records) : records_(std::move(records)) {}
  bool next(BatchRecord& out) override {
    if (pos_ >= records_.size()) return false;
    out = records_[pos_++];
    return true;
  }
  int64_t size_hint() const override { return static_cast<int64_t>(records_.size()); }

 private:
  std::vector<BatchRecord> records_;
  size_t pos_ = 0;
};

/// An in-memory id stream over `ids` (for BatchProcessor::remove/load by ids).
class IdList final : public IdSource {
 public:
  explicit IdList(std::vector<int64_t> ids) : ids_(std::move(ids)) {}
  std::optional<int64_t> next() override {
    if (pos_ >= ids_.size()) return std::nullopt;
    return ids_[pos_++];
  }

 private:
  std::vector<int64_t> ids_;
  size_t pos_ = 0;
};

}  // namespace eavdb::testing
