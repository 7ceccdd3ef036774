#include "server/server.h"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <iostream>
#include <limits>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "eavdb/error.h"

namespace eavdb::server {
namespace {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::chrono::seconds kWriteTimeout{30};
constexpr std::chrono::seconds kLingerTimeout{2};
constexpr std::chrono::seconds kDrainLimit{60};
constexpr std::size_t kStreamReadBytes = 64u << 10;      // one read of a streamed body
constexpr std::size_t kStreamQueuedBytes = 1u << 20;     // response bytes waiting before the worker blocks

class Connection;

/// State shared by the listener and every connection.
struct Shared {
  Shared(const ServerOptions& o, monitor::Registry& m) : options(o), metrics(m), api(o, m), workers(o.workers) {
    metrics.add_collector([this](monitor::Registry& r) {
      r.gauge("eavdb_http_requests_in_flight", "Requests admitted and not yet answered.").set(in_flight.load());
      r.gauge("eavdb_workers", "Threads of the database worker pool.").set(options.workers);
      r.gauge("eavdb_workers_busy", "Worker threads running a request now.").set(workers_busy.load());
      r.gauge("eavdb_workers_queued", "Requests waiting for a worker thread.").set(workers_queued.load());
      r.counter("eavdb_http_requests_inline_total",
                "Requests answered on the I/O thread without a worker (cached entity reads).")
          .mirror(static_cast<double>(served_inline.load()));
      std::lock_guard lock(mu);
      r.gauge("eavdb_http_connections", "Open client connections.").set(static_cast<double>(connections.size()));
    });
  }
  const ServerOptions& options;
  monitor::Registry& metrics;
  Api api;
  net::thread_pool workers;
  std::atomic<int> in_flight{0};
  std::atomic<int> workers_busy{0};
  std::atomic<int> workers_queued{0};
  std::atomic<uint64_t> served_inline{0};
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::unordered_map<Connection*, std::weak_ptr<Connection>> connections;

  /// The series of the last request a connection recorded: a keep-alive connection mostly repeats
  /// one route, method and status, so the registry (a mutex and map lookups) is asked only when
  /// they change. Series are never removed from the registry, so the pointers stay valid.
  struct SeriesMemo {
    std::string route, method;
    unsigned status = 0;
    monitor::Counter* requests = nullptr;
    monitor::Histogram* duration = nullptr;
  };

  void record(const std::string& route, std::string_view method, unsigned status, double seconds,
              SeriesMemo* memo = nullptr) {
    static constexpr std::string_view kMethods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"};
    const bool known = std::find(std::begin(kMethods), std::end(kMethods), method) != std::end(kMethods);
    const std::string_view label = known ? method : std::string_view("OTHER");
    if (memo && memo->requests && memo->status == status && memo->route == route && memo->method == label) {
      memo->requests->inc();
      memo->duration->observe(seconds);
      return;
    }
    auto& requests = metrics.counter("eavdb_http_requests_total", "HTTP requests by route, method and status.",
                                     {{"method", std::string(label)}, {"route", route}, {"status", std::to_string(status)}});
    auto& duration = metrics.histogram("eavdb_http_request_duration_seconds",
                                       "HTTP request latency (head received to response ready).",
                                       monitor::default_latency_buckets(), {{"route", route}});
    requests.inc();
    duration.observe(seconds);
    if (memo) *memo = SeriesMemo{route, std::string(label), status, &requests, &duration};
  }
};

/// One client connection: reads requests, hands them to the workers, writes responses.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket&& socket, Shared& shared)
      : stream_(std::move(socket)), shared_(shared), read_timer_(stream_.get_executor()) {}
  ~Connection() {
    std::lock_guard lock(shared_.mu);
    shared_.connections.erase(this);
  }

