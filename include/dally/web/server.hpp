// dally/web/server.hpp: the HTTP/1.1 server of dally::web.
//
// One Server serves a Router on one port from every runtime that calls serve(): each
// runtime accepts on its own SO_REUSEPORT listener, so the kernel spreads connections over
// all of them and a connection stays on the runtime that accepted it. Keep-alive,
// pipelining, chunked and Content-Length bodies, Expect: 100-continue, and limits that
// answer with a status (400, 413, 414, 431, 503) instead of failing the server.
//
//     web::Server server(std::move(router), {.idle_timeout = 30s});
//     server.listen(dally::Address::loopback_v4(8080)).value();
//     dally::Executor ex({.threading = dally::Threading::all()});
//     ex.run([&](dally::Runtime&) { return server.serve(); });   // until server.shutdown()
#pragma once

#include "dally/net.hpp"
#include "dally/result.hpp"
#include "dally/task.hpp"
#include "dally/web/router.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace dally::web {

struct ServerOptions {
    // Request line plus headers; more gets 431.
    std::size_t max_header_bytes = 16u << 10;
    // Header fields per request; more gets 431.
    std::size_t max_headers = 100;
    // Request target length; longer gets 414.
    std::size_t max_uri_bytes = 8u << 10;
    // Request body (after de-chunking); larger gets 413 (before reading it when
    // Content-Length says so).
    std::size_t max_body_bytes = 1u << 20;
    // Open connections across all runtimes; beyond it a new connection gets 503 and is closed.
    std::size_t max_connections = 10'000;
    // The request head must arrive within this time of its first byte (slowloris); else 408.
    std::chrono::milliseconds header_timeout{10'000};
    // The body must arrive within this time after the head; else 408.
    std::chrono::milliseconds body_timeout{60'000};
    // A keep-alive connection with no request in flight is closed after this long.
    std::chrono::milliseconds idle_timeout{60'000};
    // One response (or one chunk of a streamed one) must be written within this time.
    std::chrono::milliseconds write_timeout{30'000};
    // After an error response (413, 431, 400...), the server half-closes and reads and
    // discards what the client still sends (say, the rest of a body over the limit) until
    // the client closes or this much time has passed. Closing with unread bytes would reset
    // the connection, and the client could lose the response.
    std::chrono::milliseconds linger_timeout{2'000};
    // On shutdown(), requests in flight get this long to finish before they are cancelled.
    std::chrono::milliseconds shutdown_grace{5'000};
    // The Server header ("" omits it).
    std::string server_name = "dally";
    // Listen backlog.
    int backlog = 1024;
};

// Counters, readable from any thread.
struct ServerStats {
    std::uint64_t connections_open = 0;
    std::uint64_t connections_total = 0;
    std::uint64_t requests_total = 0;
    std::uint64_t rejected_total = 0;  // 4xx/5xx produced by the server's limits
    std::uint64_t websockets_open = 0;
};

class Server {
public:
    explicit Server(Router router, ServerOptions options = {});
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds `addr` (port 0 picks a free port). Call once, before serve().
    Result<void> listen(const Address& addr);
    // The bound port (after listen()).
    std::uint16_t port() const noexcept;

    // Accepts and serves connections on the calling runtime until shutdown() or until the
    // task is cancelled (e.g. Executor::stop()). Call once per runtime; returns when the
    // runtime's connections are finished.
    Task<void> serve();

    // Graceful stop, from any thread: stops accepting, closes idle keep-alive connections,
    // lets requests in flight finish (up to shutdown_grace, then cancels them), and closes
    // WebSockets with 1001. Idempotent.
    void shutdown() noexcept;

    ServerStats stats() const noexcept;
    const ServerOptions& options() const noexcept;

private:
    struct State;
    std::unique_ptr<State> m_state;
};

}  // namespace dally::web
