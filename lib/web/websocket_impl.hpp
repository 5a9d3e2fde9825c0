// The WebSocket session behind detail::run_websocket: one connection, shared by its
// handler, the tasks that serve it and every thread that sends to it. Internal to
// dally::web; websocket.cpp has the sending side, websocket_read.cpp the reading side.
#pragma once

#include <wslay/wslay.h>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "dally/cancel.hpp"
#include "dally/runtime.hpp"
#include "dally/time.hpp"
#include "dally/web/detail/utf8.hpp"
#include "dally/web/detail/websocket_session.hpp"

namespace dally::web::detail {

// The receive buffer starts small (most connections of a game or a dashboard carry small
// messages, and each waiting recv holds its buffer) and doubles, up to the maximum, each
// time a recv fills it. It also holds the bytes the HTTP layer read past the request.
inline constexpr std::size_t ws_in_buffer_initial = 4 * 1024;
inline constexpr std::size_t ws_in_buffer_max = 64 * 1024;
// Frames are flushed in writes of at most this many bytes (each under the write deadline).
inline constexpr std::size_t ws_out_flush_size = 64 * 1024;

// RFC 6455 7.4 and the IANA registry: the codes an endpoint may put in a close frame.
inline bool valid_close_code(unsigned code) noexcept {
    if (code >= 3000 && code <= 4999) return true;
    return code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006;
}

inline std::error_code ws_error(std::errc e) noexcept { return std::make_error_code(e); }

// One WebSocket connection: the public WebSocket, its send queue, and wslay's context.
class Session final : public WebSocket, public std::enable_shared_from_this<Session> {
  public:
    Session(TcpStream& stream, const WebSocketOptions& options, Address peer,
            std::string subprotocol, Runtime& runtime, std::string leftover);
    ~Session() override { wslay_event_context_free(m_ctx); }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    bool send(MessageType type, std::string data) override;
    void close(std::uint16_t code, std::string_view reason) override;
    Task<Result<Message>> receive() override;
    std::uint64_t id() const noexcept override { return m_id; }
    const Address& peer() const noexcept override { return m_peer; }
    const std::string& subprotocol() const noexcept override { return m_subprotocol; }
    bool is_open() const noexcept override { return m_open.load(std::memory_order_acquire); }
    std::uint16_t close_code() const noexcept override {
        return m_close_code.load(std::memory_order_acquire);
    }
    std::size_t queued_bytes() const noexcept override {
        return m_queued.load(std::memory_order_acquire);
    }

    // ---- used by run_websocket, on the connection's runtime ----
    // The writer task. Static, with a shared_ptr, so that its frame keeps the session
    // alive even if a runtime shutting down destroys run_websocket's frame first.
    static Task<void> write_loop(std::shared_ptr<Session> self);
    void set_writer(JoinHandle<void>* writer) noexcept { m_writer = writer; }
    // After the handler returned: reads (discarding messages) until the close handshake is
    // complete (after a failure: until the client's FIN), or the close deadline passed.
    Task<void> linger();
    // Makes the writer return (resumed if parked, cancelled if in I/O).
    void stop_writer() noexcept;
    // Starts the watchdog, the one timer that enforces the session's deadlines (see
    // watch_loop); stop_watchdog() ends it.
    void start_watchdog();
    void stop_watchdog() noexcept;
    // The connection is over: send() returns false from now on and never touches the
    // runtime again. Called from run_websocket's frame, also when it is destroyed.
    void finish() noexcept;

  private:
    struct Outgoing {
        std::string data;
        std::uint16_t code = 0;  // close frames
        std::uint8_t opcode = 0;
    };
    struct Park;
    struct WriterGuard;
    struct ReaderGuard;

    // ---- any thread ----
    // Queues a close frame after the messages already queued; false if a close was
    // already started. The _locked form, with `discard`, first moves the queued messages
    // there (to be freed after the lock is released).
    bool begin_close(std::uint16_t code, std::string_view reason);
    bool begin_close_locked(std::uint16_t code, std::string_view reason,
                            std::deque<Outgoing>* discard);
    // Lock held: makes a parked writer run.
    void wake_writer_locked();
    // Owner thread: resumes the parked writer, if any.
    void resume_writer() noexcept;

    // ---- owner thread: reading ----
    void pump();
    bool start_frame();
    void on_close_frame(std::string_view payload);
    void fail(std::uint16_t code);
    void drop(std::error_code ec) noexcept;
    void shutdown_write() noexcept;
    void arm_close_deadline();
    void compact_input() noexcept;
    void received(std::size_t n);
    Clock::time_point read_deadline(Clock::time_point waiting_since) const noexcept;
    void on_read_timeout(Clock::time_point waiting_since);
    void on_read_end(const Result<std::size_t>& r) noexcept;
    void send_ping();
    void wake_writer_local();

