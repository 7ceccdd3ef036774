// eavdb::monitor::Profiler — gperftools CPU and heap profiling of `eavdb serve`
// (`--cpu-profile FILE --heap-profile PREFIX`). Compiled into the eavdb command only, which then
// links libprofiler and tcmalloc (the heap profiler lives in tcmalloc); sanitizer builds leave
// gperftools out and the options report that profiling is unavailable. Read the output with
// `google-pprof` (see README).
#pragma once

#include <string>

namespace eavdb::monitor {

/// Starts the requested profilers on construction and stops and flushes them in stop() (or the
/// destructor). One per process; not thread-safe (construct and stop on the main thread).
class Profiler {
 public:
  /// `cpu_file`: CPU profile written there at stop ("" = no CPU profile). `heap_prefix`: heap
  /// profiles written as PREFIX.NNNN.heap, a final one at stop ("" = no heap profile).
  /// Throws Error(kInvalidArgument) when this build has no gperftools, Error(kIo) when the CPU
  /// profiler cannot start (e.g. the file cannot be written).
  Profiler(std::string cpu_file, std::string heap_prefix);
  ~Profiler();
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

  /// Stops both profilers, writing the CPU profile and a last heap profile. Idempotent.
  void stop();

  /// Whether this build can profile (linked with gperftools).
  static bool available();

 private:
  std::string cpu_file_, heap_prefix_;
  bool cpu_running_ = false, heap_running_ = false;
};

}  // namespace eavdb::monitor
