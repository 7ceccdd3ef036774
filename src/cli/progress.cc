#include "cli/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace eavdb::cli {
namespace {

constexpr auto kTtyInterval = std::chrono::milliseconds(100);
constexpr auto kLogInterval = std::chrono::seconds(1);
constexpr int kBarWidth = 30;

std::string eta_text(double seconds) {
  if (seconds < 0) return "?";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, s / 60 % 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

}  // namespace

std::string group_thousands(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

ProgressDisplay::ProgressDisplay(std::string label, bool quiet)
    : label_(std::move(label)), quiet_(quiet), tty_(isatty(STDERR_FILENO) == 1) {}

ProgressDisplay::~ProgressDisplay() { finish(); }

void ProgressDisplay::update(const BatchProgress& p) {
  if (quiet_) return;
  latest_ = p;
  last_shown_ = false;
  const auto now = std::chrono::steady_clock::now();
  const bool final = p.total >= 0 && p.done >= p.total;
  const std::chrono::steady_clock::duration interval =
      tty_ ? std::chrono::steady_clock::duration(kTtyInterval) : std::chrono::steady_clock::duration(kLogInterval);
  if (!final && drawn_ && now - last_ < interval) return;
  last_ = now;
  drawn_ = true;
  last_shown_ = true;
  const std::string rate = fmt::format("{} rec/s", group_thousands(static_cast<int64_t>(p.records_per_second)));
  const std::string failed = p.failed ? fmt::format(", {} rejected", group_thousands(p.failed)) : "";
  std::string line;
  if (p.total > 0) {
    const double frac = std::min(1.0, static_cast<double>(p.done) / static_cast<double>(p.total));
    const int filled = static_cast<int>(frac * kBarWidth);
    line = fmt::format("{}: {:5.1f}% {}/{} {}{} eta {}", label_, frac * 100, group_thousands(p.done),
                       group_thousands(p.total), rate, failed, eta_text(p.eta_seconds));
    if (tty_)
      line = fmt::format("{} [{}{}] {}", label_, std::string(static_cast<size_t>(filled), '#'),
                         std::string(static_cast<size_t>(kBarWidth - filled), '.'), line.substr(label_.size() + 2));
  } else {
    line = fmt::format("{}: {} {}{}", label_, group_thousands(p.done), rate, failed);
  }
  if (tty_) std::fprintf(stderr, "\r\033[K%s", line.c_str());
  else std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

void ProgressDisplay::finish() {
  if (quiet_) return;
  if (!last_shown_) {
    drawn_ = false;  // forces the update through the throttle
    update(latest_);
  }
  if (!tty_ || !drawn_) return;
  std::fprintf(stderr, "\n");
  drawn_ = false;
}

}  // namespace eavdb::cli