    // ---- owner thread: deadlines ----
    static Task<void> watch_loop(std::shared_ptr<Session> self, std::uint64_t generation);
    // A deadline was set: restarts the watchdog if it sleeps past `t`.
    void watch(Clock::time_point t);
    void check_deadlines(Clock::time_point now);

    // ---- owner thread: writing ----
    void feed_wslay(Outgoing& item);
    bool fill_output();
    void on_close_flushed() noexcept;

    // ---- wslay callbacks ----
    static ssize_t on_wslay_recv(wslay_event_context_ptr, std::uint8_t* buf, std::size_t len, int,
                                 void* self);
    static ssize_t on_wslay_send(wslay_event_context_ptr, const std::uint8_t* data, std::size_t len,
                                 int, void* self);
    static void on_wslay_chunk(wslay_event_context_ptr,
                               const wslay_event_on_frame_recv_chunk_arg* arg, void* self);
    static void on_wslay_frame_end(wslay_event_context_ptr, void* self);

    // What the session needs of WebSocketOptions, copied: send() may run after the
    // Router that owns the options is gone.
    struct Limits {
        std::size_t max_message_bytes;
        std::size_t max_queued_bytes;
        SlowClientPolicy slow_client;
        std::chrono::milliseconds ping_interval;
        std::chrono::milliseconds idle_timeout;
        std::chrono::milliseconds close_timeout;
        std::chrono::milliseconds write_timeout;
    };

    // Immutable after construction.
    TcpStream& m_stream;
    const Limits m_options;
    Runtime* m_runtime;
    const std::uint64_t m_id;
    const Address m_peer;
    const std::string m_subprotocol;
    wslay_event_context_ptr m_ctx = nullptr;

    // Shared with other threads.
    std::mutex m_mutex;
    std::deque<Outgoing> m_pending;        // guarded
    bool m_closing = false;                // guarded: a close is queued or the connection ended
    bool m_finished = false;               // guarded: run_websocket is done; never post again
    bool m_writer_idle = false;            // guarded: the writer is parked
    std::atomic<std::size_t> m_queued{0};  // payload bytes in m_pending, wslay and m_out
    std::atomic<bool> m_open{true};
    std::atomic<std::uint16_t> m_close_code{1006};

    // Owner thread: the connection state.
    std::coroutine_handle<> m_writer_handle{};  // the parked writer
    JoinHandle<void>* m_writer = nullptr;
    bool m_stop = false;          // run_websocket wants the writer gone
    bool m_dropped = false;       // TCP is shut down or failed; nothing more goes out
    bool m_detached = false;      // finish() ran
    bool m_read_stopped = false;  // no more frames are read (close received, or failed)
    bool m_close_received = false;
    bool m_failed = false;         // the server failed the connection (1002, 1007, 1009...)
    bool m_close_flushed = false;  // our close frame reached the kernel
    bool m_close_in_out = false;   // our close frame is in m_out
    bool m_write_shut = false;
    bool m_writer_sleeping = false;
    bool m_reading = false;    // a receive() or linger() is reading
    bool m_lingering = false;  // the handler returned; receive() is over
    std::error_code m_end;     // why the connection ended (for receive())
    Clock::time_point m_close_deadline{};
    Clock::time_point m_last_heard;
    Clock::time_point m_last_ping{};

    // Owner thread: deadlines. The I/O carries no timeout of its own (a linked timeout
    // per recv and send cost ~8% of the CPU of an echo server); the operations in flight
    // publish their deadlines here and the watchdog acts on them.
    bool m_recv_waiting = false;  // receive() waits in a recv
    Clock::time_point m_waiting_since{};
    Clock::time_point m_write_limit = Clock::time_point::max();  // of the send in flight
    Clock::time_point m_watch_wake = Clock::time_point::max();   // the watchdog's next wake
    Clock::duration m_watch_period{};  // the longest the watchdog sleeps
    std::uint64_t m_watch_generation = 0;
    CancelSource m_watch_cancel;

    // Owner thread: reading.
    std::string m_in;
    std::size_t m_in_pos = 0;
    std::size_t m_in_end = 0;
    std::uint64_t m_frame_left = 0;  // bytes of the current frame not yet given to wslay
    bool m_frame_is_data = false;
    bool m_frame_fin = false;
    bool m_in_message = false;  // a data message has started and not finished
    MessageType m_message_type = MessageType::text;
    std::uint64_t m_message_bytes = 0;
    std::string m_partial;
    Utf8Validator m_utf8;
    std::optional<Message> m_ready;

    // Owner thread: writing.
    std::string m_out;
    std::size_t m_in_wslay = 0;    // payload bytes of the message wslay is framing
    std::size_t m_serialized = 0;  // payload bytes fully framed into m_out
};

}  // namespace dally::web::detail
