// eavdb::server — streamed bulk requests: an NDJSON body read piece by piece, a response
// written piece by piece (chunked), so neither is ever held whole.
//
// Thread-compatible: one request uses one BodyStream, one ResponseStream and one source, on the
// worker thread that handles it.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "eavdb/batch.h"
#include "eavdb/schema.h"

namespace eavdb::server {

/// A request body arriving in pieces (the server feeds it from the socket on demand).
class BodyStream {
 public:
  virtual ~BodyStream() = default;
  /// Appends the next piece of the body to `out` (at most a read buffer's worth); false at the
  /// end of the body, or when the client went away or was too slow (then `failed()` is true).
  virtual bool read(std::string& out) = 0;
  /// True when the body ended early (connection error, read timeout): not every record arrived.
  virtual bool failed() const = 0;
  /// With failed(): why, for the client ("no body bytes for 500 ms (the body timeout)",
  /// "connection lost: ..."); empty when the stream cannot tell.
  virtual std::string failure() const { return {}; }
};

/// A response leaving in pieces.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  /// Sends the status line and headers (Transfer-Encoding: chunked). Called once, before write().
  virtual void start(boost::beast::http::response<boost::beast::http::string_body> head) = 0;
  /// Sends one piece of the body as a chunk; blocks while too many bytes wait to be sent, so a
  /// client that does not read holds back the worker, not memory. A lost client makes it a no-op.
  virtual void write(std::string piece) = 0;
};

/// Records from NDJSON arriving through a BodyStream. Complete lines are gathered into chunks of
/// about `chunk_bytes` and parsed with open_ndjson_record_source (same conversions, same error
/// texts, line numbers counted over the whole body); memory stays within chunk_bytes plus one
/// line of at most `max_line_bytes` (a longer line is consumed without being kept and arrives as
/// a malformed record).
class StreamedNdjsonSource final : public RecordSource {
 public:
  StreamedNdjsonSource(BodyStream& body, const EntityTypeDef* type, std::size_t max_line_bytes,
                       std::size_t chunk_bytes = 256u << 10);
  bool next(BatchRecord& out) override;
  /// Bytes of body read so far.
  uint64_t bytes_read() const noexcept { return bytes_read_; }
  /// When the body failed (BodyStream::failed) in the middle of a line: that line's number (it
  /// was cut off, so it was not parsed and is not a record); else 0.
  int64_t dropped_line() const noexcept { return dropped_line_; }

 private:
  bool fill();  // reads more of the body into buf_; false at its end
  bool next_chunk();

  BodyStream& body_;
  const EntityTypeDef* type_;
  std::size_t max_line_;
  std::size_t chunk_bytes_;
  std::string buf_;             // unparsed bytes (a partial line at most, between chunks)
  bool eof_ = false;
  bool skipping_ = false;       // inside an over-long line: dropping bytes up to its '\n'
  int64_t next_line_ = 1;       // number of the first line of buf_
  int64_t chunk_first_line_ = 1;
  std::unique_ptr<RecordSource> chunk_;
  std::optional<BatchRecord> pending_;  // an over-long line's error record
  uint64_t bytes_read_ = 0;
  int64_t dropped_line_ = 0;
};

}  // namespace eavdb::server
