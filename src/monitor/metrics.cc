#include "monitor/metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

namespace eavdb::monitor {
namespace {

bool valid_name(std::string_view n) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::string label_text(const Labels& labels, const std::string* le = nullptr) {
  if (labels.empty() && !le) return {};
  std::string s = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) s += ',';
    first = false;
    s += k;
    s += "=\"";
    s += escape_label_value(v);
    s += '"';
  }
  if (le) {
    if (!first) s += ',';
    s += "le=\"";
    s += *le;
    s += '"';
  }
  s += '}';
  return s;
}

// HELP text escapes backslash and line feed (not quotes).
std::string escape_help(std::string_view h) {
  std::string s;
  for (char c : h) {
    if (c == '\\') s += "\\\\";
    else if (c == '\n') s += "\\n";
    else s += c;
  }
  return s;
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  counts_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::observe(double v) noexcept {
  const size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<double> default_latency_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

Registry::Family& Registry::family(std::string_view name, std::string_view help, Kind kind) {
  if (!valid_name(name)) throw std::invalid_argument(fmt::format("invalid metric name '{}'", name));
  auto it = families_.find(name);
  if (it == families_.end()) it = families_.emplace(std::string(name), Family{kind, std::string(help), {}, {}, {}}).first;
  if (it->second.kind != kind)
    throw std::invalid_argument(fmt::format("metric '{}' is already registered with another type", name));
  return it->second;
}

Counter& Registry::counter(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& slot = family(name, help, Kind::kCounter).counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Registry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& slot = family(name, help, Kind::kGauge).gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& Registry::histogram(std::string_view name, std::string_view help, const std::vector<double>& bounds,
                               const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& slot = family(name, help, Kind::kHistogram).histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>(bounds);
  return *slot;
}

void Registry::add_collector(std::function<void(Registry&)> collector) {
  std::lock_guard lock(collectors_mu_);
  collectors_.push_back(std::move(collector));
}

std::string Registry::expose() { return expose_filtered(nullptr); }

void Registry::collect() {
  std::lock_guard lock(collectors_mu_);
  for (auto& c : collectors_) c(*this);
}

std::string Registry::expose_only(std::string_view label_name, std::string_view label_value) {
  const std::pair<std::string_view, std::string_view> only{label_name, label_value};
  return expose_filtered(&only);
}

void Registry::for_each_histogram(std::string_view name,
                                  const std::function<void(const Labels&, const Histogram&)>& fn) {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return;
  for (const auto& [labels, h] : it->second.histograms) fn(labels, *h);
}

double Registry::counter_total(std::string_view name, std::string_view label, std::string_view value_prefix) {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  double total = 0;
  for (const auto& [labels, c] : it->second.counters) {
    bool match = label.empty();
    for (const auto& [k, v] : labels)
      if (k == label) match = std::string_view(v).starts_with(value_prefix);
    if (match) total += c->value();
  }
  return total;
}

std::string Registry::expose_filtered(const std::pair<std::string_view, std::string_view>* only) {
  collect();
  const auto keep = [only](const Labels& labels) {
    if (!only) return true;
    for (const auto& [k, v] : labels)
      if (k == only->first) return v == only->second;
    return false;
  };
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    static constexpr const char* kTypes[] = {"counter", "gauge", "histogram"};
    bool any = !only;
    for (const auto& s : f.counters) any = any || keep(s.first);
    for (const auto& s : f.gauges) any = any || keep(s.first);
    for (const auto& s : f.histograms) any = any || keep(s.first);
    if (!any) continue;
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escape_help(f.help), name, kTypes[static_cast<int>(f.kind)]);
    for (const auto& [labels, c] : f.counters)
      if (keep(labels)) out += fmt::format("{}{} {}\n", name, label_text(labels), format_sample_value(c->value()));
    for (const auto& [labels, g] : f.gauges)
      if (keep(labels)) out += fmt::format("{}{} {}\n", name, label_text(labels), format_sample_value(g->value()));
    for (const auto& [labels, h] : f.histograms) {
      if (!keep(labels)) continue;
      uint64_t cumulative = 0;
      for (size_t i = 0; i <= h->bounds().size(); ++i) {
        cumulative += h->bucket_count(i);
        const std::string le = i < h->bounds().size() ? format_sample_value(h->bounds()[i]) : "+Inf";
        out += fmt::format("{}_bucket{} {}\n", name, label_text(labels, &le), cumulative);
      }
      out += fmt::format("{}_sum{} {}\n", name, label_text(labels), format_sample_value(h->sum()));
      out += fmt::format("{}_count{} {}\n", name, label_text(labels), h->count());
    }
  }
  return out;
}

std::string escape_label_value(std::string_view v) {
  std::string s;
  s.reserve(v.size());
  for (char c : v) {
    if (c == '\\') s += "\\\\";
    else if (c == '"') s += "\\\"";
    else if (c == '\n') s += "\\n";
    else s += c;
  }
  return s;
}

std::string format_sample_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

double bucket_quantile(const std::vector<double>& bounds, const std::vector<uint64_t>& counts, double q) {
  uint64_t total = 0;
  for (uint64_t c : counts) total += c;
  if (total == 0 || bounds.empty()) return 0;
  const double rank = q * static_cast<double>(total);
  double below = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double here = static_cast<double>(counts[i]);
    if (below + here >= rank && here > 0) {
      if (i >= bounds.size()) return bounds.back();
      const double lo = i == 0 ? 0.0 : bounds[i - 1];
      return lo + (bounds[i] - lo) * ((rank - below) / here);
    }
    below += here;
  }
  return bounds.back();
}

uint64_t process_rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

double process_cpu_seconds() {
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

}  // namespace eavdb::monitor
