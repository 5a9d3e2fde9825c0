// api.cpp: the routes of docs/build-runner-api.md. Each handler checks the token, parses
// what it needs, and runs the rest on the runner's runtime (on_runner), where the Runner,
// its store and its event hub's publishers live; the response is built there and answered
// from the connection's own runtime.
#include "api.hpp"

#include "views.hpp"

#include <dally/sync.hpp>
#include <dally/web/json.hpp>

#include <fcntl.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include <fmt/format.h>
#include <simdjson.h>

#include <charconv>
#include <exception>
#include <fstream>
#include <optional>
#include <set>
#include <variant>

namespace br {

namespace web = dally::web;
using web::Request;
using web::Response;

namespace {

// Runs `fn` (which returns a Response) on `rt`, then resumes on the caller's runtime. A
// RequestError becomes its status with {"error", "field"}; anything else is a 500.
// `fn` is taken by reference (a named lambda in the caller's frame): GCC 12 destroys a
// temporary lambda passed by value to a coroutine inside co_await twice.
template <class F>
dally::Task<Response> on_runner(dally::Runtime& rt, F& fn) {
    dally::Runtime* home = dally::Runtime::current();
    co_await dally::resume_on(rt);
    Response out;
    try {
        out = fn();
    } catch (const RequestError& e) {
        std::string body = fmt::format(R"({{"error":{})", web::json_str{e.what()});
        if (!e.field.empty()) body += fmt::format(R"(,"field":{})", web::json_str{e.field});
        body += '}';
        out = Response::json(e.status, std::move(body));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "build_runner: internal error: %s\n", e.what());
        out = Response::error(500, "internal error; see the server's log");
    }
    co_await dally::resume_on(*home);
    co_return out;
}

Response field_error(std::string_view field, std::string_view message) {
    return Response::json(400, fmt::format(R"({{"error":{},"field":{}}})", web::json_str{message}, web::json_str{field}));
}

std::optional<std::int64_t> parse_id(std::string_view s) {
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || v <= 0) return std::nullopt;
    return v;
}

// The last `max` bytes of a file (the whole file when smaller).
std::string read_tail(const std::filesystem::path& path, std::size_t max) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return {};
    f.seekg(0, std::ios::end);
    auto size = static_cast<std::size_t>(std::max<std::streamoff>(0, f.tellg()));
    std::size_t from = size > max ? size - max : 0;
    f.seekg(static_cast<std::streamoff>(from));
    std::string out(size - from, '\0');
    f.read(out.data(), static_cast<std::streamsize>(out.size()));
    out.resize(static_cast<std::size_t>(f.gcount()));
    return out;
}

// Parses POST /api/packages. Strict: unknown fields and wrong types are errors naming the field.
std::variant<Submission, Response> parse_submission(Request& req) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (auto err = parser.parse(req.body.data(), req.body.size()).get(root)) {
        return Response::error(400, fmt::format("malformed JSON: {}", simdjson::error_message(err)));
    }
    simdjson::dom::object obj;
    if (root.get_object().get(obj)) return Response::error(400, "the body must be a JSON object");
    Submission s;
    bool have_name = false;
    bool have_url = false;
    for (auto field : obj) {
        std::string_view key = field.key;
        if (key == "name" || key == "repo_url" || key == "ref") {
            std::string_view v;
            if (field.value.get_string().get(v)) return field_error(key, fmt::format("{} must be a string", key));
            (key == "name" ? s.name : key == "repo_url" ? s.repo_url : s.ref) = std::string(v);
            if (key == "name") have_name = true;
            if (key == "repo_url") have_url = true;
        } else if (key == "priority") {
            std::int64_t p = 0;
            if (field.value.get_int64().get(p)) return field_error(key, "priority must be an integer");
            if (p < -100 || p > 100) return field_error(key, "priority must be between -100 and 100");
            s.priority = static_cast<int>(p);
        } else if (key == "toolchains") {
            simdjson::dom::array arr;
            if (field.value.get_array().get(arr)) return field_error(key, "toolchains must be an array of names");
            for (auto t : arr) {
                std::string_view v;
                if (t.get_string().get(v)) return field_error(key, "toolchains must be an array of names");
                s.toolchains.emplace_back(v);
            }
        } else {
            return field_error(key, fmt::format("unknown field '{}'", key));
        }
    }
    if (!have_name) return field_error("name", "name is required");
    if (!have_url) return field_error("repo_url", "repo_url is required");
    return s;
}

