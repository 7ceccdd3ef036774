#include "server/bulk_stream.h"

#include <fmt/format.h>

#include <algorithm>

namespace eavdb::server {
namespace {

std::string too_long(int64_t line, std::size_t max_bytes) {  // the NDJSON reader's wording
  if (max_bytes % (std::size_t{1} << 20) == 0)
    return fmt::format("line {}: record is longer than {} MiB", line, max_bytes >> 20);
  return fmt::format("line {}: record is longer than {} bytes", line, max_bytes);
}

}  // namespace

StreamedNdjsonSource::StreamedNdjsonSource(BodyStream& body, const EntityTypeDef* type, std::size_t max_line_bytes,
                                           std::size_t chunk_bytes)
    : body_(body), type_(type), max_line_(max_line_bytes), chunk_bytes_(std::max<std::size_t>(chunk_bytes, 1)) {}

bool StreamedNdjsonSource::fill() {
  if (eof_) return false;
  const std::size_t before = buf_.size();
  while (buf_.size() == before) {
    if (!body_.read(buf_)) {
      eof_ = true;
      break;
    }
  }
  bytes_read_ += buf_.size() - before;
  return buf_.size() > before;
}

bool StreamedNdjsonSource::next_chunk() {
  chunk_.reset();
  for (;;) {
    if (skipping_) {  // drop the rest of an over-long line
      const std::size_t nl = buf_.find('\n');
      if (nl == std::string::npos) {
        buf_.clear();
        if (!fill()) {
          skipping_ = false;
          return false;
        }
        continue;
      }
      buf_.erase(0, nl + 1);
      skipping_ = false;
      ++next_line_;
      continue;
    }
    // Complete lines up to about chunk_bytes_ (at least one line), or the body's last line.
    std::size_t end = 0;  // bytes of buf_ that form whole lines
    std::size_t pos = 0;
    while (pos < buf_.size()) {
      const std::size_t nl = buf_.find('\n', pos);
      if (nl == std::string::npos) break;
      if (nl - pos > max_line_) break;  // handled below as an over-long line
      end = nl + 1;
      pos = end;
      if (end >= chunk_bytes_) break;
    }
    if (end == 0) {
      // No complete line yet: an over-long partial line, more to read, or the last line.
      const std::size_t nl = buf_.find('\n');
      const std::size_t first_len = nl == std::string::npos ? buf_.size() : nl;
      if (first_len > max_line_) {
        BatchRecord r;
        r.line = next_line_;
        r.error = too_long(next_line_, max_line_);
        pending_ = std::move(r);
        if (nl != std::string::npos) {
          buf_.erase(0, nl + 1);
          ++next_line_;
        } else {
          buf_.clear();
          skipping_ = true;
        }
        return true;
      }
      if (fill()) continue;
      if (buf_.empty()) return false;
      if (body_.failed()) {  // cut off by a lost or stalled client: not a record the client sent
        dropped_line_ = next_line_;
        buf_.clear();
        return false;
      }
      end = buf_.size();  // the last line, without '\n'
    }
    std::string text = buf_.substr(0, end);
    buf_.erase(0, end);
    chunk_first_line_ = next_line_;
    next_line_ += static_cast<int64_t>(std::count(text.begin(), text.end(), '\n'));
    if (!text.empty() && text.back() != '\n') ++next_line_;
    chunk_ = open_ndjson_record_source(std::move(text), type_, max_line_);
    return true;
  }
}

bool StreamedNdjsonSource::next(BatchRecord& out) {
  for (;;) {
    if (pending_) {
      out = std::move(*pending_);
      pending_.reset();
      return true;
    }
    if (chunk_ && chunk_->next(out)) {
      // The chunk counts lines from 1: shift to the body's numbering, in the message too.
      const int64_t local = out.line;
      out.line = local + chunk_first_line_ - 1;
      if (out.error && local > 0) {
        const std::string prefix = fmt::format("line {}: ", local);
        if (out.error->starts_with(prefix)) *out.error = fmt::format("line {}: {}", out.line, out.error->substr(prefix.size()));
      }
      return true;
    }
    if (!next_chunk()) return false;
  }
}

}  // namespace eavdb::server
