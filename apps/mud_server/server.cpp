#include "server.hpp"

#include "protocol.hpp"
#include "services.hpp"

#include <dally/dally.hpp>
#include <dally/web/server.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <variant>

namespace mud {

namespace {

using namespace std::chrono_literals;

struct Connected {
    SessionId id;
    std::shared_ptr<dally::web::WebSocket> ws;
    std::string ip;
};
struct Received {
    SessionId id;
    std::string data;
};
struct Disconnected {
    SessionId id;
};
struct ShutdownRequest {
    std::chrono::seconds delay;
};
using Event = std::variant<Connected, Received, Disconnected, LoginResult, CreateResult, ShutdownRequest>;

// The game thread's inbox: many producers (runtimes, workers), one consumer.
class Inbox {
public:
    void push(Event e) {
        {
            std::lock_guard lock(m_mutex);
            m_events.push_back(std::move(e));
        }
        m_cv.notify_one();
    }
    // Waits until an event arrives or `deadline`, then takes everything queued.
    void take(std::vector<Event>& out, TimePoint deadline) {
        std::unique_lock lock(m_mutex);
        m_cv.wait_until(lock, deadline, [&] { return !m_events.empty(); });
        out.swap(m_events);
    }

private:
    std::mutex m_mutex;
    std::condition_variable m_cv;
    std::vector<Event> m_events;
};

// Rolling window of tick durations for /metrics.
class TickStats {
public:
    void add(std::chrono::nanoseconds d) {
        std::lock_guard lock(m_mutex);
        m_window[m_next++ % m_window.size()] = d.count();
        m_count = std::min(m_count + 1, m_window.size());
        m_max = std::max(m_max, d.count());
    }
    // {p50, p99, max} in seconds over the last 1024 ticks.
    std::array<double, 3> quantiles() {
        std::vector<std::int64_t> v;
        std::int64_t max;
        {
            std::lock_guard lock(m_mutex);
            v.assign(m_window.begin(), m_window.begin() + static_cast<std::ptrdiff_t>(m_count));
            max = m_max;
        }
        if (v.empty()) return {0, 0, 0};
        std::sort(v.begin(), v.end());
        auto at = [&](double q) { return static_cast<double>(v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))]) / 1e9; };
        return {at(0.5), at(0.99), static_cast<double>(max) / 1e9};
    }

private:
    std::mutex m_mutex;
    std::array<std::int64_t, 1024> m_window{};
    std::size_t m_next = 0;
    std::size_t m_count = 0;
    std::int64_t m_max = 0;
};

std::int64_t rss_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::int64_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * 4096;
}

}  // namespace

struct MudServer::Impl : Host {
    Config config;
    World world;
    Inbox inbox;
    std::unique_ptr<Services> services;
    std::unique_ptr<dally::web::Server> http;
    std::unique_ptr<Game> game;
    std::unordered_map<SessionId, std::shared_ptr<dally::web::WebSocket>> sockets;  // game thread only
    TickStats ticks;
    std::mutex stats_mutex;
    GameStats last_stats;  // published by the game thread each tick
    std::atomic<bool> done{false};
    std::mutex serve_mutex;
    std::condition_variable serve_cv;
    unsigned serving = 0;  // runtimes still in serve()
    std::atomic<bool> shutdown_asked{false};

    explicit Impl(Config c) : config(std::move(c)), world(load_world(config.world)) {
        std::filesystem::create_directories(config.data_dir);
        services = std::make_unique<Services>(
            config.data_dir / "mud.sqlite3", config.hash_cost, config.hash_threads,
            ServiceCallbacks{[this](LoginResult r) { inbox.push(std::move(r)); },
                             [this](CreateResult r) { inbox.push(std::move(r)); }});
        game = std::make_unique<Game>(world, *this, config.game);
        http = std::make_unique<dally::web::Server>(make_router(), dally::web::ServerOptions{
                                                                       .max_connections = config.max_connections,
                                                                       .server_name = "mud_server",
                                                                   });
        auto addr = dally::Address::ip(config.host, static_cast<std::uint16_t>(config.port));
        if (!addr) throw ConfigError(fmt::format("--host: not an IP address: \"{}\"", config.host));
        if (auto bound = http->listen(*addr); !bound) {
            throw std::runtime_error(fmt::format("cannot listen on {}: {}", addr->to_string(), bound.error().message()));
        }
    }