// Removes a hub subscription when a stream or socket ends (id 0: none was made).
struct Unsubscribe {
    EventHub* hub;
    std::uint64_t id;
    ~Unsubscribe() {
        if (id != 0) hub->remove(id);
    }
};

std::string metric_line(std::string_view name, std::string_view labels, std::uint64_t v) {
    return labels.empty() ? fmt::format("{} {}\n", name, v) : fmt::format("{}{{{}}} {}\n", name, labels, v);
}

}  // namespace

Api::Api(Runner& runner, EventHub& hub, ApiOptions options)
    : m_runner(runner), m_hub(hub), m_options(std::move(options)) {}

struct Api::Impl {
    // True if the request carries the token (Authorization: Bearer, or ?token= where
    // headers cannot be set: WebSocket and EventSource in browsers).
    static bool authorized(const Api& api, const Request& req) {
        std::string_view given;
        std::optional<std::string> from_query;
        if (auto h = req.header("Authorization"); h && h->size() > 7 && web::iequals(h->substr(0, 7), "Bearer ")) {
            given = web::trim_ows(h->substr(7));
        } else if ((from_query = req.query_param("token"))) {
            given = *from_query;
        }
        const std::string& want = api.m_options.token;
        return !want.empty() && given.size() == want.size() && CRYPTO_memcmp(given.data(), want.data(), want.size()) == 0;
    }
    static std::optional<Response> deny(const Api& api, const Request& req, bool write) {
        if ((!write && api.m_options.public_read) || authorized(api, req)) return std::nullopt;
        Response r = Response::error(401, write ? "this endpoint needs the API token: Authorization: Bearer <token>"
                                                : "reading needs the API token on this server");
        r.header("WWW-Authenticate", "Bearer");
        return r;
    }

    static dally::Task<Response> log_stream(Api& api, std::int64_t id, bool follow);
    static dally::Task<Response> event_stream(Api& api, std::int64_t package_id);
    static dally::Task<void> websocket(Api& api, std::shared_ptr<web::WebSocket> ws);
};

