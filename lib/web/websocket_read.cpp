// A WebSocket connection after the handshake, the reading side (see websocket.cpp).
//
// receive() recvs into the session's buffer and runs wslay_event_recv, whose recv callback
// serves bytes from that buffer. The callback hands wslay one frame at a time and checks
// each frame header first, because wslay alone gets some of RFC 6455 wrong or out of
// order: it rejects the valid close codes 1012-1014, accepts a 1-byte close payload,
// answers a malformed frame with an empty close frame instead of 1002, and queues its own
// close frames (1007 for bad UTF-8) ahead of the messages the handler already sent. So
// every protocol check happens here and every close goes through the ordered send queue:
// close frames never reach wslay, and text frames reach it as binary ones (it would
// validate UTF-8 itself; ours is incremental across fragments, see utf8.hpp). wslay
// reassembles nothing (no-buffering mode): payload chunks are appended to the message in
// progress. wslay unmasks, and answers pings by queueing pongs.
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "web/websocket_impl.hpp"

namespace dally::web::detail {

namespace {

struct FrameHeader {
    bool fin = false;
    unsigned rsv = 0;
    unsigned opcode = 0;
    bool masked = false;
    std::uint64_t length = 0;
    std::size_t size = 0;  // header bytes, mask key included
    unsigned char mask[4] = {};
};

enum class HeaderStatus { ok, incomplete, malformed };

// Parses a frame header at the start of `p`. Malformed: a length not in its minimal
// encoding, or a 64-bit length with the top bit set (RFC 6455 5.2).
HeaderStatus parse_header(const unsigned char* p, std::size_t n, FrameHeader& h) noexcept {
    if (n < 2) return HeaderStatus::incomplete;
    h.fin = (p[0] & 0x80) != 0;
    h.rsv = (p[0] >> 4) & 0x7;
    h.opcode = p[0] & 0x0F;
    h.masked = (p[1] & 0x80) != 0;
    std::uint64_t len = p[1] & 0x7F;
    std::size_t pos = 2;
    if (len == 126) {
        if (n < 4) return HeaderStatus::incomplete;
        len = (std::uint64_t{p[2]} << 8) | p[3];
        pos = 4;
        if (len < 126) return HeaderStatus::malformed;
    } else if (len == 127) {
        if (n < 10) return HeaderStatus::incomplete;
        len = 0;
        for (std::size_t i = 2; i < 10; ++i) len = (len << 8) | p[i];
        pos = 10;
        if (len < 65536 || (len >> 63) != 0) return HeaderStatus::malformed;
    }
    if (h.masked) {
        if (n < pos + 4) return HeaderStatus::incomplete;
        std::memcpy(h.mask, p + pos, 4);
        pos += 4;
    }
    h.length = len;
    h.size = pos;
    return HeaderStatus::ok;
}

}  // namespace

// ------------------------------------------------------------------ reading

struct Session::ReaderGuard {
    Session& s;
    ~ReaderGuard() {
        s.m_reading = false;
        s.m_recv_waiting = false;
    }
};

Task<Result<Message>> Session::receive() {
    if (Runtime::current() != m_runtime) {
        throw std::logic_error(
            "dally::web::WebSocket::receive: call it on the connection's runtime");
    }
    if (m_reading)
        throw std::logic_error("dally::web::WebSocket::receive: another receive() is in progress");
    if (m_detached || m_lingering) co_return ws_error(std::errc::not_connected);
    m_reading = true;
    ReaderGuard guard{*this};
    const Clock::time_point waiting_since = Clock::now();
    for (;;) {
        if (m_ready) {
            Message m = std::move(*m_ready);
            m_ready.reset();
            if (is_open()) co_return m;
            continue;  // the server is closing: nobody asked for more messages
        }
        if (m_end) co_return m_end;
        if (m_read_stopped) co_return ws_error(std::errc::not_connected);
        pump();
        if (m_ready || m_read_stopped) continue;
        compact_input();
        // The watchdog keeps the ping, idle and close deadlines while the recv waits.
        m_waiting_since = waiting_since;
        m_recv_waiting = true;
        watch(read_deadline(waiting_since));
        auto r = co_await m_stream.recv(
            std::span<char>(m_in.data() + m_in_end, m_in.size() - m_in_end));
        m_recv_waiting = false;
        if (!r || *r == 0) {
            on_read_end(r);
        } else {
            received(*r);
            m_last_heard = Clock::now();
        }
    }
}

Task<void> Session::linger() {
    if (m_detached) co_return;
    m_lingering = true;
    if (m_reading) {
        // A task the handler left behind is still in receive(): it owns the buffer. End
        // the connection so that its recv returns, rather than read beside it.
        drop(ws_error(std::errc::not_connected));
        co_return;
    }
    m_reading = true;
    ReaderGuard guard{*this};
    arm_close_deadline();
    while (!m_end && !m_dropped) {
        m_ready.reset();
        pump();
        if (m_ready) continue;
        if (m_read_stopped) m_in_pos = m_in_end = 0;     // after the close: discard
        if (m_close_received && m_close_flushed) break;  // the handshake is complete
        if (Clock::now() >= m_close_deadline) break;
        compact_input();
        auto r = co_await dally::deadline(
            m_close_deadline,
            m_stream.recv(std::span<char>(m_in.data() + m_in_end, m_in.size() - m_in_end)));
        if (r.timed_out()) break;
        if (!r || *r == 0) {
            on_read_end(r);
            break;
        }
        received(*r);
    }
}

void Session::received(std::size_t n) {
    const bool filled = m_in_end + n == m_in.size();
    m_in_end += n;
    // Bulk traffic: read more per call. No recv is in flight here, so the buffer may move.
    if (filled && m_in.size() < ws_in_buffer_max)
        m_in.resize(std::min(m_in.size() * 2, ws_in_buffer_max));
}

void Session::pump() {
    if (m_read_stopped || m_ready || m_dropped) return;
    if (wslay_event_recv(m_ctx) != 0 && !m_read_stopped) fail(1011);  // out of memory
    if (wslay_event_want_write(m_ctx)) wake_writer_local();           // a pong
}

ssize_t Session::on_wslay_recv(wslay_event_context_ptr ctx, std::uint8_t* buf, std::size_t len, int,
                               void* self) {
    auto& s = *static_cast<Session*>(self);
    // One frame at a time, one message at a time: the next frame's header is checked
    // before wslay sees any of it, and reading pauses while a message waits for receive().
    if (!s.m_read_stopped && !s.m_ready && (s.m_frame_left > 0 || s.start_frame())) {
        const std::size_t n = static_cast<std::size_t>(
            std::min<std::uint64_t>({len, s.m_in_end - s.m_in_pos, s.m_frame_left}));
        if (n > 0) {
            std::memcpy(buf, s.m_in.data() + s.m_in_pos, n);
            s.m_in_pos += n;
            s.m_frame_left -= n;
            return static_cast<ssize_t>(n);
        }
    }
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
}

// At a frame boundary: checks the next frame's header. True if wslay may read the frame.
bool Session::start_frame() {
    FrameHeader h;
    auto* p = reinterpret_cast<unsigned char*>(m_in.data() + m_in_pos);
    const std::size_t avail = m_in_end - m_in_pos;
    switch (parse_header(p, avail, h)) {
        case HeaderStatus::incomplete:
            return false;
        case HeaderStatus::malformed:
            fail(1002);
            return false;
        case HeaderStatus::ok:
            break;
    }
    // No extension is negotiated, so RSV must be 0; clients must mask (RFC 6455 5.1, 5.2).
    if (h.rsv != 0 || !h.masked) {
        fail(1002);
        return false;
    }
    if ((h.opcode & 0x8) != 0) {
        // Control frames: close, ping, pong; at most 125 bytes, never fragmented (5.5).
        if (h.opcode > WSLAY_PONG || !h.fin || h.length > 125) {
            fail(1002);
            return false;
        }
        if (h.opcode == WSLAY_CONNECTION_CLOSE) {
            if (avail < h.size + h.length) return false;  // at most 131 bytes: wait for all
            std::string payload(reinterpret_cast<const char*>(p + h.size),
                                static_cast<std::size_t>(h.length));
            for (std::size_t i = 0; i < payload.size(); ++i)
                payload[i] = static_cast<char>(payload[i] ^ h.mask[i % 4]);
            m_in_pos += h.size + payload.size();
            on_close_frame(payload);
            return false;
        }
        m_frame_is_data = false;
    } else {
        if (h.opcode == WSLAY_CONTINUATION_FRAME) {
            if (!m_in_message) {
                fail(1002);  // nothing to continue
                return false;
            }
        } else if (h.opcode == WSLAY_TEXT_FRAME || h.opcode == WSLAY_BINARY_FRAME) {
            if (m_in_message) {
                fail(1002);  // a new message inside a fragmented one
                return false;
            }
            m_in_message = true;
            m_message_type = h.opcode == WSLAY_TEXT_FRAME ? MessageType::text : MessageType::binary;
            m_message_bytes = 0;
            m_partial.clear();
            m_utf8.reset();
            // wslay would check UTF-8 itself and queue its 1007 ahead of our queue.
            p[0] = static_cast<unsigned char>((p[0] & 0xF0) | WSLAY_BINARY_FRAME);
        } else {
            fail(1002);  // reserved opcode
            return false;
        }
        if (h.length > m_options.max_message_bytes - m_message_bytes) {
            fail(1009);
            return false;
        }
        m_message_bytes += h.length;
        m_frame_is_data = true;
        m_frame_fin = h.fin;
    }
    m_frame_left = h.size + h.length;
    return true;
}

void Session::on_wslay_chunk(wslay_event_context_ptr,
                             const wslay_event_on_frame_recv_chunk_arg* arg, void* self) {
    auto& s = *static_cast<Session*>(self);
    if (s.m_read_stopped || !s.m_frame_is_data || arg->data_length == 0) return;
    std::string_view chunk(reinterpret_cast<const char*>(arg->data), arg->data_length);
    if (s.m_message_type == MessageType::text && !s.m_utf8.feed(chunk)) {
        s.fail(1007);  // at the first bad byte, not at the end of the message
        return;
    }
    s.m_partial.append(chunk);
}

void Session::on_wslay_frame_end(wslay_event_context_ptr, void* self) {
    auto& s = *static_cast<Session*>(self);
    if (s.m_read_stopped || !s.m_frame_is_data || !s.m_frame_fin) return;
    if (s.m_message_type == MessageType::text && !s.m_utf8.complete()) {
        s.fail(1007);  // ends inside a character
        return;
    }
    s.m_ready.emplace(Message{s.m_message_type, std::move(s.m_partial)});
    s.m_partial = std::string();
    s.m_in_message = false;
    s.m_message_bytes = 0;
}

void Session::on_close_frame(std::string_view payload) {
    m_read_stopped = true;
    wslay_event_shutdown_read(m_ctx);
    std::uint16_t code = 1005;
    if (payload.size() == 1) return fail(1002);  // a code needs two bytes (5.5.1)
    if (payload.size() >= 2) {
        code = static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                          static_cast<unsigned char>(payload[1]));
        if (!valid_close_code(code)) return fail(1002);
        if (!is_valid_utf8(payload.substr(2))) return fail(1007);
    }
    m_close_received = true;
    m_close_code.store(code, std::memory_order_release);
    arm_close_deadline();
    // Echo the client's code (1000 when it sent none); a no-op if our close is already out.
    (void)begin_close(code == 1005 ? 1000 : code, {});
    if (m_close_flushed) {
        shutdown_write();
        if (m_writer_sleeping && m_writer != nullptr) m_writer->cancel();
    }
}

