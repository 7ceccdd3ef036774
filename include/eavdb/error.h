// eavdb — error type shared by every layer.
//
// Every failure the library reports is an eavdb::Error (a std::runtime_error) carrying a stable
// ErrorCode. Messages name the record, field and reason where there is one. Thread-safe: values only.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace eavdb {

/// Stable classification of failures; also used as the `code` of CLI and (later) HTTP errors.
enum class ErrorCode {
  kInvalidArgument,  ///< bad value, bad option, malformed input record
  kNotFound,         ///< unknown entity id, entity type or attribute
  kConflict,         ///< optimistic-concurrency failure: stored version differs from expected
  kSyntax,           ///< query text does not parse (message names position and expectation)
  kTypeMismatch,     ///< a value or literal does not fit the attribute's declared type
  kConstraint,       ///< required / unique violated
  kSchema,           ///< schema definition error (duplicate code, type change...)
  kVersion,          ///< database file written by a newer eavdb (schema version too new)
  kStorage,          ///< backend failure (SQLite error code in the message)
  kIo,               ///< file / stream failure
  kLimit,            ///< a size limit was exceeded (query length, nesting depth...)
  kTimeout,          ///< a query ran past its deadline (QueryOptions::deadline) and was interrupted
};

/// Short snake_case name of a code ("invalid_argument", "not_found", ...).
std::string_view error_code_name(ErrorCode code) noexcept;

/// The exception thrown by every eavdb API.
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  /// The failure's classification.
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace eavdb