void Api::add_routes(web::Router& router) {
    auto count = [this] { m_requests.fetch_add(1, std::memory_order_relaxed); };

    router.post("/api/packages", [this, count](Request& req) -> dally::Task<Response> {
        count();
        if (auto d = Impl::deny(*this, req, true)) co_return std::move(*d);
        auto parsed = parse_submission(req);
        if (auto* r = std::get_if<Response>(&parsed)) co_return std::move(*r);
        Submission s = std::move(std::get<Submission>(parsed));
        auto work = [this, &s] {
            std::vector<BuildRecord> builds;
            PackageRecord p = m_runner.submit(s, builds);
            return Response::json(202, package_json(p, builds, true));
        };
        co_return co_await on_runner(rt(), work);
    });
    router.get("/api/packages", [this, count](Request& req) -> dally::Task<Response> {
        count();
        if (auto d = Impl::deny(*this, req, false)) co_return std::move(*d);
        std::size_t limit = 50;
        std::size_t offset = 0;
        if (auto l = req.query_param("limit")) {
            auto v = parse_id(*l);
            if (!v || *v > 1000) co_return field_error("limit", "limit must be 1..1000");
            limit = static_cast<std::size_t>(*v);
        }
        if (auto o = req.query_param("offset")) {
            std::int64_t v = 0;
            auto [p, ec] = std::from_chars(o->data(), o->data() + o->size(), v);
            if (ec != std::errc() || p != o->data() + o->size() || v < 0) co_return field_error("offset", "offset must be >= 0");
            offset = static_cast<std::size_t>(v);
        }
        auto work = [this, limit, offset] {
            std::string body = "{\"packages\":[";
            bool first = true;
            for (const PackageRecord& p : m_runner.store().packages(limit, offset)) {
                if (!first) body += ',';
                first = false;
                body += package_json(p, m_runner.builds_of(p.id));
            }
            body += "]}";
            return Response::json(200, std::move(body));
        };
        co_return co_await on_runner(rt(), work);
    });
    router.get("/api/packages/{id}", [this, count](Request& req) -> dally::Task<Response> {
        count();
        if (auto d = Impl::deny(*this, req, false)) co_return std::move(*d);
        auto id = parse_id(req.param("id"));
        if (!id) co_return Response::error(404, "no such package");
        auto work = [this, id = *id] {
            auto p = m_runner.store().package(id);
            if (!p) throw RequestError(404, fmt::format("no package {}", id));
            return Response::json(200, package_json(*p, m_runner.builds_of(id)));
        };
        co_return co_await on_runner(rt(), work);
    });
    router.get("/api/builds/{id}", [this, count](Request& req) -> dally::Task<Response> {
        count();
        if (auto d = Impl::deny(*this, req, false)) co_return std::move(*d);
        auto id = parse_id(req.param("id"));
        if (!id) co_return Response::error(404, "no such build");
        auto work = [this, id = *id] {
            auto b = m_runner.build(id);
            if (!b) throw RequestError(404, fmt::format("no build {}", id));
            return Response::json(200, build_json(*b));
        };
        co_return co_await on_runner(rt(), work);
    });
    router.get("/api/builds/{id}/log", [this, count](Request& req) -> dally::Task<Response> {
        count();
        if (auto d = Impl::deny(*this, req, false)) co_return std::move(*d);
        auto id = parse_id(req.param("id"));
        if (!id) co_return Response::error(404, "no such build");
        bool follow = req.query_param("follow").value_or("1") != "0";
        co_return co_await Impl::log_stream(*this, *id, follow);
    });
    router.post("/api/builds/{id}/cancel", [this, count](Request& req) -> dally::Task<Response> {
        count();
        if (auto d = Impl::deny(*this, req, true)) co_return std::move(*d);
        auto id = parse_id(req.param("id"));
        if (!id) co_return Response::error(404, "no such build");
        auto work = [this, id = *id] {
            if (m_runner.cancel(id)) return Response::json(200, build_json(*m_runner.build(id)));
            return Response::json(202, fmt::format(R"({{"id":{},"cancelling":true}})", id));
        };
        co_return co_await on_runner(rt(), work);
    });
    router.post("/api/builds/{id}/retry", [this, count](Request& req) -> dally::Task<Response> {
        count();
        if (auto d = Impl::deny(*this, req, true)) co_return std::move(*d);
        auto id = parse_id(req.param("id"));
        if (!id) co_return Response::error(404, "no such build");
        auto work = [this, id = *id] {
            return Response::json(202, build_json(m_runner.retry(id)));
        };
        co_return co_await on_runner(rt(), work);
    });
    router.get("/api/toolchains", [this, count](Request& req) -> dally::Task<Response> {
        count();
        if (auto d = Impl::deny(*this, req, false)) co_return std::move(*d);
        const Enforcement& e = m_options.enforcement;
        std::string enforced;
        for (const std::string& s : e.enforced) {
            if (!enforced.empty()) enforced += ',';
            web::append_json_string(enforced, s);
        }
        std::string settings;
        for (const auto& [key, value] : e.settings) {
            if (!settings.empty()) settings += ',';
            web::append_json_string(settings, key);
            settings += ':';
            web::append_json_string(settings, value);
        }
        std::string toolchains;
        for (const Toolchain& t : m_runner.toolchains()) {
            if (!toolchains.empty()) toolchains += ',';
            toolchains += toolchain_json(t);
        }
        co_return Response::json(
            200, fmt::format(R"({{"executor":{},"executor_settings":{{{}}},"sandbox":{},"cgroup":{},"enforced":[{}],"note":{},)"
                                 R"("concurrency":{},"toolchains":[{}]}})",
                             web::json_str{e.executor}, settings, e.sandbox, web::json_str{e.cgroup}, enforced,
                             web::json_str{e.note}, m_runner.options().concurrency, toolchains));
    });
    router.get("/api/queue", [this, count](Request& req) -> dally::Task<Response> {
        count();
        if (auto d = Impl::deny(*this, req, false)) co_return std::move(*d);
        auto work = [this] {
            auto list = [](const std::vector<BuildRecord>& v) {
                std::string out;
                for (const BuildRecord& b : v) {
                    if (!out.empty()) out += ',';
                    out += build_json(b);
                }
                return out;
            };
            return Response::json(200, fmt::format(R"({{"concurrency":{},"running":[{}],"queued":[{}]}})",
                                                   m_runner.options().concurrency, list(m_runner.running()),
                                                   list(m_runner.queued())));
        };
        co_return co_await on_runner(rt(), work);
    });
    router.get("/badge/{file}", [this, count](Request& req) -> dally::Task<Response> {
        count();
        if (auto d = Impl::deny(*this, req, false)) co_return std::move(*d);
        std::string_view file = req.param("file");
        if (file.size() < 5 || file.substr(file.size() - 4) != ".svg") co_return Response::error(404, "badges are /badge/<package>.svg");
        std::string name(file.substr(0, file.size() - 4));
        auto work = [this, name] {
            std::string status = m_runner.badge_status(name);
            return Response::text(200, badge_svg(status), "image/svg+xml").header("Cache-Control", "no-cache");
        };
        co_return co_await on_runner(rt(), work);
    });
    router.websocket("/api/events", {.max_message_bytes = 4096, .max_queued_bytes = 8u << 20},
                     [this, count](std::shared_ptr<web::WebSocket> ws, Request& req) -> dally::Task<void> {
                         count();
                         if (Impl::deny(*this, req, false)) {
                             ws->close(4401, "this server needs the API token (?token=)");
                             co_return;
                         }
                         co_await Impl::websocket(*this, std::move(ws));
                     });
    router.get("/api/events/stream", [this, count](Request& req) -> dally::Task<Response> {
        count();
        if (auto d = Impl::deny(*this, req, false)) co_return std::move(*d);
        auto pkg = req.query_param("package");
        auto id = pkg ? parse_id(*pkg) : std::nullopt;
        if (!id) co_return field_error("package", "?package=<id> is required");
        co_return co_await Impl::event_stream(*this, *id);
    });
    router.get("/healthz", [count](Request&) -> dally::Task<Response> {
        count();
        co_return Response::text(200, "ok\n");
    });
    router.get("/metrics", [this, count](Request&) -> dally::Task<Response> {
        count();
        auto work = [this] {
            RunnerStats s = m_runner.stats();
            std::vector<std::int64_t> by_state = m_runner.store().count_by_state();
            std::string out = "# TYPE br_builds gauge\n";
            for (std::size_t i = 0; i < by_state.size(); ++i) {
                out += metric_line("br_builds", fmt::format("state=\"{}\"", to_string(static_cast<BuildState>(i))),
                                   static_cast<std::uint64_t>(by_state[i]));
            }
            out += "# TYPE br_running gauge\n" + metric_line("br_running", "", s.running);
            out += "# TYPE br_queued gauge\n" + metric_line("br_queued", "", s.queued);
            out += "# TYPE br_submissions_total counter\n" + metric_line("br_submissions_total", "", s.submissions_total);
            out += "# TYPE br_builds_finished_total counter\n";
            for (int i = 0; i < 9; ++i) {
                out += metric_line("br_builds_finished_total",
                                   fmt::format("state=\"{}\"", to_string(static_cast<BuildState>(i))),
                                   s.finished_total[i]);
            }
            out += "# TYPE br_event_subscribers gauge\n" + metric_line("br_event_subscribers", "", m_hub.size());
            out += "# TYPE br_http_requests_total counter\n" + metric_line("br_http_requests_total", "", requests());
            if (m_server) {
                web::ServerStats hs = m_server->stats();
                out += "# TYPE br_http_connections_open gauge\n" +
                       metric_line("br_http_connections_open", "", hs.connections_open);
                out += "# TYPE br_http_rejected_total counter\n" + metric_line("br_http_rejected_total", "", hs.rejected_total);
            }
            return Response::text(200, std::move(out), "text/plain; version=0.0.4");
        };
        co_return co_await on_runner(rt(), work);
    });
    if (!m_options.www_dir.empty()) router.static_files("/", m_options.www_dir);
}

