// eavdb cli — progress display for long-running bulk work.
//
// On a terminal, one line on stderr redrawn in place (a bar, counts, records/s, ETA); when
// stderr is not a terminal, a plain line at most once per `interval`; silent when quiet.
// Not thread-safe: feed it from the thread running the batch.
#pragma once

#include <chrono>
#include <string>

#include "eavdb/batch.h"


namespace eavdb::cli {

/// Renders BatchProgress updates for humans.
class ProgressDisplay {
 public:
  /// `label` prefixes every line ("import", "bulk update"); `quiet` disables all output.
  ProgressDisplay(std::string label, bool quiet);
  ~ProgressDisplay();
  /// Shows one update (throttled; the final update, done == total, is always shown).
  void update(const BatchProgress& p);
  /// Ends the display: shows the latest update if throttling hid it, and on a terminal moves
  /// past the redrawn line.
  void finish();

 private:
  std::string label_;
  bool quiet_;
  bool tty_;
  bool drawn_ = false;
  bool last_shown_ = true;  ///< the latest update was displayed
  BatchProgress latest_;
  std::chrono::steady_clock::time_point last_;
};

/// "12,345,678": digits grouped by thousands.
std::string group_thousands(int64_t n);

}  // namespace eavdb::cli
