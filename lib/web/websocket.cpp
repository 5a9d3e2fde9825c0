// A WebSocket connection after the handshake, the sending side; websocket_read.cpp has
// the reading side and websocket_impl.hpp the Session class they share.
//
// wslay drives the framing, dally the I/O. send() may be called from any thread: messages
// go into a mutex-guarded queue whose byte count is bounded (the slow-client policy). One
// writer coroutine per connection, on the connection's runtime, moves them one at a time
// into wslay, whose send callback copies frames into an output buffer of at most 64 KiB
// that is flushed with send_all under a write deadline (kept by the session's watchdog). A parked writer is woken by a post
// to its runtime from the one send() that finds it idle; a busy writer costs senders
// nothing but the lock. Close frames go through the same queue (after the messages queued
// before them), whoever starts the close: the handler, another thread, the slow-client
// policy, or the reader failing the connection.
//
// Lifetime: the Session is shared by run_websocket, the writer's frame, the handler and
// any thread holding the WebSocket. run_websocket's FinishGuard marks it finished (under
// the queue's lock) before its frame goes away, even when a runtime shutting down destroys
// that frame unfinished; from then on send() returns false without touching the runtime.
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <stdexcept>

#include "web/websocket_impl.hpp"

namespace dally::web::detail {

namespace {
constexpr std::size_t max_close_reason = 123;
std::atomic<std::uint64_t> next_id{1};
}  // namespace

// ------------------------------------------------------------------ construction

Session::Session(TcpStream& stream, const WebSocketOptions& options, Address peer,
                 std::string subprotocol, Runtime& runtime, std::string leftover)
    : m_stream(stream),
      m_options{options.max_message_bytes, options.max_queued_bytes, options.slow_client,
                options.ping_interval,     options.idle_timeout,     options.close_timeout,
                options.write_timeout},
      m_runtime(&runtime),
      m_id(next_id.fetch_add(1, std::memory_order_relaxed)),
      m_peer(std::move(peer)),
      m_subprotocol(std::move(subprotocol)),
      m_last_heard(Clock::now()) {
    wslay_event_callbacks callbacks{};
    callbacks.recv_callback = &Session::on_wslay_recv;
    callbacks.send_callback = &Session::on_wslay_send;
    callbacks.on_frame_recv_chunk_callback = &Session::on_wslay_chunk;
    callbacks.on_frame_recv_end_callback = &Session::on_wslay_frame_end;
    if (wslay_event_context_server_init(&m_ctx, &callbacks, this) != 0) throw std::bad_alloc();
    wslay_event_config_set_no_buffering(m_ctx, 1);
    // Checked per message before a frame reaches wslay (start_frame); this is a backstop.
    wslay_event_config_set_max_recv_msg_length(
        m_ctx, std::max<std::uint64_t>(options.max_message_bytes, 125));
    // The watchdog wakes at least this often, so that every read or write deadline set
    // from now on is later than its next wake (see watch()).
    Clock::duration period = std::chrono::hours(1);
    for (auto d : {options.ping_interval, options.idle_timeout, options.write_timeout})
        if (d.count() > 0) period = std::min<Clock::duration>(period, d);
    m_watch_period = std::max<Clock::duration>(period, std::chrono::milliseconds(1));
    m_in.resize(std::max(ws_in_buffer_initial, leftover.size()));
    std::memcpy(m_in.data(), leftover.data(), leftover.size());
    m_in_end = leftover.size();
}

// ------------------------------------------------------------------ sending (any thread)

bool Session::send(MessageType type, std::string data) {
    const std::size_t n = data.size();
    std::deque<Outgoing> discarded;  // freed after the lock is released
    std::lock_guard lock(m_mutex);
    if (m_closing) return false;
    const std::size_t queued = m_queued.load(std::memory_order_relaxed);
    if (n > m_options.max_queued_bytes || queued > m_options.max_queued_bytes - n) {
        // The client reads slower than the app writes. Closing frees what it will never
        // read in time (the close frame goes out after the frame being written).
        if (m_options.slow_client == SlowClientPolicy::close)
            begin_close_locked(1008, "slow client", &discarded);
        return false;
    }
    const auto opcode = static_cast<std::uint8_t>(type == MessageType::text ? WSLAY_TEXT_FRAME : WSLAY_BINARY_FRAME);
    m_pending.push_back({std::move(data), 0, opcode});
    // Only this lock's holders add, so the count stays within the bound; the writer
    // subtracts concurrently, which only makes the check above conservative.
    m_queued.fetch_add(n, std::memory_order_acq_rel);
    wake_writer_locked();
    return true;
}

void Session::close(std::uint16_t code, std::string_view reason) {
    if (!valid_close_code(code)) {
        throw std::invalid_argument("dally::web::WebSocket::close: invalid close code " +
                                    std::to_string(code));
    }
    if (reason.size() > max_close_reason || !is_valid_utf8(reason)) {
        throw std::invalid_argument(
            "dally::web::WebSocket::close: the reason must be at most 123 bytes of UTF-8");
    }
    (void)begin_close(code, reason);
}

bool Session::begin_close(std::uint16_t code, std::string_view reason) {
    std::lock_guard lock(m_mutex);
    return begin_close_locked(code, reason, nullptr);
}

bool Session::begin_close_locked(std::uint16_t code, std::string_view reason,
                                 std::deque<Outgoing>* discard) {
    if (m_closing) return false;
    m_closing = true;
    m_open.store(false, std::memory_order_release);
    if (discard != nullptr) {
        discard->swap(m_pending);
        std::size_t freed = 0;
        for (const Outgoing& o : *discard) freed += o.data.size();
        m_queued.fetch_sub(freed, std::memory_order_acq_rel);
    }
    m_pending.push_back({std::string(reason), code, WSLAY_CONNECTION_CLOSE});
    wake_writer_locked();
    return true;
}

void Session::wake_writer_locked() {
    if (!m_writer_idle || m_finished) return;
    m_writer_idle = false;
    if (Runtime::current() == m_runtime) {
        resume_writer();
    } else {
        // Under the lock: finish() takes it before the runtime can go away, so the runtime
        // is alive here. The session rides along so that the post can never dangle.
        m_runtime->post([self = shared_from_this()]() noexcept { self->resume_writer(); });
    }
}

void Session::resume_writer() noexcept {
    if (auto h = std::exchange(m_writer_handle, {})) m_runtime->schedule(h);
}

void Session::wake_writer_local() {
    std::lock_guard lock(m_mutex);
    wake_writer_locked();
}

void Session::finish() noexcept {
    std::deque<Outgoing> discarded;
    {
        std::lock_guard lock(m_mutex);
        m_finished = true;
        m_closing = true;
        m_writer_idle = false;
        discarded.swap(m_pending);
    }
    m_open.store(false, std::memory_order_release);
    m_queued.store(0, std::memory_order_release);
    m_detached = true;
    stop_watchdog();
    m_writer = nullptr;
    m_writer_handle = {};
}

// ------------------------------------------------------------------ the writer

struct Session::Park {
    Session& s;
    bool await_ready() {
        std::lock_guard lock(s.m_mutex);
        if (!s.m_pending.empty() || s.m_stop || s.m_dropped || wslay_event_want_write(s.m_ctx))
            return true;
        s.m_writer_idle = true;
        return false;
    }
    // Nothing can resume the handle before it is stored: wakers either run on this thread
    // (not before this returns) or post to it.
    void await_suspend(std::coroutine_handle<> h) noexcept { s.m_writer_handle = h; }
    void await_resume() const noexcept {}
};

// Runs even when the writer's frame is destroyed unfinished (a runtime shutting down).
struct Session::WriterGuard {
    Session& s;
    ~WriterGuard() {
        s.m_writer_handle = {};
        std::lock_guard lock(s.m_mutex);
        s.m_writer_idle = false;
    }
};

Task<void> Session::write_loop(std::shared_ptr<Session> self) {
    Session& s = *self;
    WriterGuard guard{s};
    while (!s.m_stop && !s.m_dropped) {
        if (!s.fill_output()) break;
        if (!s.m_out.empty()) {
            Clock::time_point limit = Clock::now() + s.m_options.write_timeout;
            if (s.m_close_deadline != Clock::time_point{})
                limit = std::min(limit, s.m_close_deadline);
            s.m_write_limit = limit;
            s.watch(limit);
            auto sent = co_await s.m_stream.send_all(std::span<const char>(s.m_out));
            s.m_write_limit = Clock::time_point::max();
            if (!sent) {
                s.drop(sent.error());
                break;
            }
            s.m_out.clear();
            s.m_queued.fetch_sub(std::exchange(s.m_serialized, 0), std::memory_order_acq_rel);
            if (s.m_close_in_out && !s.m_close_flushed) s.on_close_flushed();
            continue;
        }
        if (s.m_close_flushed) {
            // Nothing more can be written. Wait for the client's close reply, else drop.
            if (s.m_close_received || s.m_failed) break;
            s.m_writer_sleeping = true;
            auto slept = co_await dally::sleep_until(s.m_close_deadline);
            s.m_writer_sleeping = false;
            if (slept.ok() && !s.m_close_received) s.drop(ws_error(std::errc::timed_out));
            break;
        }
        // Idle connections keep no big output buffer.
        if (s.m_out.capacity() > 4096) std::string().swap(s.m_out);
        co_await Park{s};
    }
}

// Frames what wslay holds and the next queued messages into m_out, up to the flush size.
// False if wslay failed (the connection is dropped).
bool Session::fill_output() {
    while (m_out.size() < ws_out_flush_size && !m_dropped) {
        if (wslay_event_want_write(m_ctx)) {
            if (wslay_event_send(m_ctx) != 0) {
                drop(ws_error(std::errc::io_error));
                return false;
            }
            if (wslay_event_get_close_sent(m_ctx)) m_close_in_out = true;
            if (!wslay_event_want_write(m_ctx)) m_serialized += std::exchange(m_in_wslay, 0);
            continue;
        }
        if (m_close_in_out) break;
        Outgoing item;
        {
            std::lock_guard lock(m_mutex);
            if (m_pending.empty()) break;
            item = std::move(m_pending.front());
            m_pending.pop_front();
        }
        feed_wslay(item);
    }
    return true;
}

void Session::feed_wslay(Outgoing& item) {
    if (item.opcode == WSLAY_CONNECTION_CLOSE) {
        (void)wslay_event_queue_close(m_ctx, item.code,
                                      reinterpret_cast<const std::uint8_t*>(item.data.data()),
                                      item.data.size());
        arm_close_deadline();
        return;
    }
    wslay_event_msg msg{item.opcode, reinterpret_cast<const std::uint8_t*>(item.data.data()),
                        item.data.size()};
    if (wslay_event_queue_msg(m_ctx, &msg) == 0) {
        m_in_wslay = item.data.size();
    } else {
        m_queued.fetch_sub(item.data.size(), std::memory_order_acq_rel);
    }
}

void Session::on_close_flushed() noexcept {
    m_close_flushed = true;
    // The server closes TCP first once the handshake is complete (RFC 6455 7.1.1): both
    // directions, which also ends a recv still waiting in receive() or linger(). When it
    // failed the connection (7.1.7) it sends FIN at once but keeps reading (and discarding)
    // until the client's FIN: closing with unread bytes would reset the connection, and
    // the client could lose our close frame.
    if (m_close_received) {
        if (!std::exchange(m_write_shut, true)) ::shutdown(m_stream.fd(), SHUT_RDWR);
    } else if (m_failed) {
        shutdown_write();
    }
}

void Session::stop_writer() noexcept {
    m_stop = true;
    {
        std::lock_guard lock(m_mutex);
        m_writer_idle = false;
    }
    resume_writer();
    if (m_writer != nullptr) m_writer->cancel();
}

// ------------------------------------------------------------------ the watchdog
//
// One timer per session instead of one per operation. It sleeps until the earliest
// deadline of what is in flight (receive()'s recv: ping, idle and close; the writer's
// send: write timeout and close), but never longer than m_watch_period, so a deadline set
// later is normally after its wake and costs nothing but a store. Only an earlier one (the
// close deadline, armed once) restarts it. A read deadline is acted on without
// interrupting the recv (a ping is queued, a close begun); an expired write or close
// deadline drops the connection, whose shutdown ends the I/O in flight.

void Session::start_watchdog() {
    if (m_detached || m_stop) return;
    m_watch_cancel.cancel();
    m_watch_cancel = CancelSource();
    m_watch_wake = Clock::time_point::min();  // it computes its wake when it first runs
    (void)m_runtime->spawn(watch_loop(shared_from_this(), ++m_watch_generation),
                           m_watch_cancel.token());
}

void Session::stop_watchdog() noexcept {
    ++m_watch_generation;
    m_watch_cancel.cancel();
}

void Session::watch(Clock::time_point t) {
    if (t < m_watch_wake) start_watchdog();
}

Task<void> Session::watch_loop(std::shared_ptr<Session> self, std::uint64_t generation) {
    Session& s = *self;
    for (;;) {
        if (generation != s.m_watch_generation || s.m_detached || s.m_stop || s.m_dropped)
            co_return;
        const Clock::time_point now = Clock::now();
        s.check_deadlines(now);
        if (s.m_dropped) co_return;
        Clock::time_point next = now + s.m_watch_period;
        if (s.m_recv_waiting) next = std::min(next, s.read_deadline(s.m_waiting_since));
        next = std::min(next, s.m_write_limit);
        s.m_watch_wake = next;
        if (!co_await dally::sleep_until(next)) co_return;  // cancelled: replaced or stopped
    }
}

void Session::check_deadlines(Clock::time_point now) {
    if (now >= m_write_limit) {
        drop(ws_error(std::errc::timed_out));  // the client reads too slowly
        return;
    }
    if (m_recv_waiting && now >= read_deadline(m_waiting_since)) on_read_timeout(m_waiting_since);
}

ssize_t Session::on_wslay_send(wslay_event_context_ptr ctx, const std::uint8_t* data,
                               std::size_t len, int, void* self) {
    auto& s = *static_cast<Session*>(self);
    const std::size_t room =
        ws_out_flush_size > s.m_out.size() ? ws_out_flush_size - s.m_out.size() : 0;
    if (room == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    const std::size_t n = std::min(len, room);
    s.m_out.append(reinterpret_cast<const char*>(data), n);
    return static_cast<ssize_t>(n);
}

// ------------------------------------------------------------------ the session

namespace {
// Runs when run_websocket's frame goes away, also when a runtime shutting down destroys
// it unfinished: after it, send() never touches the runtime again.
struct FinishGuard {
    std::shared_ptr<Session> session;
    std::shared_ptr<WebSocket>* out;
    ~FinishGuard() {
        session->finish();
        if (out != nullptr) out->reset();
    }
};
}  // namespace

Task<void> run_websocket(TcpStream& stream, std::string leftover, Request& request,
                         const WebSocketRoute& route, std::string subprotocol,
                         std::shared_ptr<WebSocket>* out) {
    Runtime* rt = Runtime::current();
    if (rt == nullptr) throw NoRuntimeError("dally::web::detail::run_websocket");
    auto session = std::make_shared<Session>(stream, route.options, request.peer,
                                             std::move(subprotocol), *rt, std::move(leftover));
    if (out != nullptr) *out = session;
    FinishGuard guard{session, out};
    JoinHandle<void> writer = rt->spawn(Session::write_loop(session));
    session->set_writer(&writer);
    session->start_watchdog();

    bool threw = false;
    try {
        co_await route.handler(session, request);
    } catch (...) {
        threw = true;
        dally::detail::report_exception("WebSocket handler threw (closing with 1011)",
                                        std::current_exception());
    }
    if (session->is_open()) session->close(threw ? 1011 : 1000, {});
    co_await session->linger();
    session->stop_watchdog();
    session->stop_writer();
    co_await writer;
    session->set_writer(nullptr);
}

}  // namespace dally::web::detail