  void start() {
    {
      std::lock_guard lock(shared_.mu);
      shared_.connections.emplace(this, weak_from_this());
    }
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_head(); });
  }

  /// The connection's strand.
  net::any_io_executor strand_executor() { return stream_.get_executor(); }

  /// Called (on the strand) at shutdown: an idle connection is closed now, a busy one after
  /// its response.
  void shutdown() {
    if (!busy_) close();
  }

 private:
  void read_head() {
    if (shared_.stopping.load()) return close();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(shared_.options.max_header_bytes));
    // The body limit is applied once the head says which route it is: a streamed bulk request
    // has none (see on_head). Not boost::none: Beast 1.74 compares a Content-Length against an
    // unset limit as if it were exceeded.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    arm_read_timer(shared_.options.header_timeout);
    http::async_read_header(stream_.socket(), buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->read_done();
      self->on_head(ec);
    });
  }

  void on_head(beast::error_code ec) {
    // A head begun but not finished in time gets a 408 that says so; an idle keep-alive
    // connection (nothing of a next request arrived) is closed without a word.
    if (ec && read_timed_out_ && (buffer_.size() > 0 || parser_->got_some()))
      return reply_and_close(http::status::request_timeout, "header_timeout",
                             fmt::format("the request head did not arrive within {} ms (the header timeout)",
                                         shared_.options.header_timeout.count()));
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::operation_aborted ||
        ec == net::error::connection_reset || ec == net::error::eof)
      return close();
    if (ec == http::error::header_limit)
      return reply_and_close(http::status::request_header_fields_too_large, "header_too_large",
                             fmt::format("the request head is larger than {} bytes", shared_.options.max_header_bytes));
    if (ec == http::error::body_limit)
      return reply_and_close(http::status::payload_too_large, "body_too_large",
                             fmt::format("the request body is larger than {} bytes", shared_.options.max_body_bytes));
    if (ec) return reply_and_close(http::status::bad_request, "bad_request", fmt::format("malformed HTTP request: {}", ec.message()));
    const bool streamed = Api::is_streamed(parser_->get());
    if (!streamed) {
      const auto length = parser_->content_length();
      if (length && *length > shared_.options.max_body_bytes)
        return reply_and_close(http::status::payload_too_large, "body_too_large",
                               fmt::format("the request body is larger than {} bytes", shared_.options.max_body_bytes));
      parser_->body_limit(shared_.options.max_body_bytes);  // a chunked body is counted as it arrives
    }
    started_ = Clock::now();
    if (shared_.in_flight.fetch_add(1) >= shared_.options.max_in_flight) {
      shared_.in_flight.fetch_sub(1);
      return reply_and_close(http::status::service_unavailable, "overloaded",
                             fmt::format("more than {} requests in flight; retry shortly", shared_.options.max_in_flight), 1);
    }
    busy_ = true;
    auto expect = parser_->get().find(http::field::expect);
    if (expect != parser_->get().end() && beast::iequals(expect->value(), "100-continue")) {
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, parser_->get().version());
      stream_.expires_after(kWriteTimeout);
      http::async_write(stream_, *cont, [self = shared_from_this(), cont, streamed](beast::error_code wec, std::size_t) {
        if (wec) return self->finish_in_flight(), self->close();
        if (streamed) return self->start_stream();
        self->read_body();
      });
      return;
    }
    if (streamed) return start_stream();
    read_body();
  }

  // ---- streamed bulk requests: body read on demand, response written as chunks -------------------
  //
  // The worker (Api::handle_stream) pulls body pieces through read_piece() and pushes response
  // pieces through queue_chunk(), both run on this connection's strand; the Bridge is the
  // worker's side, blocking on a condition variable. At most one body piece and
  // kStreamQueuedBytes of response are held at a time.
  class Bridge final : public BodyStream, public ResponseStream {
   public:
    explicit Bridge(std::shared_ptr<Connection> c) : c_(std::move(c)) {}

    bool read(std::string& out) override {
      std::unique_lock lock(mu_);
      if (ended_) return false;
      asked_ = true;
      net::post(c_->strand_executor(), [c = c_] { c->read_piece(); });
      cv_.wait(lock, [&] { return !asked_; });
      if (piece_.empty()) return !ended_;
      out += piece_;
      piece_.clear();
      return true;
    }
    bool failed() const override {
      std::lock_guard lock(mu_);
      return failed_;
    }
    std::string failure() const override {
      std::lock_guard lock(mu_);
      return failure_;
    }
    void start(Response head) override {
      net::post(c_->strand_executor(), [c = c_, h = std::move(head)]() mutable { c->write_stream_head(std::move(h)); });
    }
    void write(std::string piece) override {
      if (piece.empty()) return;
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return queued_ < kStreamQueuedBytes || write_failed_; });
      if (write_failed_) return;
      queued_ += piece.size();
      net::post(c_->strand_executor(), [c = c_, p = std::move(piece)]() mutable { c->queue_chunk(std::move(p)); });
    }

    // Strand side.
    void deliver(std::string piece, bool ended, bool failed, std::string why = {}) {
      std::lock_guard lock(mu_);
      piece_ = std::move(piece);
      ended_ = ended_ || ended;
      failed_ = failed_ || failed;
      if (failed && failure_.empty()) failure_ = std::move(why);
      asked_ = false;
      cv_.notify_all();
    }
    void sent(std::size_t bytes, bool ok) {
      std::lock_guard lock(mu_);
      queued_ -= std::min(queued_, bytes);
      if (!ok) write_failed_ = true;
      cv_.notify_all();
    }
    bool body_complete() const {
      std::lock_guard lock(mu_);
      return ended_ && !failed_;
    }
    void release() { c_.reset(); }  // breaks the Connection <-> Bridge cycle

   private:
    std::shared_ptr<Connection> c_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::string piece_;
    std::string failure_;  ///< why the body failed, for the client
    bool asked_ = false, ended_ = false, failed_ = false, write_failed_ = false;
    std::size_t queued_ = 0;
  };

  void start_stream() {
    auto head = std::make_shared<Request>();
    head->base() = parser_->get().base();
    stream_parser_.emplace(std::move(*parser_));
    parser_.reset();  // a moved-from parser may only be destroyed
    stream_parser_->body_limit(std::numeric_limits<std::uint64_t>::max());  // memory is bounded by the pieces
    bridge_ = std::make_shared<Bridge>(shared_from_this());
    stream_started_ = false;
    stream_finishing_ = false;
    stream_write_failed_ = false;
    writing_ = false;
    read_pending_ = false;
    read_timed_out_ = false;
    cancel_read_after_write_ = false;
    out_queue_.clear();
    shared_.workers_queued.fetch_add(1);
    net::post(shared_.workers, [self = shared_from_this(), head, bridge = bridge_] {
      self->shared_.workers_queued.fetch_sub(1);
      self->shared_.workers_busy.fetch_add(1);
      std::string route;
      auto refused = self->shared_.api.handle_stream(*head, *bridge, *bridge, route);
      self->shared_.workers_busy.fetch_sub(1);
      net::post(self->stream_.get_executor(), [self, head, route = std::move(route), refused = std::move(refused)]() mutable {
        if (refused) {
          self->bridge_->release();
          self->bridge_.reset();
          return self->write_refusal(*head, route, std::move(*refused));
        }
        self->stream_route_ = route;
        self->stream_method_ = std::string(head->method_string());
        self->stream_finishing_ = true;
        self->write_next();
      });
    });
  }

  void read_piece() {
    if (!stream_parser_ || stream_parser_->is_done()) return bridge_->deliver({}, true, false);
    piece_buf_.resize(kStreamReadBytes);
    stream_parser_->get().body().data = piece_buf_.data();
    stream_parser_->get().body().size = piece_buf_.size();
    // The body timeout cancels only this read (see arm_read_timer): the response goes on and
    // tells the client that its body stalled and how far its records got.
    arm_read_timer(shared_.options.body_timeout);
    http::async_read_some(stream_.socket(), buffer_, *stream_parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->read_done();
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        std::string why;
        if (self->read_timed_out_)
          why = fmt::format("no body bytes arrived for {} ms, the body timeout", self->shared_.options.body_timeout.count());
        else if (ec == net::error::eof || ec == http::error::partial_message)
          why = "the client closed the connection";
        else
          why = fmt::format("connection error: {}", ec.message());
        return self->bridge_->deliver({}, true, true, std::move(why));
      }
      const std::size_t got = self->piece_buf_.size() - self->stream_parser_->get().body().size;
      self->bridge_->deliver(std::string(self->piece_buf_.data(), got), self->stream_parser_->is_done(), false);
    });
  }

  void write_stream_head(Response head) {
    stream_status_ = head.result_int();
    auto res = std::make_shared<http::response<http::empty_body>>(head.result(), head.version());
    for (const auto& f : head) res->set(f.name_string(), f.value());
    res->set(http::field::server, "eavdb");
    res->keep_alive(stream_keep_alive_ok() && !shared_.stopping.load());
    res->chunked(true);
    auto sr = std::make_shared<http::response_serializer<http::empty_body>>(*res);
    writing_ = true;
    stream_.expires_after(kWriteTimeout);
    http::async_write_header(stream_, *sr, [self = shared_from_this(), res, sr](beast::error_code ec, std::size_t) {
      self->writing_ = false;
      self->stream_started_ = true;
      if (ec) self->stream_write_failed_ = true;
      self->write_next();
    });
  }

  void queue_chunk(std::string piece) {
    out_queue_.push_back(std::move(piece));
    write_next();
  }

  void cancel_read() {
    beast::error_code ignored;
    stream_.socket().cancel(ignored);
  }

  // Reads (request heads, bodies, streamed body pieces) go to the socket itself with this timer
  // instead of tcp_stream's: when tcp_stream's timer fires it closes the socket, and the client
  // could not be told why (408) or, for a streamed bulk request, how far its records got. Call
  // before starting the read; when the timer fires first, read_timed_out_ is set and the read is
  // cancelled (after a write in progress completes: cancelling the socket cancels both).
  void arm_read_timer(std::chrono::milliseconds limit) {
    const uint64_t gen = ++read_gen_;
    read_pending_ = true;
    read_timed_out_ = false;
    read_timer_.expires_after(limit);
    read_timer_.async_wait([self = shared_from_this(), gen](beast::error_code ec) {
      if (ec || gen != self->read_gen_ || !self->read_pending_) return;
      self->read_timed_out_ = true;
      if (self->writing_) self->cancel_read_after_write_ = true;
      else self->cancel_read();
    });
  }
  /// Call first in a read's completion handler.
  void read_done() {
    read_pending_ = false;
    read_timer_.cancel();
  }

  void write_next() {
    if (writing_) return;
    if (cancel_read_after_write_) {  // the body timed out while a write was in progress
      cancel_read_after_write_ = false;
      if (read_pending_) cancel_read();
    }
    if (!out_queue_.empty()) {
      if (!stream_started_) return;  // the head is written first
      auto piece = std::make_shared<std::string>(std::move(out_queue_.front()));
      out_queue_.pop_front();
      if (stream_write_failed_) {
        bridge_->sent(piece->size(), false);
        return write_next();
      }
      writing_ = true;
      stream_.expires_after(kWriteTimeout);
      net::async_write(stream_, http::make_chunk(net::buffer(*piece)),
                       [self = shared_from_this(), piece](beast::error_code ec, std::size_t) {
                         self->writing_ = false;
                         if (ec) self->stream_write_failed_ = true;
                         self->bridge_->sent(piece->size(), !ec);
                         self->write_next();
                       });
      return;
    }
    if (!stream_finishing_) return;
    stream_finishing_ = false;
    const auto done = [self = shared_from_this()](bool ok) {
      const bool body_complete = self->bridge_->body_complete();
      const bool reusable = ok && body_complete && self->stream_keep_alive_ok() && !self->shared_.stopping.load();
      self->shared_.record(self->stream_route_, self->stream_method_, self->stream_status_,
                           std::chrono::duration<double>(Clock::now() - self->started_).count());
      self->bridge_->release();
      self->bridge_.reset();
      self->stream_parser_.reset();
      self->finish_in_flight();
      // A body cut short may have unread bytes: closing now would reset the connection and could
      // drop the response's tail (its error line) before the client read it.
      if (ok && !body_complete) return self->linger_close();
      if (!reusable) return self->close();
      self->read_head();
    };
    if (stream_write_failed_) return done(false);
    writing_ = true;
    stream_.expires_after(kWriteTimeout);
    net::async_write(stream_, http::make_chunk_last(), [self = shared_from_this(), done](beast::error_code ec, std::size_t) {
      self->writing_ = false;
      done(!ec);
    });
  }

  /// A streamed request refused before its body was read: the response, then the connection is
  /// closed politely (unread body bytes drained for a moment so the client sees the response).
  void write_refusal(const Request& head, const std::string& route, Response res) {
    res.keep_alive(false);
    res.set(http::field::server, "eavdb");
    res.prepare_payload();
    shared_.record(route, std::string_view(head.method_string().data(), head.method_string().size()), res.result_int(),
                   std::chrono::duration<double>(Clock::now() - started_).count());
    stream_parser_.reset();
    auto sp = std::make_shared<Response>(std::move(res));
    stream_.expires_after(kWriteTimeout);
    http::async_write(stream_, *sp, [self = shared_from_this(), sp](beast::error_code ec, std::size_t) {
      self->finish_in_flight();
      if (ec) return self->close();
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      self->stream_.expires_after(kLingerTimeout);
      self->drain();
    });
  }

  bool stream_keep_alive_ok() const { return stream_parser_ && stream_parser_->get().keep_alive(); }

  // The whole body must arrive within the body timeout; past it the client gets a 408 that says
  // so (see arm_read_timer).
  void read_body() {
    arm_read_timer(shared_.options.body_timeout);
    http::async_read(stream_.socket(), buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->read_done();
      self->on_body(ec);
    });
  }

  void on_body(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      finish_in_flight();
      return reply_and_close(http::status::payload_too_large, "body_too_large",
                             fmt::format("the request body is larger than {} bytes", shared_.options.max_body_bytes));
    }
    if (ec && read_timed_out_) {  // a slow client: say so before closing
      finish_in_flight();
      const auto length = parser_->content_length();
      return reply_and_close(
          http::status::request_timeout, "body_timeout",
          fmt::format("the request body did not arrive within {} ms (the body timeout); {} bytes of it arrived{}",
                      shared_.options.body_timeout.count(), parser_->get().body().size(),
                      length ? fmt::format(" of the {} announced", *length) : std::string()));
    }
    if (ec) {  // reset, or a malformed body (bad chunk encoding)
      finish_in_flight();
      if (ec == beast::error::timeout || ec == net::error::operation_aborted || ec == net::error::connection_reset ||
          ec == http::error::partial_message || ec == net::error::eof)
        return close();
      return reply_and_close(http::status::bad_request, "bad_request", fmt::format("malformed HTTP request body: {}", ec.message()));
    }
    auto req = std::make_shared<Request>(parser_->release());
    // A request that cannot block (a cached entity read) is answered here: the hop to a worker
    // and back (two queue handoffs, two thread wake-ups) costs more than the request itself.
    if (!shared_.options.no_inline_reads) {
      std::string route;
      if (auto res = shared_.api.handle_cached(*req, route)) {
        shared_.served_inline.fetch_add(1, std::memory_order_relaxed);
        return write(*req, route, std::move(*res));
      }
    }
    shared_.workers_queued.fetch_add(1);
    net::post(shared_.workers, [self = shared_from_this(), req] {
      self->shared_.workers_queued.fetch_sub(1);
      self->shared_.workers_busy.fetch_add(1);
      std::string route;
      Response res = self->shared_.api.handle(*req, route);
      self->shared_.workers_busy.fetch_sub(1);
      net::post(self->stream_.get_executor(), [self, req, route = std::move(route), res = std::move(res)]() mutable {
        self->write(*req, route, std::move(res));
      });
    });
  }

  void write(const Request& req, const std::string& route, Response res) {
    const bool keep = req.keep_alive() && !shared_.stopping.load();
    res.keep_alive(keep);
    res.set(http::field::server, "eavdb");
    res.prepare_payload();
    shared_.record(route, std::string_view(req.method_string().data(), req.method_string().size()), res.result_int(),
                   std::chrono::duration<double>(Clock::now() - started_).count(), &series_);
    auto sp = std::make_shared<Response>(std::move(res));
    stream_.expires_after(kWriteTimeout);
    http::async_write(stream_, *sp, [self = shared_from_this(), sp](beast::error_code ec, std::size_t) {
      self->finish_in_flight();
      if (ec || !sp->keep_alive()) return self->close();
      self->read_head();
    });
  }

  /// Sends a problem response from the I/O thread, then closes the connection politely (any
  /// unread request bytes are drained for a moment so the client sees the response, not a reset).
  void reply_and_close(http::status status, std::string_view code, std::string detail, int retry_after = 0) {
    const unsigned version = parser_ && parser_->is_header_done() ? parser_->get().version() : 11;
    Response res = problem(status, code, detail, version, false);
    if (retry_after > 0) res.set(http::field::retry_after, std::to_string(retry_after));
    res.set(http::field::server, "eavdb");
    res.prepare_payload();
    std::string method = parser_ && parser_->is_header_done() ? std::string(parser_->get().method_string()) : "OTHER";
    shared_.record("unmatched", method, res.result_int(), 0);
    auto sp = std::make_shared<Response>(std::move(res));
    stream_.expires_after(kWriteTimeout);
    http::async_write(stream_, *sp, [self = shared_from_this(), sp](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      self->stream_.expires_after(kLingerTimeout);
      self->drain();
    });
  }

  /// Ends the response side (FIN after everything written) and closes once the client has closed
  /// or kLingerTimeout passed, discarding what it still sends.
  void linger_close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLingerTimeout);
    drain();
  }

  void drain() {
    stream_.async_read_some(net::buffer(scratch_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      self->drain();
    });
  }

  void finish_in_flight() {
    if (busy_) {
      busy_ = false;
      shared_.in_flight.fetch_sub(1);
    }
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  Shared& shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  // A streamed request (see start_stream).
  std::optional<http::request_parser<http::buffer_body>> stream_parser_;
  std::shared_ptr<Bridge> bridge_;
  std::vector<char> piece_buf_;
  std::deque<std::string> out_queue_;
  bool writing_ = false, stream_started_ = false, stream_finishing_ = false, stream_write_failed_ = false;
  unsigned stream_status_ = 200;
  std::string stream_route_, stream_method_;
  std::array<char, 8192> scratch_{};
  bool busy_ = false;
  Clock::time_point started_;
  Shared::SeriesMemo series_;  ///< used on the connection's strand only
  // The read timeout (see arm_read_timer); strand only.
  net::steady_timer read_timer_;
  uint64_t read_gen_ = 0;  ///< numbers reads, so a late timer never cancels a newer one
  bool read_pending_ = false, read_timed_out_ = false, cancel_read_after_write_ = false;
};