    dally::web::Router make_router() {
        dally::web::Router router;
        dally::web::WebSocketOptions ws{
            .max_message_bytes = config.max_message_bytes,
            .max_queued_bytes = config.max_queued_bytes,
            .slow_client = dally::web::SlowClientPolicy::close,
            .allowed_origins = config.allowed_origins,
        };
        router.websocket("/ws", ws, [this](std::shared_ptr<dally::web::WebSocket> sock, dally::web::Request&) {
            return session(std::move(sock));
        });
        router.get("/healthz", [this](dally::web::Request&) -> dally::Task<dally::web::Response> {
            if (shutdown_asked.load()) co_return dally::web::Response::text(503, "shutting down\n");
            co_return dally::web::Response::text(200, "ok\n");
        });
        router.get("/metrics", [this](dally::web::Request&) -> dally::Task<dally::web::Response> {
            co_return dally::web::Response::text(200, metrics(), "text/plain; version=0.0.4; charset=utf-8");
        });
        router.static_files("/", config.www);
        return router;
    }

    // One WebSocket: reads on its runtime and hands every message to the game thread.
    dally::Task<void> session(std::shared_ptr<dally::web::WebSocket> sock) {
        SessionId id = sock->id();
        inbox.push(Connected{id, sock, sock->peer().ip_string()});
        for (;;) {
            auto msg = co_await sock->receive();
            if (!msg) break;
            if (msg->type != dally::web::MessageType::text) {
                sock->send_text(mud::error_message("bad_message", "Send JSON in text frames."));
                continue;
            }
            inbox.push(Received{id, std::move(msg->data)});
        }
        inbox.push(Disconnected{id});
    }

    std::string metrics() {
        GameStats s;
        {
            std::lock_guard lock(stats_mutex);
            s = last_stats;
        }
        auto q = ticks.quantiles();
        auto web = http->stats();
        std::string out;
        auto line = [&](std::string_view name, std::string_view type, std::string_view help, auto value) {
            fmt::format_to(std::back_inserter(out), "# HELP {0} {1}\n# TYPE {0} {2}\n{0} {3}\n", name, help, type, value);
        };
        line("mud_sessions", "gauge", "Open WebSocket sessions.", s.sessions);
        line("mud_players_online", "gauge", "Characters in the world (connected or link-dead).", s.players_online);
        line("mud_players_linkdead", "gauge", "Characters whose connection dropped, within the resume grace.", s.players_linkdead);
        line("mud_commands_total", "counter", "Commands run.", s.commands_total);
        line("mud_messages_out_total", "counter", "Messages queued to sessions.", s.messages_out_total);
        line("mud_protocol_errors_total", "counter", "Malformed or unknown messages.", s.protocol_errors_total);
        line("mud_logins_total", "counter", "Successful logins.", s.logins_total);
        line("mud_failed_logins_total", "counter", "Failed logins.", s.failed_logins_total);
        line("mud_npc_kills_total", "counter", "NPCs killed.", s.npc_kills_total);
        line("mud_player_deaths_total", "counter", "Player deaths.", s.player_deaths_total);
        line("mud_characters_saved_total", "counter", "Character saves written.", services->saved_total());
        line("mud_save_errors_total", "counter", "Failed database writes.", services->save_errors());
        fmt::format_to(std::back_inserter(out),
                       "# HELP mud_tick_duration_seconds Game tick duration over the last 1024 ticks.\n"
                       "# TYPE mud_tick_duration_seconds summary\n"
                       "mud_tick_duration_seconds{{quantile=\"0.5\"}} {:.6f}\n"
                       "mud_tick_duration_seconds{{quantile=\"0.99\"}} {:.6f}\n"
                       "mud_tick_duration_seconds_max {:.6f}\n",
                       q[0], q[1], q[2]);
        line("mud_http_connections_open", "gauge", "Open TCP connections.", web.connections_open);
        line("mud_http_requests_total", "counter", "HTTP requests served.", web.requests_total);
        line("process_resident_memory_bytes", "gauge", "Resident memory.", rss_bytes());
        return out;
    }