void Session::fail(std::uint16_t code) {
    m_read_stopped = true;
    m_failed = true;
    wslay_event_shutdown_read(m_ctx);
    arm_close_deadline();
    (void)begin_close(code, {});
    if (m_close_flushed) {
        shutdown_write();
        if (m_writer_sleeping && m_writer != nullptr) m_writer->cancel();
    }
}

void Session::drop(std::error_code ec) noexcept {
    if (!m_end) m_end = ec;
    m_dropped = true;
    m_read_stopped = true;
    {
        std::lock_guard lock(m_mutex);
        m_closing = true;
        m_writer_idle = false;
    }
    m_open.store(false, std::memory_order_release);
    resume_writer();  // it sees m_dropped and returns
    // Unblocks a pending recv (it completes with 0) and tells the client at once.
    ::shutdown(m_stream.fd(), SHUT_RDWR);
}

void Session::shutdown_write() noexcept {
    if (std::exchange(m_write_shut, true)) return;
    ::shutdown(m_stream.fd(), SHUT_WR);
}

void Session::arm_close_deadline() {
    if (m_close_deadline != Clock::time_point{}) return;
    m_close_deadline = Clock::now() + m_options.close_timeout;
    watch(m_close_deadline);
}

void Session::compact_input() noexcept {
    if (m_in_pos == m_in_end) {
        m_in_pos = m_in_end = 0;
    } else if (m_in.size() - m_in_end < m_in.size() / 4) {
        std::memmove(m_in.data(), m_in.data() + m_in_pos, m_in_end - m_in_pos);
        m_in_end -= m_in_pos;
        m_in_pos = 0;
    }
}

