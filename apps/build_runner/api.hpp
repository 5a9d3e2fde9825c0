// api.hpp: the HTTP API, WebSocket and dashboard routes of build_runner
// (docs/build-runner-api.md). Handlers only parse, check the token and call the Runner on
// its runtime; they hop back to the connection's runtime to answer.
#pragma once

#include "events.hpp"
#include "runner.hpp"

#include <dally/runtime.hpp>
#include <dally/web/router.hpp>
#include <dally/web/server.hpp>

#include <atomic>
#include <filesystem>
#include <functional>
#include <string>

namespace br {

struct ApiOptions {
    std::string token;            // bearer token for writes (and reads unless public_read)
    bool public_read = true;
    std::filesystem::path www_dir;  // the dashboard's files
    Enforcement enforcement;        // reported by GET /api/toolchains
    std::size_t max_body_bytes = 64u << 10;
};

class Api {
public:
    // `runner_runtime` is where the Runner lives; set it (attach) before serving.
    Api(Runner& runner, EventHub& hub, ApiOptions options);
    void attach(dally::Runtime& runner_runtime) noexcept { m_rt_ptr = &runner_runtime; }
    // Adds every route to `router`. The Api must outlive the server.
    void add_routes(dally::web::Router& router);
    // For /metrics: the HTTP server's counters.
    void set_server(const dally::web::Server* server) noexcept { m_server = server; }
    // Requests answered (any thread).
    std::uint64_t requests() const noexcept { return m_requests.load(std::memory_order_relaxed); }

private:
    struct Impl;
    Runner& m_runner;
    EventHub& m_hub;
    dally::Runtime* m_rt_ptr = nullptr;
    dally::Runtime& rt() const noexcept { return *m_rt_ptr; }
    ApiOptions m_options;
    const dally::web::Server* m_server = nullptr;
    std::atomic<std::uint64_t> m_requests{0};
};

}  // namespace br