// GET /api/builds/{id}/log: the file so far, then (while the build runs) every new piece
// until it finishes. The replay and the subscription are taken together on the runner's
// runtime, where the log grows, so nothing is missed or repeated.
dally::Task<Response> Api::Impl::log_stream(Api& api, std::int64_t id, bool follow) {
    struct Start {
        bool exists = false;
        bool active = false;
        std::string head;
        std::uint64_t sub = 0;
        std::shared_ptr<dally::Channel<std::string>> live;
    };
    auto start = std::make_shared<Start>();
    auto work = [&api, id, follow, start] {
        auto b = api.m_runner.build(id);
        if (!b) throw RequestError(404, fmt::format("no build {}", id));
        start->exists = true;
        start->head = read_tail(api.m_runner.log_path(id), std::size_t(1) << 30);
        start->active = follow && api.m_runner.is_active(id);
        if (start->active) {
            // The channel closes when the build finishes. A reader that falls 4096 pieces
            // behind is cut off (the sink refuses), and its stream ends.
            auto ch = std::make_shared<dally::Channel<std::string>>(4096);
            start->live = ch;
            start->sub = api.m_hub.add(
                [ch, id](const EventHub::Delivery& d) {
                    if (d.build_id != id) return true;
                    if (d.type == "log") return ch->try_send(std::string(d.raw)).ok();
                    if (d.type == "finished") {
                        ch->close();
                        return false;
                    }
                    return true;
                },
                EventHub::Filter{.all_events = false, .package_id = b->package_id, .package_logs = false});
            api.m_hub.subscribe_log(start->sub, id);
        }
        return Response(200);
    };
    Response err = co_await on_runner(api.rt(), work);
    if (!start->exists) co_return err;
    if (!start->active) co_return Response::text(200, std::move(start->head));
    EventHub* hub = &api.m_hub;
    co_return Response::stream("text/plain; charset=utf-8", [start, hub](web::BodyWriter& out) -> dally::Task<void> {
        Unsubscribe unsub{hub, start->sub};
        if (!start->head.empty() && !(co_await out.write(start->head))) co_return;
        start->head = std::string();
        for (;;) {
            auto piece = co_await start->live->recv();
            if (!piece) co_return;
            if (!(co_await out.write(*piece))) co_return;
        }
    });
}

