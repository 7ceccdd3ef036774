// eavdb::storage — a per-thread statement deadline for the work around a query (planning reads:
// statistics, flat-table registry and sync state, catalog; EXPLAIN's plan and ANALYZE's counts).
//
// While a DeadlineScope with a deadline lives on a thread, every reader connection the backend
// leases on that thread is interrupted once the deadline passes (SQLite: a progress handler),
// and the interrupted statement throws Error(kTimeout) — the same error Backend::execute throws
// for its own deadline. Writes (the writer connection) are never interrupted: callers check()
// before starting one instead.
//
// Thread-safety: a scope belongs to the thread that made it; scopes nest (the inner one wins
// while it lives) and must be destroyed in reverse order of creation, as automatic objects are.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace eavdb::storage {

class DeadlineScope {
 public:
  using Clock = std::chrono::steady_clock;
  /// Makes `deadline` the calling thread's statement deadline until destruction; std::nullopt
  /// makes a scope that limits nothing (so callers need no branch).
  explicit DeadlineScope(std::optional<Clock::time_point> deadline) noexcept;
  ~DeadlineScope();
  DeadlineScope(const DeadlineScope&) = delete;
  DeadlineScope& operator=(const DeadlineScope&) = delete;

  /// The innermost live scope of this thread that has a deadline, or nullptr.
  static DeadlineScope* current() noexcept;
  /// This scope's deadline (set: current() only returns scopes that have one).
  Clock::time_point deadline() const noexcept { return *deadline_; }
  /// True once a statement was interrupted for this scope's deadline.
  bool fired() const noexcept { return fired_; }
  /// Records that a statement was interrupted for this deadline (the progress handler calls it).
  void mark_fired() noexcept { fired_ = true; }
  /// Throws Error(kTimeout) naming `what` ("planning", "EXPLAIN ANALYZE's row count") when the
  /// deadline has passed; otherwise does nothing. No-op without a deadline.
  void check(std::string_view what) const;
  /// Throws the kTimeout error when the calling thread's current scope has fired (a statement
  /// failed with SQLITE_INTERRUPT because of it); otherwise does nothing.
  static void rethrow_if_fired();

 private:
  std::optional<Clock::time_point> deadline_;
  DeadlineScope* previous_ = nullptr;
  bool fired_ = false;
};

}  // namespace eavdb::storage