bool is_loopback(const net::ip::address& a) { return a.is_loopback(); }

}  // namespace

int run(const ServerOptions& options, const std::function<void(unsigned short)>& on_listening) {
  beast::error_code ec;
  const auto address = net::ip::make_address(options.host, ec);
  if (ec) throw Error(ErrorCode::kInvalidArgument, fmt::format("--listen: '{}' is not an IP address", options.host));
  if (!is_loopback(address) && options.no_auth)
    throw Error(ErrorCode::kInvalidArgument, "--no-auth is only allowed on a loopback address (127.0.0.1 or ::1)");
  if (!is_loopback(address) && !options.allow_remote)
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("--listen: {} is not a loopback address; pass --allow-remote to listen on it", options.host));
  if (options.io_threads < 1 || options.workers < 1)
    throw Error(ErrorCode::kInvalidArgument, "--threads and --workers must be at least 1");

  monitor::Registry metrics;
  Shared shared(options, metrics);
  net::io_context ioc(options.io_threads);
  tcp::acceptor acceptor(ioc);
  const tcp::endpoint endpoint(address, options.port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) throw Error(ErrorCode::kIo, fmt::format("cannot listen on {}:{}: {}", options.host, options.port, ec.message()));
  if (on_listening) on_listening(acceptor.local_endpoint().port());

  net::steady_timer accept_backoff(ioc);
  std::function<void()> accept = [&] {
    acceptor.async_accept(net::make_strand(ioc), [&](beast::error_code aec, tcp::socket socket) {
      if (aec == net::error::operation_aborted || !acceptor.is_open()) return;
      if (aec) {  // e.g. out of file descriptors: back off instead of spinning
        accept_backoff.expires_after(std::chrono::milliseconds(50));
        accept_backoff.async_wait([&](beast::error_code) {
          if (acceptor.is_open()) accept();
        });
        return;
      }
      std::make_shared<Connection>(std::move(socket), shared)->start();
      accept();
    });
  };
  accept();

  // Graceful stop: close the acceptor and idle connections, let busy ones finish, then stop.
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  net::steady_timer drain_timer(ioc);
  const auto stop_started = std::make_shared<Clock::time_point>();
  std::function<void()> wait_drained = [&] {
    bool empty = false;
    {
      std::lock_guard lock(shared.mu);
      empty = shared.connections.empty();
    }
    if (empty || Clock::now() - *stop_started > kDrainLimit) return ioc.stop();
    drain_timer.expires_after(std::chrono::milliseconds(20));
    drain_timer.async_wait([&](beast::error_code) { wait_drained(); });
  };
  signals.async_wait([&](beast::error_code sec, int) {
    if (sec) return;
    shared.stopping.store(true);
    shared.api.set_ready(false);
    *stop_started = Clock::now();
    beast::error_code ignored;
    acceptor.close(ignored);
    accept_backoff.cancel();
    std::vector<std::shared_ptr<Connection>> live;
    {
      std::lock_guard lock(shared.mu);
      for (auto& [ptr, weak] : shared.connections)
        if (auto c = weak.lock()) live.push_back(std::move(c));
    }
    for (auto& c : live) net::post(c->strand_executor(), [c] { c->shutdown(); });
    wait_drained();
  });

  std::vector<std::thread> threads;
  for (int i = 1; i < options.io_threads; ++i) threads.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : threads) t.join();
  shared.workers.join();
  return 0;
}

}  // namespace eavdb::server
