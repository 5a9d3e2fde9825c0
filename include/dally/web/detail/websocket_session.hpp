// The seam between the HTTP server and the WebSocket session. Internal.
//
// check_handshake() is pure (bytes in, values out) so tests and the fuzzer drive it
// directly; run_websocket() owns the connection after the 101 response went out.
#pragma once

#include "dally/net.hpp"
#include "dally/task.hpp"
#include "dally/web/http.hpp"
#include "dally/web/websocket.hpp"

#include <memory>
#include <string>
#include <string_view>

namespace dally::web::detail {

struct WebSocketRoute {
    WebSocketOptions options;
    WebSocketHandler handler;
};

struct Handshake {
    bool ok = false;
    // On success: the whole "HTTP/1.1 101 Switching Protocols" response to write.
    std::string response;
    std::string subprotocol;
    // On failure: the response to send before closing (400, 403, 426 with
    // Sec-WebSocket-Version: 13).
    Response reject;
};

// Validates an upgrade request per RFC 6455 section 4.2.1 against `options`.
Handshake check_handshake(const Request& request, const WebSocketOptions& options);

// Computes Sec-WebSocket-Accept for a client key (SHA-1 + base64, from libcrypto).
std::string accept_key(std::string_view client_key);

// Runs a session on the current runtime after the 101 response was written. `leftover`
// holds bytes the HTTP layer read past the request head. `*out` is set to the session's
// WebSocket as soon as it exists (so the server can close it on shutdown) and reset
// before return. Returns when the connection is finished; the caller closes `stream`.
Task<void> run_websocket(TcpStream& stream, std::string leftover, Request& request, const WebSocketRoute& route,
                         std::string subprotocol, std::shared_ptr<WebSocket>* out);

}  // namespace dally::web::detail
