#include "monitor/profiler.h"

#include <fmt/format.h>

#include "eavdb/error.h"

#ifdef EAVDB_HAVE_GPERFTOOLS
#include <gperftools/heap-profiler.h>
#include <gperftools/profiler.h>
#endif

namespace eavdb::monitor {

bool Profiler::available() {
#ifdef EAVDB_HAVE_GPERFTOOLS
  return true;
#else
  return false;
#endif
}

Profiler::Profiler(std::string cpu_file, std::string heap_prefix)
    : cpu_file_(std::move(cpu_file)), heap_prefix_(std::move(heap_prefix)) {
  if (cpu_file_.empty() && heap_prefix_.empty()) return;
#ifdef EAVDB_HAVE_GPERFTOOLS
  if (!cpu_file_.empty()) {
    if (!ProfilerStart(cpu_file_.c_str()))
      throw Error(ErrorCode::kIo, fmt::format("--cpu-profile: cannot start the CPU profiler writing '{}'", cpu_file_));
    cpu_running_ = true;
  }
  if (!heap_prefix_.empty()) {
    HeapProfilerStart(heap_prefix_.c_str());
    heap_running_ = IsHeapProfilerRunning() != 0;
    if (!heap_running_) {
      stop();
      throw Error(ErrorCode::kIo, fmt::format("--heap-profile: cannot start the heap profiler with prefix '{}'", heap_prefix_));
    }
  }
#else
  throw Error(ErrorCode::kInvalidArgument,
              "--cpu-profile/--heap-profile: this eavdb was built without gperftools (sanitizer build or "
              "libgoogle-perftools-dev missing)");
#endif
}

Profiler::~Profiler() { stop(); }

void Profiler::stop() {
#ifdef EAVDB_HAVE_GPERFTOOLS
  if (cpu_running_) {
    ProfilerFlush();
    ProfilerStop();
    cpu_running_ = false;
  }
  if (heap_running_) {
    HeapProfilerDump("shutdown");
    HeapProfilerStop();
    heap_running_ = false;
  }
#endif
}

}  // namespace eavdb::monitor