    // ---- Host (game thread) ----
    void send(SessionId id, std::string message) override {
        auto it = sockets.find(id);
        if (it != sockets.end()) it->second->send_text(std::move(message));
    }
    void close(SessionId id, std::uint16_t code) override {
        auto it = sockets.find(id);
        if (it != sockets.end()) it->second->close(code);
    }
    void start_login(SessionId id, std::string name, std::string password) override {
        services->login(id, std::move(name), std::move(password));
    }
    void start_create(SessionId id, AccountRecord a, CharacterRecord c, std::string password) override {
        services->create(id, std::move(a), std::move(c), std::move(password));
    }
    void save(std::vector<CharacterRecord> characters) override { services->save(std::move(characters)); }
    void set_banned(std::string name, bool banned, std::string reason) override {
        services->set_banned(std::move(name), banned, std::move(reason));
    }
    void shutdown_complete() override { done = true; }

    void handle(Event& e, TimePoint now) {
        std::visit(
            [&](auto& ev) {
                using T = std::decay_t<decltype(ev)>;
                if constexpr (std::is_same_v<T, Connected>) {
                    sockets.emplace(ev.id, std::move(ev.ws));
                    game->on_connect(ev.id, std::move(ev.ip), now);
                } else if constexpr (std::is_same_v<T, Received>) {
                    game->on_message(ev.id, ev.data, now);
                } else if constexpr (std::is_same_v<T, Disconnected>) {
                    game->on_disconnect(ev.id, now);
                    sockets.erase(ev.id);
                } else if constexpr (std::is_same_v<T, LoginResult>) {
                    game->on_login(std::move(ev), now);
                } else if constexpr (std::is_same_v<T, CreateResult>) {
                    game->on_create(std::move(ev), now);
                } else {
                    game->begin_shutdown(ev.delay, "", now);
                }
            },
            e);
    }

    // The game thread: events as they come, the tick at a fixed rate.
    void game_loop() {
        const auto period = std::chrono::nanoseconds(1'000'000'000 / config.tick_hz);
        TimePoint next_tick = Clock::now();
        std::vector<Event> batch;
        while (!done) {
            inbox.take(batch, next_tick);
            TimePoint now = Clock::now();
            for (auto& e : batch) handle(e, now);
            batch.clear();
            if (now >= next_tick) {
                TimePoint start = Clock::now();  // the tick alone, not the events before it
                game->tick(now);
                ticks.add(Clock::now() - start);
                next_tick += period;
                if (next_tick < now) next_tick = now + period;  // fell behind: don't burst
                std::lock_guard lock(stats_mutex);
                last_stats = game->stats();
            }
        }
    }
};

MudServer::MudServer(Config config) : m_impl(std::make_unique<Impl>(std::move(config))) {}

MudServer::~MudServer() = default;

std::uint16_t MudServer::port() const noexcept { return m_impl->http->port(); }

void MudServer::request_shutdown() noexcept {
    if (m_impl->shutdown_asked.exchange(true)) return;
    m_impl->inbox.push(ShutdownRequest{0s});
}

void MudServer::run() {
    Impl& s = *m_impl;
    dally::Executor ex({.threading = dally::Threading::parse(s.config.threads).value()});  // checked by config
    s.serving = static_cast<unsigned>(ex.size());
    ex.start([&](dally::Runtime& rt) -> dally::Task<void> {
        if (&rt == &ex.runtime(0)) {
            (void)rt.spawn([](MudServer* self) -> dally::Task<void> {
                auto sig = co_await dally::wait_signal({SIGINT, SIGTERM});
                if (sig) {
                    std::fprintf(stderr, "mud_server: signal %d, shutting down\n", *sig);
                    self->request_shutdown();
                }
            }(this));
        }
        co_await s.http->serve();
        std::lock_guard lock(s.serve_mutex);
        if (--s.serving == 0) s.serve_cv.notify_all();
    });
    s.game_loop();
    // Everyone was told and saved. Stop accepting; serve() returns once the sessions have
    // sent their byes and finished the close handshake (bounded by the server's grace).
    s.services->drain();
    s.http->shutdown();
    {
        std::unique_lock lock(s.serve_mutex);
        s.serve_cv.wait_for(lock, 10s, [&] { return s.serving == 0; });
    }
    ex.stop();
    ex.join();
    s.sockets.clear();
}

}  // namespace mud
