#include "storage/deadline.h"

#include <fmt/format.h>

#include "eavdb/error.h"

namespace eavdb::storage {
namespace {

thread_local DeadlineScope* t_current = nullptr;

}  // namespace

DeadlineScope::DeadlineScope(std::optional<Clock::time_point> deadline) noexcept : deadline_(deadline) {
  if (!deadline_) return;
  previous_ = t_current;
  t_current = this;
}

DeadlineScope::~DeadlineScope() {
  if (deadline_) t_current = previous_;
}

DeadlineScope* DeadlineScope::current() noexcept { return t_current; }

void DeadlineScope::check(std::string_view what) const {
  if (deadline_ && Clock::now() >= *deadline_)
    throw Error(ErrorCode::kTimeout, fmt::format("query interrupted during {}: it ran past its time limit", what));
}

void DeadlineScope::rethrow_if_fired() {
  if (t_current && t_current->fired_)
    throw Error(ErrorCode::kTimeout, "query interrupted: it ran past its time limit");
}

}  // namespace eavdb::storage