// GET /api/events/stream?package=ID: the package's messages as Server-Sent Events, until
// every build of it has finished.
dally::Task<Response> Api::Impl::event_stream(Api& api, std::int64_t package_id) {
    struct Item {
        std::string type;
        std::string json;
        std::int64_t build_id = 0;
    };
    struct Start {
        std::set<std::int64_t> unfinished;
        std::string snapshot;  // the package as it is now
        std::uint64_t sub = 0;
        std::shared_ptr<dally::Channel<Item>> live;
    };
    auto start = std::make_shared<Start>();
    auto ch = std::make_shared<dally::Channel<Item>>(8192);
    start->live = ch;
    auto work = [&api, package_id, start, ch] {
        auto p = api.m_runner.store().package(package_id);
        if (!p) throw RequestError(404, fmt::format("no package {}", package_id));
        std::vector<BuildRecord> builds = api.m_runner.builds_of(package_id);
        for (const BuildRecord& b : builds) {
            if (!is_terminal(b.state)) start->unfinished.insert(b.id);
        }
        start->snapshot = package_event(*p, builds);
        if (!start->unfinished.empty()) {
            start->sub = api.m_hub.add(
                [ch](const EventHub::Delivery& d) {
                    if (d.build_id == 0) return true;  // the package's own `submitted`: already in the snapshot
                    return ch->try_send(Item{std::string(d.type), d.json, d.build_id}).ok();
                },
                EventHub::Filter{.all_events = false, .package_id = package_id, .package_logs = true});
        }
        return Response(200);
    };
    Response err = co_await on_runner(api.rt(), work);
    if (start->snapshot.empty()) co_return err;
    EventHub* hub = &api.m_hub;
    co_return Response::events([start, hub](web::EventStream& out) -> dally::Task<void> {
        Unsubscribe unsub{hub, start->sub};
        if (!(co_await out.send(start->snapshot, "submitted"))) co_return;
        while (!start->unfinished.empty()) {
            auto item = co_await start->live->recv();
            if (!item) co_return;
            if (item->type == "finished") start->unfinished.erase(item->build_id);
            if (!(co_await out.send(item->json, item->type))) co_return;
        }
    });
}

// WebSocket /api/events: every state message, plus the log of builds the client subscribes to.
dally::Task<void> Api::Impl::websocket(Api& api, std::shared_ptr<web::WebSocket> ws) {
    std::uint64_t sub = api.m_hub.add([ws](const EventHub::Delivery& d) { return ws->send_text(d.json); },
                                      EventHub::Filter{});
    Unsubscribe unsub{&api.m_hub, sub};
    simdjson::dom::parser parser;
    for (;;) {
        auto msg = co_await ws->receive();
        if (!msg) co_return;
        simdjson::dom::element root;
        std::string_view type;
        std::int64_t build = 0;
        if (parser.parse(msg->data).get(root) || root["type"].get_string().get(type) ||
            root["build"].get_int64().get(build) || (type != "subscribe" && type != "unsubscribe")) {
            ws->send_text(R"({"type":"error","error":"expected {\"type\":\"subscribe\"|\"unsubscribe\",\"build\":<id>}"})");
            continue;
        }
        bool subscribe = type == "subscribe";
        auto work = [&api, ws, sub, build, subscribe] {
            if (!subscribe) {
                api.m_hub.unsubscribe_log(sub, build);
                return Response(200);
            }
            // The replay and the subscription happen together here, where the log grows.
            std::string tail = read_tail(api.m_runner.log_path(build), 256u << 10);
            ws->send_text(log_message(build, tail, true));
            api.m_hub.subscribe_log(sub, build);
            return Response(200);
        };
        (void)co_await on_runner(api.rt(), work);
    }
}

}  // namespace br
