// dally/web/router.hpp: maps method + path to handlers, WebSocket endpoints and static files.
//
// Patterns are literal segments and `{name}` parameters (one segment each); a final
// `{name...}` takes the rest of the path. Routes are tried in the order they were added.
// A path that matches with another method gets 405 with an Allow header; no match, 404.
//
//     web::Router router;
//     router.get("/api/builds/{id}", get_build)
//           .post("/api/builds/{id}/cancel", cancel_build)
//           .websocket("/ws", {.allowed_origins = {"http://127.0.0.1:4000"}}, session)
//           .static_files("/", "/usr/share/mud/web");
#pragma once

#include "dally/task.hpp"
#include "dally/web/http.hpp"
#include "dally/web/websocket.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dally::web {

namespace detail {
struct WebSocketRoute;
}

// Handlers run on the connection's runtime; the Request stays valid until they return.
using Handler = std::function<Task<Response>(Request&)>;

struct StaticOptions {
    // Served for a request of a directory ("/" → "/index.html"); "" disables.
    std::string index = "index.html";
    // Cache-Control max-age; responses always carry an ETag and honour If-None-Match.
    std::chrono::seconds max_age{0};
    // Files up to this size are read into memory; larger ones are streamed in chunks.
    std::size_t buffer_limit = 1u << 20;
};

class Router {
public:
    Router();
    ~Router();
    Router(Router&&) noexcept;
    Router& operator=(Router&&) noexcept;

    Router& route(Method method, std::string_view pattern, Handler handler);
    Router& get(std::string_view pattern, Handler h) { return route(Method::get, pattern, std::move(h)); }
    Router& post(std::string_view pattern, Handler h) { return route(Method::post, pattern, std::move(h)); }
    Router& put(std::string_view pattern, Handler h) { return route(Method::put, pattern, std::move(h)); }
    Router& del(std::string_view pattern, Handler h) { return route(Method::del, pattern, std::move(h)); }
    // A WebSocket endpoint (GET with Upgrade); a plain GET of the path gets 426.
    Router& websocket(std::string_view pattern, WebSocketOptions options, WebSocketHandler handler);
    // Serves files below `root` under the URL `prefix` (GET and HEAD). Paths that leave the
    // root — "..", encoded forms, symlinks pointing outside — get 404.
    Router& static_files(std::string_view prefix, std::filesystem::path root, StaticOptions options = {});

    struct Match {
        const Handler* handler = nullptr;                   // set for plain routes
        const detail::WebSocketRoute* websocket = nullptr;  // set for WebSocket routes
        int status = 404;                                   // 404 or 405 when nothing matched
        std::string allow;                                  // for 405: the allowed methods
    };
    // Finds the route for `request` and fills request.params. Thread-safe (const).
    Match match(Request& request) const;

private:
    struct Route;
    std::vector<std::unique_ptr<Route>> m_routes;
};

}  // namespace dally::web
