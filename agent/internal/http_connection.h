// One connection of the HTTP server: reads requests (with the size limits and deadlines of
// HttpServerOptions), authenticates, routes and runs the handler, until the client closes, a
// deadline passes, a request is malformed, or the server stops.
#pragma once

#include <functional>

#include "agent/http_server.h"

namespace engram::agent::internal {

struct ConnectionContext {
  const HttpServerOptions* options = nullptr;
  const Router* router = nullptr;
  const TenantKeys* tenants = nullptr;  // null or empty: every request is tenant "local"
  const RequestObserver* observer = nullptr;
  // Called with true when the connection starts waiting for a next request and with false when
  // one arrives. Returns false once the server is stopping (the connection then closes).
  std::function<bool(bool idle)> set_idle;
  // Whether the server is stopping (responses then close their connection).
  std::function<bool()> stopping;
};

// Serves `fd` until the connection should close; the caller closes the descriptor. Never throws.
void ServeConnection(int fd, const ConnectionContext& context);

// "req-" and 16 random hex digits.
std::string NewRequestId();

}  // namespace engram::agent::internal
