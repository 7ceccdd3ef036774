// eavdb::server — the HTTP/1.1 server behind `eavdb serve` (Boost.Beast on Asio).
//
// I/O threads run one io_context: accept, read request heads and bodies with timeouts, write
// responses, keep connections alive. Each complete request is handed to a worker pool, where
// Api::handle does the blocking database work; the response is posted back to the connection's
// strand. Limits enforced here: request head size (431), body size (413), requests in flight
// (503 + Retry-After), head/body read timeouts (the connection is closed). SIGINT/SIGTERM stop
// the server gracefully: stop accepting, close idle connections, finish in-flight requests, return.
#pragma once

#include <functional>
#include <memory>

#include "server/api.h"

namespace eavdb::server {

/// Runs the server until SIGINT or SIGTERM; returns 0 after a graceful stop. `on_listening`
/// (optional) is called with the bound port once the socket listens (port 0 → a free port).
/// Throws Error(kInvalidArgument) for a non-loopback address without allow_remote (or with
/// no_auth), Error(kIo) when the address cannot be bound, and the Api's errors.
int run(const ServerOptions& options, const std::function<void(unsigned short)>& on_listening = {});

}  // namespace eavdb::server