Clock::time_point Session::read_deadline(Clock::time_point waiting_since) const noexcept {
    Clock::time_point t = Clock::time_point::max();
    if (m_close_deadline != Clock::time_point{}) t = std::min(t, m_close_deadline);
    if (!is_open()) return t;
    const Clock::time_point heard = std::max(m_last_heard, waiting_since);
    if (m_options.idle_timeout.count() > 0) t = std::min(t, heard + m_options.idle_timeout);
    if (m_options.ping_interval.count() > 0)
        t = std::min(t, std::max(heard, m_last_ping) + m_options.ping_interval);
    return t;
}

void Session::on_read_timeout(Clock::time_point waiting_since) {
    const Clock::time_point now = Clock::now();
    if (m_close_deadline != Clock::time_point{} && now >= m_close_deadline) {
        drop(ws_error(std::errc::timed_out));  // no close reply in time
        return;
    }
    if (!is_open()) return;
    const Clock::time_point heard = std::max(m_last_heard, waiting_since);
    if (m_options.idle_timeout.count() > 0 && now >= heard + m_options.idle_timeout) {
        if (begin_close(1001, "idle timeout")) arm_close_deadline();
        return;
    }
    if (m_options.ping_interval.count() > 0 &&
        now >= std::max(heard, m_last_ping) + m_options.ping_interval) {
        send_ping();
        m_last_ping = now;
    }
}

void Session::send_ping() {
    const std::uint64_t stamp = static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
    std::uint8_t payload[8];
    for (int i = 0; i < 8; ++i) payload[i] = static_cast<std::uint8_t>(stamp >> (56 - 8 * i));
    wslay_event_msg ping{WSLAY_PING, payload, sizeof payload};
    if (wslay_event_queue_msg(m_ctx, &ping) == 0) wake_writer_local();
}

void Session::on_read_end(const Result<std::size_t>& r) noexcept {
    std::error_code ec;
    if (!r) {
        ec = r.error();
    } else {
        // EOF: after a close frame it is the normal end, else the client just went away.
        ec = (m_close_received || m_close_flushed || m_failed)
                 ? ws_error(std::errc::not_connected)
                 : ws_error(std::errc::connection_reset);
    }
    if (!m_end) m_end = ec;
    m_read_stopped = true;
    m_dropped = true;
    {
        std::lock_guard lock(m_mutex);
        m_closing = true;
        m_writer_idle = false;
    }
    m_open.store(false, std::memory_order_release);
    resume_writer();
}

}  // namespace dally::web::detail
