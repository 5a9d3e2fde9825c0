// dally/web/websocket.hpp: WebSocket endpoints (RFC 6455) over wslay, for dally::web.
//
// A route registered with Router::websocket() upgrades matching requests and runs the
// handler coroutine with a shared WebSocket. The handler reads with receive() (which
// also answers pings and the close handshake) on the connection's runtime; any thread
// may send() — the game thread of an app, another runtime — through an ordered,
// bounded send queue drained by one writer coroutine per connection.
//
//     router.websocket("/ws", {}, [](std::shared_ptr<web::WebSocket> ws, web::Request&) -> Task<void> {
//         for (;;) {
//             auto msg = co_await ws->receive();
//             if (!msg) co_return;                       // closed; the close code is in ws->close_code()
//             ws->send(msg->type, std::move(msg->data));  // echo
//         }
//     });
#pragma once

#include "dally/net.hpp"
#include "dally/result.hpp"
#include "dally/task.hpp"
#include "dally/web/http.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dally::web {

// What happens to a message sent to a client whose send queue is full.
enum class SlowClientPolicy : std::uint8_t {
    close,  // close the connection with 1008 (policy violation); the message is not sent
    drop,   // drop the message; the connection stays open
};

struct WebSocketOptions {
    // Largest incoming message (all fragments); a bigger one closes with 1009.
    std::size_t max_message_bytes = 16u << 20;
    // Bound on message bytes queued for sending on one connection, counting the message
    // being written until it is written (queued_bytes()); see slow_client. A message
    // larger than this is never sent.
    std::size_t max_queued_bytes = 16u << 20;
    // Applied when a send() would exceed max_queued_bytes.
    SlowClientPolicy slow_client = SlowClientPolicy::close;
    // A ping is sent after this long without traffic from the client; 0 = never.
    std::chrono::milliseconds ping_interval{30'000};
    // The connection is closed (1001) after this long without traffic from the client
    // (pongs count); 0 = never.
    std::chrono::milliseconds idle_timeout{75'000};
    // How long to wait, once a close is under way, for the close frame to go out and the
    // client's reply to come back before the TCP connection is dropped. (A write already
    // stuck on a client that reads nothing ends at write_timeout.)
    std::chrono::milliseconds close_timeout{5'000};
    // A write to the socket (at most 64 KiB of frames) must finish within this time, else
    // the client is considered gone and the TCP connection is dropped.
    std::chrono::milliseconds write_timeout{30'000};
    // Supported subprotocols, in the server's order of preference. When the client offers
    // some and none is supported, the handshake still succeeds without one.
    std::vector<std::string> subprotocols{};
    // Allowed Origin header values (e.g. "https://mud.example"); empty allows any. A
    // request whose Origin is not listed gets 403 (cross-site WebSocket hijacking).
    // Requests without Origin (non-browser clients) are allowed.
    std::vector<std::string> allowed_origins{};
};

enum class MessageType : std::uint8_t { text, binary };

struct Message {
    MessageType type = MessageType::text;
    std::string data;
};

// One WebSocket connection. Shared by the session, the handler and whoever sends to it.
class WebSocket {
public:
    virtual ~WebSocket() = default;

    // Queues a message (text must be valid UTF-8; it is not checked here). Any thread; the
    // messages of one thread go out in the order sent. False if the connection is closing
    // or closed, or if the message would take the queue past max_queued_bytes (then the
    // slow-client policy applies: the connection closes with 1008, or just this message is
    // dropped). Cheap: the writer is woken (one post to the connection's runtime) only when
    // it is idle. Safe to call at any time, even after the connection ended.
    virtual bool send(MessageType type, std::string data) = 0;
    bool send_text(std::string data) { return send(MessageType::text, std::move(data)); }
    bool send_binary(std::string data) { return send(MessageType::binary, std::move(data)); }

    // Starts the close handshake (queued after the messages already queued). Any thread;
    // later calls are ignored. `code` must be a valid close code (1000-1003, 1007-1014,
    // 3000-4999) and `reason` at most 123 bytes of UTF-8, else std::invalid_argument.
    virtual void close(std::uint16_t code = 1000, std::string_view reason = {}) = 0;

    // The next complete message. On the connection's runtime, from the handler (one
    // reader at a time; std::logic_error otherwise). An error when the connection is
    // closed: operation_canceled if the handler's task was cancelled, connection_reset (or
    // the socket's error, or timed_out) if the TCP connection dropped without a close
    // frame, and otherwise `std::errc::not_connected` once a close frame was received or
    // the server closed (see close_code()). Messages are read only while the handler
    // awaits receive(): a handler that stops reading stops the client (TCP backpressure).
    // While it waits, receive() answers pings, sends pings after ping_interval of silence
    // and closes after idle_timeout (time spent outside receive() does not count). After
    // the server started closing (close(), slow client, idle), messages still arriving
    // are discarded while it waits for the client's close reply. Once the handler has
    // returned, receive() gets not_connected.
    virtual Task<Result<Message>> receive() = 0;

    // Unique per process.
    virtual std::uint64_t id() const noexcept = 0;
    virtual const Address& peer() const noexcept = 0;
    // The negotiated subprotocol, or "".
    virtual const std::string& subprotocol() const noexcept = 0;
    // False once a close was started by either side (a close frame queued, sent or
    // received) or the connection dropped. Any thread.
    virtual bool is_open() const noexcept = 0;
    // The close code received from the client (1005 if its close frame had none), or 1006
    // if no valid close frame arrived. Any thread.
    virtual std::uint16_t close_code() const noexcept = 0;
    // Bytes queued and not yet written. Any thread.
    virtual std::size_t queued_bytes() const noexcept = 0;
};

// Runs for each accepted WebSocket; the connection closes (1000) when it returns.
using WebSocketHandler = std::function<Task<void>(std::shared_ptr<WebSocket>, Request&)>;

}  // namespace dally::web
