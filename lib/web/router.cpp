#include "dally/web/router.hpp"

#include "dally/web/detail/websocket_session.hpp"
#include "web/static_files.hpp"

#include <stdexcept>

namespace dally::web {

namespace {

struct Segment {
    std::string text;
    bool param = false;
    bool rest = false;  // "{name...}": the remainder of the path
};

std::vector<Segment> parse_pattern(std::string_view pattern) {
    if (pattern.empty() || pattern.front() != '/') {
        throw std::invalid_argument("dally::web::Router: a pattern must start with '/': " + std::string(pattern));
    }
    std::vector<Segment> out;
    std::string_view rest = pattern.substr(1);
    while (true) {
        std::size_t slash = rest.find('/');
        std::string_view seg = rest.substr(0, slash);
        Segment s;
        if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
            s.param = true;
            s.text = seg.substr(1, seg.size() - 2);
            if (s.text.ends_with("...")) {
                s.text.resize(s.text.size() - 3);
                s.rest = true;
                if (slash != std::string_view::npos) {
                    throw std::invalid_argument("dally::web::Router: {name...} must be last: " + std::string(pattern));
                }
            }
            if (s.text.empty()) throw std::invalid_argument("dally::web::Router: unnamed parameter: " + std::string(pattern));
        } else {
            s.text = seg;
        }
        out.push_back(std::move(s));
        if (slash == std::string_view::npos) break;
        rest.remove_prefix(slash + 1);
    }
    return out;
}

}  // namespace

struct Router::Route {
    Method method = Method::get;
    std::vector<Segment> segments;
    Handler handler;
    std::unique_ptr<detail::WebSocketRoute> websocket;

    // Matches `path` and appends the parameters on success.
    bool matches(std::string_view path, std::vector<std::pair<std::string, std::string>>& params) const {
        std::size_t first_param = params.size();
        std::string_view rest = path.substr(1);  // the parser guarantees a leading '/'
        for (std::size_t i = 0; i < segments.size(); ++i) {
            const Segment& seg = segments[i];
            if (seg.rest) {
                params.emplace_back(seg.text, std::string(rest));
                return true;
            }
            std::size_t slash = rest.find('/');
            bool last_in_path = slash == std::string_view::npos;
            std::string_view piece = rest.substr(0, slash);
            if (seg.param) {
                if (piece.empty()) break;
                params.emplace_back(seg.text, std::string(piece));
            } else if (piece != seg.text) {
                break;
            }
            bool last_in_pattern = i + 1 == segments.size();
            if (last_in_pattern && last_in_path) return true;
            if (last_in_pattern || last_in_path) {
                // A trailing "{x...}" may match the empty remainder ("/files/" → x = "").
                if (last_in_path && i + 2 == segments.size() && segments[i + 1].rest) {
                    params.emplace_back(segments[i + 1].text, std::string());
                    return true;
                }
                break;
            }
            rest.remove_prefix(slash + 1);
        }
        params.resize(first_param);
        return false;
    }
};

Router::Router() = default;
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

Router& Router::route(Method method, std::string_view pattern, Handler handler) {
    if (!handler) throw std::invalid_argument("dally::web::Router: empty handler for " + std::string(pattern));
    auto r = std::make_unique<Route>();
    r->method = method;
    r->segments = parse_pattern(pattern);
    r->handler = std::move(handler);
    m_routes.push_back(std::move(r));
    return *this;
}

Router& Router::websocket(std::string_view pattern, WebSocketOptions options, WebSocketHandler handler) {
    if (!handler) throw std::invalid_argument("dally::web::Router: empty WebSocket handler for " + std::string(pattern));
    auto r = std::make_unique<Route>();
    r->method = Method::get;
    r->segments = parse_pattern(pattern);
    r->websocket = std::make_unique<detail::WebSocketRoute>(detail::WebSocketRoute{std::move(options), std::move(handler)});
    m_routes.push_back(std::move(r));
    return *this;
}

Router& Router::static_files(std::string_view prefix, std::filesystem::path root, StaticOptions options) {
    std::string pattern(prefix);
    if (pattern.empty() || pattern.back() != '/') pattern += '/';
    pattern += "{path...}";
    auto files = std::make_shared<detail::StaticFiles>(std::move(root), std::move(options));
    Handler h = [files](Request& req) -> Task<Response> { return files->serve(req); };
    route(Method::get, pattern, std::move(h));
    return *this;
}

Router::Match Router::match(Request& request) const {
    Match m;
    request.params.clear();
    std::string allow;
    for (const auto& r : m_routes) {
        if (!r->matches(request.path, request.params)) continue;
        // HEAD is answered by the GET route (the server drops the body).
        bool method_ok = r->method == request.method ||
                         (request.method == Method::head && r->method == Method::get && !r->websocket);
        if (method_ok) {
            if (r->websocket) {
                m.websocket = r->websocket.get();
            } else {
                m.handler = &r->handler;
            }
            m.status = 200;
            return m;
        }
        request.params.clear();
        auto add_allowed = [&allow](std::string_view name) {
            if (allow.find(name) != std::string::npos) return;
            if (!allow.empty()) allow += ", ";
            allow += name;
        };
        add_allowed(method_name(r->method));
        if (r->method == Method::get && !r->websocket) add_allowed("HEAD");  // served by the GET route
    }
    if (!allow.empty()) {
        m.status = 405;
        m.allow = std::move(allow);
    }
    return m;
}

}  // namespace dally::web
