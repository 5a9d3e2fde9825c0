// server.hpp: mud_server's process: the network runtimes (dally::web on an Executor) own
// the sockets; the calling thread becomes the game thread, which owns the Game and runs
// its fixed tick. They share only queues: an inbox of events (connects, messages,
// disconnects, login results) drained by the game thread, and each WebSocket's send queue.
#pragma once

#include "config.hpp"

#include <atomic>

namespace mud {

class MudServer {
public:
    // Loads the world, opens the database, binds the port. Throws on any setup failure
    // (WorldError, StoreError, ConfigError, std::runtime_error for the socket).
    explicit MudServer(Config config);
    ~MudServer();
    MudServer(const MudServer&) = delete;
    MudServer& operator=(const MudServer&) = delete;

    std::uint16_t port() const noexcept;
    // Runs the game on the calling thread until a graceful shutdown finished (SIGINT or
    // SIGTERM, or an admin's shutdown); every character is saved before it returns.
    void run();
    // Starts a graceful shutdown from any thread (as SIGTERM does).
    void request_shutdown() noexcept;

    struct Impl;

private:
    std::unique_ptr<Impl> m_impl;
};

}  // namespace mud
