#include "dally/web/server.hpp"

#include "dally/time.hpp"
#include "web/connection.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace dally::web {

namespace detail {

void ServeState::link(ConnEntry& e) noexcept {
    if (head.next == nullptr) head.next = head.prev = &head;
    e.next = &head;
    e.prev = head.prev;
    head.prev->next = &e;
    head.prev = &e;
    if (count++ == 0) all_closed.reset();
}

void ServeState::unlink(ConnEntry& e) noexcept {
    e.prev->next = e.next;
    e.next->prev = e.prev;
    e.prev = e.next = nullptr;
    if (--count == 0) all_closed.set();
}

void ServeState::drain() noexcept {
    draining = true;
    if (head.next == nullptr) return;
    for (ConnEntry* e = head.next; e != &head; e = e->next) {
        if (e->socket) {
            e->socket->close(1001, "server shutting down");
        } else if (e->idle) {
            // Its pending recv completes with 0 and the connection ends normally.
            ::shutdown(e->fd, SHUT_RDWR);
        }
    }
}

void ServeState::sweep(Clock::time_point now) noexcept {
    if (head.next == nullptr) return;
    for (ConnEntry* e = head.next; e != &head; e = e->next) {
        if (e->expired || now < e->deadline) continue;
        e->expired = true;
        ::shutdown(e->fd, e->writing || e->idle ? SHUT_RDWR : SHUT_RD);
    }
}

namespace {

// How often a runtime checks its connections' deadlines: an eighth of the shortest
// timeout, between 5 ms and 250 ms (a 10 s timeout fires within 10.25 s).
Clock::duration sweep_interval(const ServerOptions& o) {
    auto shortest = std::min({o.header_timeout, o.body_timeout, o.idle_timeout, o.write_timeout, o.linger_timeout});
    auto interval = std::chrono::duration_cast<Clock::duration>(shortest) / 8;
    return std::clamp<Clock::duration>(interval, std::chrono::milliseconds(5), std::chrono::milliseconds(250));
}

Task<void> sweeper(ServeState* state) {
    const Clock::duration interval = sweep_interval(state->shared.options);
    for (;;) {
        if (!co_await sleep_for(interval)) co_return;  // cancelled: serve() is done
        state->sweep(Clock::now());
    }
}

// Cancels the connections still running when the grace period ends.
Task<void> grace_timer(std::chrono::milliseconds grace, ServeState* state) {
    auto slept = co_await sleep_for(grace);
    if (slept) state->cancel.cancel();
}

Task<void> accept_loop(TcpListener& listener, std::shared_ptr<ServeState> state) {
    ServerShared& shared = state->shared;
    const std::size_t max_connections = shared.options.max_connections;
    for (;;) {
        auto conn = co_await listener.accept();
        if (!conn) {
            if (conn.cancelled() || shared.stopping.load(std::memory_order_acquire)) co_return;
            // EMFILE and friends: report, back off briefly so a full table cannot spin us.
            std::fprintf(stderr, "dally::web: accept: %s\n", conn.error().message().c_str());
            (void)co_await sleep_for(std::chrono::milliseconds(10));
            continue;
        }
        shared.total.fetch_add(1, std::memory_order_relaxed);
        if (shared.open.load(std::memory_order_relaxed) >= max_connections) {
            shared.rejected.fetch_add(1, std::memory_order_relaxed);
            (void)state->rt.spawn(refuse_connection(std::move(*conn),
                                                    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                                                    "Content-Length: 21\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
                                                    "too many connections\n"),
                                  state->cancel.token());
            continue;
        }
        shared.open.fetch_add(1, std::memory_order_relaxed);
        (void)state->rt.spawn(serve_connection(state, std::move(*conn)), state->cancel.token());
    }
}

}  // namespace
}  // namespace detail

struct Server::State : detail::ServerShared {
    using detail::ServerShared::ServerShared;
};

Server::Server(Router router, ServerOptions options)
    : m_state(std::make_unique<State>(std::move(router), std::move(options))) {}

Server::~Server() = default;

Result<void> Server::listen(const Address& addr) {
    std::lock_guard lock(m_state->mutex);
    if (m_state->first.fd() >= 0 || m_state->first_taken) return std::make_error_code(std::errc::already_connected);
    auto l = TcpListener::bind(addr, {.backlog = m_state->options.backlog, .reuse_port = true});
    if (!l) return l.error();
    auto local = l->local_address();
    if (!local) return local.error();
    m_state->address = *local;
    m_state->first = std::move(*l);
    return {};
}

std::uint16_t Server::port() const noexcept { return m_state->address.port(); }

Task<void> Server::serve() {
    Runtime* rt = Runtime::current();
    if (rt == nullptr) throw NoRuntimeError("dally::web::Server::serve");
    detail::ServerShared& shared = *m_state;

    TcpListener listener;
    auto state = std::make_shared<detail::ServeState>(shared, *rt);
    {
        std::lock_guard lock(shared.mutex);
        if (shared.address.family() == AF_UNSPEC) {
            throw std::logic_error("dally::web::Server::serve: call listen() first");
        }
        if (!shared.first_taken) {
            listener = std::move(shared.first);
            shared.first_taken = true;
        } else {
            // Every other runtime joins the port's SO_REUSEPORT group.
            auto l = TcpListener::bind(shared.address, {.backlog = shared.options.backlog, .reuse_port = true});
            if (!l) {
                throw std::system_error(l.error(), "dally::web::Server::serve: bind " + shared.address.to_string());
            }
            listener = std::move(*l);
        }
        shared.serving.push_back(state);
        if (shared.stopping.load(std::memory_order_acquire)) state->draining = true;
    }

    auto sweeper = rt->spawn(detail::sweeper(state.get()));
    if (!state->draining) {
        auto acceptor = rt->spawn(detail::accept_loop(listener, state), shared.accept_cancel.token());
        co_await acceptor;
    }
    listener.close();

    // Connections finish on their own (drain() closed the idle ones); after the grace
    // period the rest are cancelled. The connection list is this runtime's own: no lock.
    state->drain();
    auto timer = rt->spawn(detail::grace_timer(shared.options.shutdown_grace, state.get()));
    (void)co_await state->all_closed.wait();
    timer.cancel();
    co_await timer;
    sweeper.cancel();
    co_await sweeper;

    std::lock_guard lock(shared.mutex);
    std::erase(shared.serving, state);
}

void Server::shutdown() noexcept {
    detail::ServerShared& shared = *m_state;
    if (shared.stopping.exchange(true, std::memory_order_acq_rel)) return;
    shared.accept_cancel.cancel();
    std::lock_guard lock(shared.mutex);
    for (const auto& state : shared.serving) {
        try {
            state->rt.post([state] { state->drain(); });
        } catch (...) {
            // Out of memory for the post: the accept loop still stops, and the grace timer
            // ends the connections.
        }
    }
}

ServerStats Server::stats() const noexcept {
    const detail::ServerShared& s = *m_state;
    return {
        .connections_open = s.open.load(std::memory_order_relaxed),
        .connections_total = s.total.load(std::memory_order_relaxed),
        .requests_total = s.requests.load(std::memory_order_relaxed),
        .rejected_total = s.rejected.load(std::memory_order_relaxed),
        .websockets_open = s.websockets.load(std::memory_order_relaxed),
    };
}

const ServerOptions& Server::options() const noexcept { return m_state->options; }

}  // namespace dally::web
