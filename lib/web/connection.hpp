// The per-runtime and per-connection state of web::Server. Internal to dally::web.
#pragma once

#include "dally/cancel.hpp"
#include "dally/net.hpp"
#include "dally/runtime.hpp"
#include "dally/sync.hpp"
#include "dally/task.hpp"
#include "dally/time.hpp"
#include "dally/web/server.hpp"
#include "dally/web/websocket.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

namespace dally::web::detail {

struct ServerShared;

// One connection, linked into its runtime's list while it lives. Runtime thread only.
struct ConnEntry {
    ConnEntry* prev = nullptr;
    ConnEntry* next = nullptr;
    int fd = -1;
    bool idle = true;                   // waiting for the first byte of a request
    bool writing = false;               // the pending operation is a send
    bool expired = false;               // the sweeper found the deadline passed
    Clock::time_point deadline = Clock::time_point::max();  // of the pending operation
    std::shared_ptr<WebSocket> socket;  // set while the connection is a WebSocket
};

// What one serve() call owns: its runtime's connections.
struct ServeState {
    explicit ServeState(ServerShared& s, Runtime& r) : shared(s), rt(r) {}
    ServerShared& shared;
    Runtime& rt;
    ConnEntry head;  // sentinel of a circular list
    std::size_t count = 0;
    Event all_closed{true};
    CancelSource cancel;  // cancels every connection's I/O (after the shutdown grace)
    bool draining = false;

    void link(ConnEntry& e) noexcept;
    void unlink(ConnEntry& e) noexcept;
    // Closes idle connections and WebSockets; busy ones close after their response.
    void drain() noexcept;
    // Expires the connections whose pending operation is past its deadline: a read gets
    // its socket's read side shut (the recv completes with 0), a write both sides.
    void sweep(Clock::time_point now) noexcept;
};

struct ServerShared {
    ServerShared(Router r, ServerOptions o) : router(std::move(r)), options(std::move(o)) {}
    Router router;
    ServerOptions options;

    std::mutex mutex;
    TcpListener first;  // bound by listen(), taken by the first serve()
    bool first_taken = false;
    Address address;
    std::vector<std::shared_ptr<ServeState>> serving;

    std::atomic<bool> stopping{false};
    CancelSource accept_cancel;
    std::atomic<std::uint64_t> open{0};
    std::atomic<std::uint64_t> total{0};
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> rejected{0};
    std::atomic<std::uint64_t> websockets{0};
};

// Serves one accepted connection until it closes.
Task<void> serve_connection(std::shared_ptr<ServeState> state, TcpStream stream);
// Answers 503 and closes (over the connection limit).
Task<void> refuse_connection(TcpStream stream, std::string response);

}  // namespace dally::web::detail
