// Tests for the WebSocket session (dally/web/websocket.hpp, detail::run_websocket): a real
// session on a runtime thread, over a Unix socket pair, driven by a tiny blocking client
// written here (masked frames in, frames out), so that no code is shared with the server.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dally/web/detail/websocket_session.hpp"
#include "test_support.hpp"
#include "web_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using dally::Task;
using dally::web::Message;
using dally::web::MessageType;
using dally::web::SlowClientPolicy;
using dally::web::WebSocket;
using dally::web::WebSocketOptions;
using dally::web::detail::WebSocketRoute;
using dally_test::slowdown;

constexpr int op_cont = 0x0, op_text = 0x1, op_binary = 0x2, op_close = 0x8, op_ping = 0x9,
              op_pong = 0xA;

std::chrono::milliseconds scaled(std::chrono::milliseconds d) { return d * slowdown; }

// One frame as a client sends it: masked unless told otherwise.
std::string frame(int opcode, std::string_view payload, bool fin = true, bool mask = true,
                  int rsv = 0) {
    std::string f;
    f.push_back(static_cast<char>((fin ? 0x80 : 0) | (rsv << 4) | opcode));
    const std::uint64_t n = payload.size();
    const int m = mask ? 0x80 : 0;
    if (n < 126) {
        f.push_back(static_cast<char>(m | static_cast<int>(n)));
    } else if (n < 65536) {
        f.push_back(static_cast<char>(m | 126));
        f.push_back(static_cast<char>(n >> 8));
        f.push_back(static_cast<char>(n & 0xFF));
    } else {
        f.push_back(static_cast<char>(m | 127));
        for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
    }
    const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
    if (mask) f.append(reinterpret_cast<const char*>(key), 4);
    for (std::size_t i = 0; i < payload.size(); ++i) {
        f.push_back(
            static_cast<char>(mask ? payload[i] ^ static_cast<char>(key[i % 4]) : payload[i]));
    }
    return f;
}

std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
    std::string p;
    p.push_back(static_cast<char>(code >> 8));
    p.push_back(static_cast<char>(code & 0xFF));
    p.append(reason);
    return p;
}

struct Frame {
    bool fin = false;
    int opcode = -1;
    std::string payload;
    std::uint16_t close_code() const {
        if (payload.size() < 2) return 1005;
        return static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                          static_cast<unsigned char>(payload[1]));
    }
};

// A blocking client end of the socket pair. Every read has a timeout.
class RawClient {
  public:
    explicit RawClient(int fd) : m_fd(fd) {}
    ~RawClient() {
        if (m_fd >= 0) ::close(m_fd);
    }
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    void send_raw(std::string_view bytes) {
        while (!bytes.empty()) {
            ssize_t n = ::send(m_fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) return;  // the server may already have failed the connection
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
    }
    void send_frame(int opcode, std::string_view payload, bool fin = true) {
        send_raw(frame(opcode, payload, fin));
    }

    // The next frame, or nullopt on EOF, error or timeout.
    std::optional<Frame> read_frame(std::chrono::milliseconds limit = 5000ms) {
        const auto deadline = std::chrono::steady_clock::now() + scaled(limit);
        for (;;) {
            if (auto f = parse()) return f;
            if (!fill(deadline)) return std::nullopt;
        }
    }
    // Reads frames until a close frame; data frames before it land in `data`.
    std::optional<Frame> read_until_close(std::vector<Frame>* data = nullptr,
                                          std::chrono::milliseconds limit = 5000ms) {
        for (;;) {
            auto f = read_frame(limit);
            if (!f || f->opcode == op_close) return f;
            if (data != nullptr) data->push_back(std::move(*f));
        }
    }
    // True if the server closes TCP (EOF) within the limit with nothing more sent.
    bool eof_within(std::chrono::milliseconds limit = 5000ms) {
        const auto deadline = std::chrono::steady_clock::now() + scaled(limit);
        if (!m_buf.empty()) return false;
        char c;
        for (;;) {
            if (!wait_readable(deadline)) return false;
            ssize_t n = ::recv(m_fd, &c, 1, 0);
            if (n == 0) return true;
            if (n > 0) return false;
            if (errno != EINTR) return errno == ECONNRESET;
        }
    }
    // Not-yet-seen bytes are readable right now (the server sent something).
    bool nothing_within(std::chrono::milliseconds limit) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        return m_buf.empty() && !wait_readable(deadline);
    }
    // The HTTP response head (through the blank line); bytes after it stay buffered.
    std::string read_http_head(std::chrono::milliseconds limit = 5000ms) {
        const auto deadline = std::chrono::steady_clock::now() + scaled(limit);
        for (;;) {
            if (auto end = m_buf.find("\r\n\r\n"); end != std::string::npos) {
                std::string head = m_buf.substr(0, end + 4);
                m_buf.erase(0, end + 4);
                return head;
            }
            if (!fill(deadline)) return {};
        }
    }
    int fd() const { return m_fd; }

  private:
    bool wait_readable(std::chrono::steady_clock::time_point deadline) {
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd p{m_fd, POLLIN, 0};
            int r = ::poll(&p, 1, static_cast<int>(left.count()));
            if (r > 0) return true;
            if (r < 0 && errno != EINTR) return false;
        }
    }
    bool fill(std::chrono::steady_clock::time_point deadline) {
        if (!wait_readable(deadline)) return false;
        char buf[65536];
        ssize_t n = ::recv(m_fd, buf, sizeof buf, 0);
        if (n <= 0) return false;
        m_buf.append(buf, static_cast<std::size_t>(n));
        return true;
    }
    std::optional<Frame> parse() {
        if (m_buf.size() < 2) return std::nullopt;
        const auto* p = reinterpret_cast<const unsigned char*>(m_buf.data());
        EXPECT_EQ(p[1] & 0x80, 0) << "server frames must not be masked";
        std::uint64_t len = p[1] & 0x7F;
        std::size_t pos = 2;
        if (len == 126) {
            if (m_buf.size() < 4) return std::nullopt;
            len = (std::uint64_t{p[2]} << 8) | p[3];
            pos = 4;
        } else if (len == 127) {
            if (m_buf.size() < 10) return std::nullopt;
            len = 0;
            for (int i = 2; i < 10; ++i) len = (len << 8) | p[i];
            pos = 10;
        }
        if (m_buf.size() < pos + len) return std::nullopt;
        Frame f;
        f.fin = (p[0] & 0x80) != 0;
        f.opcode = p[0] & 0x0F;
        EXPECT_EQ(p[0] & 0x70, 0) << "server frames have no RSV bits";
        f.payload = m_buf.substr(pos, static_cast<std::size_t>(len));
        m_buf.erase(0, pos + static_cast<std::size_t>(len));
        return f;
    }

    int m_fd;
    std::string m_buf;
};

// A session on its own runtime thread, with the client end of a socket pair.
class Session {
  public:
    using Handler = dally::web::WebSocketHandler;

    explicit Session(Handler handler, WebSocketOptions options = {}, std::string leftover = {}) {
        auto pair = dally::UnixStream::pair().value();
        m_client = std::make_unique<RawClient>(pair.second.release());
        const int server_fd = pair.first.release();
        m_route = std::make_shared<WebSocketRoute>(
            WebSocketRoute{std::move(options), std::move(handler)});
        m_done = m_rt->submit(
            [route = m_route, server_fd, leftover = std::move(leftover)]() -> Task<void> {
                dally::TcpStream stream(server_fd);
                dally::web::Request request;
                std::shared_ptr<WebSocket> out;
                co_await dally::web::detail::run_websocket(stream, leftover, request, *route,
                                                           "chat", &out);
                EXPECT_EQ(out, nullptr) << "run_websocket resets *out before it returns";
            });
    }
    ~Session() {
        m_client.reset();  // the client goes away: the session ends on EOF if still running
        if (m_done.valid()) {
            EXPECT_TRUE(finished(10000ms)) << "the session ends after the client left";
        }
    }

    RawClient& client() { return *m_client; }
    dally::Runtime& runtime() { return *m_rt; }
    bool finished(std::chrono::milliseconds limit = 5000ms) {
        return m_done.wait_for(scaled(limit)) == std::future_status::ready;
    }
    // Destroys the runtime now, with whatever the session still has in flight.
    void stop_runtime() { m_rt.stop(); }

  private:
    dally_test::RuntimeThread m_rt;
    std::unique_ptr<RawClient> m_client;
    std::shared_ptr<WebSocketRoute> m_route;
    std::future<void> m_done;
};

Task<void> echo(std::shared_ptr<WebSocket> ws, dally::web::Request&) {
    for (;;) {
        auto msg = co_await ws->receive();
        if (!msg) co_return;
        ws->send(msg->type, std::move(msg->data));
    }
}

// Hands the WebSocket to the test thread, then reads until the connection closes.
struct Published {
    std::promise<std::shared_ptr<WebSocket>> socket;
    std::promise<std::error_code> ended;
    Session::Handler handler() {
        return [this](std::shared_ptr<WebSocket> ws, dally::web::Request&) -> Task<void> {
            socket.set_value(ws);
            for (;;) {
                auto msg = co_await ws->receive();
                if (!msg) {
                    ended.set_value(msg.error());
                    co_return;
                }
            }
        };
    }
};

// The client answers the server's close and expects TCP to close after it.
void finish_close_handshake(RawClient& c, std::uint16_t code) {
    c.send_frame(op_close, close_payload(code));
    EXPECT_TRUE(c.eof_within()) << "the server closes TCP after the close handshake";
}

void expect_fail(RawClient& c, std::uint16_t code) {
    auto f = c.read_until_close();
    ASSERT_TRUE(f) << "expected a close frame with " << code;
    EXPECT_EQ(f->close_code(), code);
    EXPECT_TRUE(c.eof_within()) << "the server closes TCP after failing the connection";
}

// ------------------------------------------------------------------ messages

TEST(WebSocket, EchoesTextAndBinaryMessages) {
    Session s(echo);
    std::string binary;
    for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
    s.client().send_frame(op_text, "hello \u00e9\U0001F600");
    s.client().send_frame(op_binary, binary);
    s.client().send_frame(op_text, "");
    auto a = s.client().read_frame();
    auto b = s.client().read_frame();
    auto c = s.client().read_frame();
    ASSERT_TRUE(a && b && c);
    EXPECT_EQ(a->opcode, op_text);
    EXPECT_EQ(a->payload, "hello \u00e9\U0001F600");
    EXPECT_EQ(b->opcode, op_binary);
    EXPECT_EQ(b->payload, binary);
    EXPECT_EQ(c->opcode, op_text);
    EXPECT_EQ(c->payload, "");
    EXPECT_TRUE(a->fin && b->fin && c->fin);
}

TEST(WebSocket, LargeMessagesOfEveryLengthEncodingAreEchoedWhole) {
    Session s(echo);
    for (std::size_t n : {125u, 126u, 65535u, 65536u, 3u << 20}) {
        std::string payload(n, '\0');
        for (std::size_t i = 0; i < n; ++i) payload[i] = static_cast<char>(i * 7 + n);
        std::thread sender([&] { s.client().send_frame(op_binary, payload); });
        auto f = s.client().read_frame(10000ms);
        sender.join();
        ASSERT_TRUE(f) << n;
        EXPECT_EQ(f->payload.size(), n);
        EXPECT_TRUE(f->payload == payload) << n;
    }
}

TEST(WebSocket, ReassemblesAFragmentedMessageAndAnswersAPingInTheMiddle) {
    Session s(echo);
    s.client().send_frame(op_text, "frag", false);
    s.client().send_frame(op_cont, "men", false);
    s.client().send_frame(op_ping, "are you there");
    s.client().send_frame(op_cont, "ted \u20ac", true);
    auto pong = s.client().read_frame();
    ASSERT_TRUE(pong);
    EXPECT_EQ(pong->opcode, op_pong);
    EXPECT_EQ(pong->payload, "are you there");
    auto msg = s.client().read_frame();
    ASSERT_TRUE(msg);
    EXPECT_EQ(msg->opcode, op_text);
    EXPECT_TRUE(msg->fin);
    EXPECT_EQ(msg->payload, "fragmented \u20ac");
}

TEST(WebSocket, TextSplitInsideACharacterAcrossFragmentsIsValid) {
    Session s(echo);
    const std::string euro = "\u20ac";  // 3 bytes
    s.client().send_frame(op_text, "x" + euro.substr(0, 1), false);
    s.client().send_frame(op_cont, euro.substr(1, 1), false);
    s.client().send_frame(op_cont, euro.substr(2), true);
    auto f = s.client().read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->payload, "x" + euro);
}

TEST(WebSocket, PingGetsAPongWithTheSamePayload) {
    Session s(echo);
    s.client().send_frame(op_ping, "12345");
    auto f = s.client().read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->opcode, op_pong);
    EXPECT_EQ(f->payload, "12345");
}

TEST(WebSocket, BytesReadWithTheHandshakeAreTheFirstFrame) {
    Session s(echo, {}, frame(op_text, "early bird"));
    auto f = s.client().read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->payload, "early bird");
}

TEST(WebSocket, AccessorsDescribeTheConnection) {
    Published p;
    Session s(p.handler());
    auto ws = p.socket.get_future().get();
    EXPECT_EQ(ws->subprotocol(), "chat");
    EXPECT_TRUE(ws->is_open());
    EXPECT_EQ(ws->close_code(), 1006);
    EXPECT_EQ(ws->queued_bytes(), 0u);
    Published q;
    Session t(q.handler());
    EXPECT_NE(q.socket.get_future().get()->id(), ws->id());
}

// ------------------------------------------------------------------ closing

TEST(WebSocket, ClientCloseIsEchoedThenTcpCloses) {
    Published p;
    Session s(p.handler());
    auto ws = p.socket.get_future().get();
    s.client().send_frame(op_close, close_payload(4321, "bye"));
    auto f = s.client().read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->opcode, op_close);
    EXPECT_EQ(f->close_code(), 4321);
    EXPECT_TRUE(s.client().eof_within());
    EXPECT_EQ(p.ended.get_future().get(), std::errc::not_connected);
    EXPECT_EQ(ws->close_code(), 4321);
    EXPECT_FALSE(ws->is_open());
    EXPECT_TRUE(s.finished());
}

TEST(WebSocket, CloseWithoutCodeIsAnsweredWith1000) {
    Session s(echo);
    s.client().send_frame(op_close, "");
    auto f = s.client().read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->opcode, op_close);
    EXPECT_EQ(f->close_code(), 1000);
    EXPECT_TRUE(s.client().eof_within());
}

TEST(WebSocket, ValidCloseCodesAreEchoed) {
    for (std::uint16_t code : {1000, 1001, 1003, 1007, 1011, 1012, 1013, 1014, 3000, 4999}) {
        Session s(echo);
        s.client().send_frame(op_close, close_payload(code, "reason \u00e9"));
        auto f = s.client().read_frame();
        ASSERT_TRUE(f) << code;
        EXPECT_EQ(f->close_code(), code);
        EXPECT_TRUE(s.client().eof_within()) << code;
    }
}

TEST(WebSocket, InvalidCloseCodesAreProtocolErrors) {
    for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2999, 5000, 65535}) {
        Session s(echo);
        s.client().send_frame(op_close, close_payload(code));
        expect_fail(s.client(), 1002);
    }
}

TEST(WebSocket, OneByteClosePayloadIsAProtocolError) {
    Session s(echo);
    s.client().send_frame(op_close, "\x03");
    expect_fail(s.client(), 1002);
}

TEST(WebSocket, InvalidUtf8CloseReasonIs1007) {
    Session s(echo);
    s.client().send_frame(op_close, close_payload(1000, "\xc3\x28"));
    expect_fail(s.client(), 1007);
}

TEST(WebSocket, HandlerReturnClosesWith1000AfterItsMessages) {
    Session s([](std::shared_ptr<WebSocket> ws, dally::web::Request&) -> Task<void> {
        ws->send_text("one");
        ws->send_text("two");
        co_return;
    });
    std::vector<Frame> data;
    auto f = s.client().read_until_close(&data);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->close_code(), 1000);
    ASSERT_EQ(data.size(), 2u);
    EXPECT_EQ(data[0].payload, "one");
    EXPECT_EQ(data[1].payload, "two");
    finish_close_handshake(s.client(), 1000);
    EXPECT_TRUE(s.finished());
}

TEST(WebSocket, HandlerExceptionClosesWith1011) {
    Session s([](std::shared_ptr<WebSocket>, dally::web::Request&) -> Task<void> {
        throw std::runtime_error("handler bug (expected by the test)");
        co_return;
    });
    auto f = s.client().read_until_close();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->close_code(), 1011);
    finish_close_handshake(s.client(), 1011);
}

TEST(WebSocket, ServerCloseWaitsForTheReplyThenTcpCloses) {
    Published p;
    Session s(p.handler());
    auto ws = p.socket.get_future().get();
    ws->close(4000, "game over");
    EXPECT_FALSE(ws->is_open());
    EXPECT_FALSE(ws->send_text("too late"));
    auto f = s.client().read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->opcode, op_close);
    EXPECT_EQ(f->close_code(), 4000);
    EXPECT_EQ(f->payload.substr(2), "game over");
    s.client().send_frame(op_text, "in flight, discarded");
    finish_close_handshake(s.client(), 4000);
    EXPECT_EQ(p.ended.get_future().get(), std::errc::not_connected);
    EXPECT_EQ(ws->close_code(), 4000);
}

TEST(WebSocket, ServerCloseWithoutReplyDropsTcpAfterCloseTimeout) {
    Published p;
    Session s(p.handler(), {.close_timeout = 200ms});
    auto ws = p.socket.get_future().get();
    const auto t0 = dally::Clock::now();
    ws->close(1001, {});
    auto f = s.client().read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->close_code(), 1001);
    EXPECT_TRUE(s.client().eof_within(3000ms)) << "no reply: TCP is dropped";
    EXPECT_GE(dally_test::ms_since(t0), 150);
    EXPECT_EQ(ws->close_code(), 1006);
}

TEST(WebSocket, CloseRejectsInvalidCodesAndLongReasons) {
    Published p;
    Session s(p.handler());
    auto ws = p.socket.get_future().get();
    EXPECT_THROW(ws->close(1005), std::invalid_argument);
    EXPECT_THROW(ws->close(1000, std::string(124, 'x')), std::invalid_argument);
    EXPECT_TRUE(ws->is_open());
    ws->close(1000, std::string(123, 'x'));
    auto f = s.client().read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->payload.size(), 125u);
    finish_close_handshake(s.client(), 1000);
}

// ------------------------------------------------------------------ protocol errors

struct BadInput {
    const char* name;
    std::string bytes;
    std::uint16_t code;
};

TEST(WebSocket, EveryProtocolErrorClosesWithItsCodeThenTcp) {
    std::string unminimal_16 = frame(op_binary, std::string(10, 'a'));
    unminimal_16.replace(1, 1, std::string("\xFE\x00\x0A", 3));  // 10 in the 16-bit form
    std::string top_bit_64("\x82\xFF\x80\x00\x00\x00\x00\x00\x00\x00", 10);
    const std::vector<BadInput> inputs = {
        {"rsv1", frame(op_text, "x", true, true, 4), 1002},
        {"rsv2", frame(op_text, "x", true, true, 2), 1002},
        {"rsv3 on a ping", frame(op_ping, "x", true, true, 1), 1002},
        {"reserved data opcode 3", frame(0x3, "x"), 1002},
        {"reserved control opcode 0xB", frame(0xB, "x"), 1002},
        {"unmasked frame", frame(op_text, "x", true, false), 1002},
        {"ping longer than 125", frame(op_ping, std::string(126, 'p')), 1002},
        {"fragmented ping", frame(op_ping, "p", false), 1002},
        {"continuation without start", frame(op_cont, "x"), 1002},
        {"text inside a fragmented message", frame(op_text, "a", false) + frame(op_text, "b"),
         1002},
        {"length not minimally encoded", unminimal_16, 1002},
        {"64-bit length with the top bit", top_bit_64, 1002},
        {"invalid utf-8",
         frame(op_text, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"), 1007},
        {"utf-8 cut at the end of a message", frame(op_text, "ok\xe2\x82"), 1007},
        {"overlong utf-8", frame(op_text, "\xc0\xaf"), 1007},
    };
    for (const BadInput& in : inputs) {
        SCOPED_TRACE(in.name);
        Session s(echo);
        s.client().send_raw(in.bytes);
        expect_fail(s.client(), in.code);
    }
}

TEST(WebSocket, InvalidUtf8FailsAtTheBadFragmentNotAtTheEnd) {
    Session s(echo);
    s.client().send_frame(op_text, "fine so far", false);
    s.client().send_frame(op_cont, "\xed\xa0\x80 surrogate", false);
    // No final fragment: the server must not wait for it.
    expect_fail(s.client(), 1007);
}

TEST(WebSocket, MessagesBeforeAnErrorAreEchoedBeforeTheClose) {
    Session s(echo);
    s.client().send_raw(frame(op_text, "first") + frame(op_binary, "second") +
                        frame(op_text, "\xff"));
    std::vector<Frame> data;
    auto f = s.client().read_until_close(&data);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->close_code(), 1007);
    ASSERT_EQ(data.size(), 2u);
    EXPECT_EQ(data[0].payload, "first");
    EXPECT_EQ(data[1].payload, "second");
    EXPECT_TRUE(s.client().eof_within());
}

TEST(WebSocket, OversizeMessageClosesWith1009) {
    Session s(echo, {.max_message_bytes = 1000});
    s.client().send_frame(op_binary, std::string(1000, 'a'));
    auto ok = s.client().read_frame();
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->payload.size(), 1000u);
    s.client().send_frame(op_binary, std::string(1001, 'a'));
    expect_fail(s.client(), 1009);
}

TEST(WebSocket, OversizeFragmentedMessageFailsAtTheFrameThatCrossesTheLimit) {
    Session s(echo, {.max_message_bytes = 1000});
    s.client().send_frame(op_text, std::string(600, 'a'), false);
    // Only the header of the next frame: the limit is enforced before its payload arrives.
    std::string second = frame(op_cont, std::string(600, 'b'));
    s.client().send_raw(second.substr(0, 8));
    expect_fail(s.client(), 1009);
}

// ------------------------------------------------------------------ keepalive

TEST(WebSocket, ServerPingsAfterPingIntervalOfSilence) {
    Session s(echo, {.ping_interval = 100ms, .idle_timeout = 0ms});
    auto f = s.client().read_frame(2000ms);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->opcode, op_ping);
    s.client().send_frame(op_pong, f->payload);
    auto g = s.client().read_frame(2000ms);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->opcode, op_ping) << "and again after another interval";
}

TEST(WebSocket, TrafficPostponesThePing) {
    Session s(echo, {.ping_interval = 300ms * slowdown, .idle_timeout = 0ms});
    for (int i = 0; i < 6; ++i) {
        std::this_thread::sleep_for(100ms * slowdown);
        s.client().send_frame(op_text, "tick");
        auto f = s.client().read_frame();
        ASSERT_TRUE(f);
        EXPECT_EQ(f->opcode, op_text) << "no ping while the client talks";
    }
}

TEST(WebSocket, IdleTimeoutClosesWith1001) {
    Published p;
    Session s(p.handler(), {.ping_interval = 0ms, .idle_timeout = 200ms});
    auto ws = p.socket.get_future().get();
    const auto t0 = dally::Clock::now();
    auto f = s.client().read_frame(3000ms);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->opcode, op_close);
    EXPECT_EQ(f->close_code(), 1001);
    EXPECT_GE(dally_test::ms_since(t0), 150);
    finish_close_handshake(s.client(), 1001);
    EXPECT_EQ(p.ended.get_future().get(), std::errc::not_connected);
}

TEST(WebSocket, WriteTimeoutDropsAClientThatReadsNothing) {
    Published p;
    Session s(p.handler(), {.max_queued_bytes = 64u << 20,
                            .ping_interval = 0ms,
                            .idle_timeout = 0ms,
                            .write_timeout = 300ms});
    auto ws = p.socket.get_future().get();
    const auto t0 = dally::Clock::now();
    // Far more than the socket buffers hold; the client reads none of it.
    const std::string chunk(256 * 1024, 'w');
    for (int i = 0; i < 32; ++i) ASSERT_TRUE(ws->send_binary(chunk));
    auto ended = p.ended.get_future();
    ASSERT_EQ(ended.wait_for(scaled(5000ms)), std::future_status::ready)
        << "a write stuck for write_timeout ends the connection";
    EXPECT_EQ(ended.get(), std::errc::timed_out);
    EXPECT_GE(dally_test::ms_since(t0), 250);
    EXPECT_FALSE(ws->is_open());
    EXPECT_FALSE(ws->send_text("after the drop"));
}

TEST(WebSocket, PingsContinueWhileTheClientKeepsUpWithAStream) {
    // The watchdog's read deadlines and the writer's write deadlines together: a stream of
    // server messages the client reads does not stop the pings (silence is the client's).
    Published p;
    Session s(p.handler(), {.ping_interval = 150ms, .idle_timeout = 0ms, .write_timeout = 5000ms});
    auto ws = p.socket.get_future().get();
    std::atomic<bool> stop{false};
    std::thread sender([&] {
        while (!stop.load()) {
            ws->send_text("tick");
            std::this_thread::sleep_for(10ms);
        }
    });
    int pings = 0;
    int ticks = 0;
    const auto t0 = dally::Clock::now();
    while (pings < 2 && dally_test::ms_since(t0) < 5000 * slowdown) {
        auto f = s.client().read_frame(2000ms);
        ASSERT_TRUE(f);
        if (f->opcode == op_ping) {
            ++pings;
            s.client().send_frame(op_pong, f->payload);
        } else {
            EXPECT_EQ(f->payload, "tick");
            ++ticks;
        }
    }
    stop = true;
    sender.join();
    EXPECT_EQ(pings, 2);
    EXPECT_GT(ticks, 5);
}

// ------------------------------------------------------------------ sending from other threads

TEST(WebSocket, SlowClientWithPolicyCloseEndsWith1008AndTheQueueStaysBounded) {
    constexpr std::size_t bound = 1u << 20;
    Published p;
    Session s(p.handler(), {.max_queued_bytes = bound, .slow_client = SlowClientPolicy::close});
    auto ws = p.socket.get_future().get();
    const std::string chunk(64 * 1024, 'z');
    std::size_t sent = 0;
    bool refused = false;
    // This thread is not a runtime: the game thread of an app. The client reads nothing.
    while (sent < (100u << 20)) {
        if (!ws->send_binary(chunk)) {
            refused = true;
            break;
        }
        sent += chunk.size();
        ASSERT_LE(ws->queued_bytes(), bound);
    }
    ASSERT_TRUE(refused) << "100 MiB went into a client that reads nothing";
    EXPECT_LE(ws->queued_bytes(), bound);
    EXPECT_FALSE(ws->is_open());
    EXPECT_FALSE(ws->send_binary("after the close"));
    // The client wakes up: what was already on its way, then the close.
    std::vector<Frame> data;
    auto f = s.client().read_until_close(&data, 10000ms);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->close_code(), 1008);
    for (const Frame& d : data) EXPECT_EQ(d.payload, chunk);
    EXPECT_LT(data.size() * chunk.size(), sent);
    finish_close_handshake(s.client(), 1008);
    EXPECT_EQ(ws->close_code(), 1008);
}

TEST(WebSocket, SlowClientWithPolicyDropLosesMessagesNotTheConnection) {
    constexpr std::size_t bound = 1u << 20;
    Published p;
    Session s(p.handler(), {.max_queued_bytes = bound, .slow_client = SlowClientPolicy::drop});
    auto ws = p.socket.get_future().get();
    std::size_t refused = 0;
    std::uint32_t last_accepted = 0;
    for (std::uint32_t i = 1; i <= 1600; ++i) {  // 100 MiB of 64 KiB messages
        std::string msg(64 * 1024, 'd');
        std::memcpy(msg.data(), &i, sizeof i);
        if (ws->send_binary(std::move(msg))) {
            last_accepted = i;
        } else {
            ++refused;
        }
        ASSERT_LE(ws->queued_bytes(), bound);
    }
    EXPECT_GT(refused, 0u);
    EXPECT_TRUE(ws->is_open());
    // Delivered in order, a gap where they were dropped, and the connection still works:
    // once the client reads, the queue drains and a send is accepted again.
    std::thread closer([&] {
        while (!ws->send_text("end")) std::this_thread::sleep_for(1ms);
    });
    std::uint32_t previous = 0;
    for (;;) {
        auto f = s.client().read_frame(10000ms);
        ASSERT_TRUE(f);
        if (f->opcode == op_text) {
            EXPECT_EQ(f->payload, "end");
            break;
        }
        std::uint32_t seq;
        std::memcpy(&seq, f->payload.data(), sizeof seq);
        EXPECT_GT(seq, previous);
        EXPECT_LE(seq, last_accepted);
        previous = seq;
    }
    closer.join();
    EXPECT_EQ(previous, last_accepted);
}

TEST(WebSocket, MessagesFromManyThreadsKeepEachThreadsOrder) {
    Published p;
    Session s(p.handler());
    auto ws = p.socket.get_future().get();
    constexpr int threads = 4, per_thread = 500;
    std::vector<std::thread> senders;
    for (int t = 0; t < threads; ++t) {
        senders.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i)
                ASSERT_TRUE(ws->send_text(std::to_string(t) + ":" + std::to_string(i)));
        });
    }
    std::vector<int> next(threads, 0);
    for (int n = 0; n < threads * per_thread; ++n) {
        auto f = s.client().read_frame();
        ASSERT_TRUE(f) << n;
        const auto colon = f->payload.find(':');
        const int t = std::stoi(f->payload.substr(0, colon));
        const int i = std::stoi(f->payload.substr(colon + 1));
        EXPECT_EQ(i, next[t]) << "thread " << t;
        next[t] = i + 1;
    }
    for (auto& th : senders) th.join();
    // The count drops when the writer resumes after its write, just after the client saw it.
    const auto t0 = dally::Clock::now();
    while (ws->queued_bytes() != 0 && dally_test::ms_since(t0) < 2000 * slowdown)
        std::this_thread::sleep_for(1ms);
    EXPECT_EQ(ws->queued_bytes(), 0u);
}

TEST(WebSocket, SendAfterTheConnectionEndedReturnsFalse) {
    Published p;
    std::shared_ptr<WebSocket> ws;
    {
        Session s(p.handler());
        ws = p.socket.get_future().get();
        s.client().send_frame(op_close, close_payload(1000));
        ASSERT_TRUE(s.client().read_frame());
        ASSERT_TRUE(s.finished());
        std::thread other([&] { EXPECT_FALSE(ws->send_text("after the end")); });
        other.join();
    }
    // The runtime is gone too; the WebSocket object is still valid.
    EXPECT_FALSE(ws->send_text("after the runtime"));
    EXPECT_FALSE(ws->is_open());
    ws->close(1000);
    EXPECT_EQ(ws->queued_bytes(), 0u);
}

TEST(WebSocket, CancelledSessionEndsCleanlyWhileAnotherThreadSends) {
    auto pair = dally::UnixStream::pair().value();
    RawClient client(pair.second.release());
    const int server_fd = pair.first.release();
    Published p;
    auto route = std::make_shared<WebSocketRoute>(WebSocketRoute{{}, p.handler()});
    dally_test::RuntimeThread rt;
    auto session = [route, server_fd]() -> Task<void> {
        dally::TcpStream stream(server_fd);
        dally::web::Request request;
        co_await dally::web::detail::run_websocket(stream, {}, request, *route, {}, nullptr);
    };
    auto handle = rt->submit([&] { return rt->spawn(session()); }).get();
    auto ws = p.socket.get_future().get();
    std::atomic<bool> stop{false};
    std::atomic<int> accepted{0};
    std::thread sender([&] {
        while (!stop.load()) {
            if (ws->send_text("spam")) accepted.fetch_add(1);
        }
    });
    while (accepted.load() < 100) std::this_thread::yield();
    handle.cancel();
    EXPECT_EQ(p.ended.get_future().get(), std::errc::operation_canceled);
    while (!handle.done()) std::this_thread::sleep_for(1ms);
    EXPECT_FALSE(ws->is_open());
    EXPECT_FALSE(ws->send_text("after"));
    rt.stop();  // the runtime goes away while the sender still calls send()
    std::this_thread::sleep_for(20ms);
    stop = true;
    sender.join();
    EXPECT_FALSE(ws->send_text("after the runtime"));
}

TEST(WebSocket, RuntimeDestroyedMidSessionLeavesASafeWebSocket) {
    Published p;
    std::shared_ptr<WebSocket> ws;
    std::atomic<bool> stop{false};
    std::thread sender;
    {
        Session s(p.handler());
        ws = p.socket.get_future().get();
        sender = std::thread([&] {
            while (!stop.load()) (void)ws->send_text("x");
        });
        std::this_thread::sleep_for(20ms);
        s.stop_runtime();  // destroys the session's tasks mid-flight (Executor::stop's path)
        EXPECT_FALSE(ws->is_open());
    }
    stop = true;
    sender.join();
    EXPECT_FALSE(ws->send_text("after"));
}

// ------------------------------------------------------------------ through web::Server

int connect_loopback(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
}

std::string upgrade_request(std::string_view path, std::string_view extra = {}) {
    std::string r = "GET ";
    r += path;
    r += " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    r += extra;
    r += "\r\n";
    return r;
}

TEST(WebSocketServer, UpgradesEchoesAndClosesWith1001OnShutdown) {
    std::promise<std::shared_ptr<WebSocket>> published;
    dally::web::Router router;
    router.websocket(
        "/ws/{room}", {.subprotocols = {"mud.v1"}},
        [&published](std::shared_ptr<WebSocket> ws, dally::web::Request& req) -> Task<void> {
            published.set_value(ws);
            const std::string room(req.param("room"));
            for (;;) {
                auto msg = co_await ws->receive();
                if (!msg) co_return;
                ws->send_text(room + ": " + msg->data);
            }
        });
    auto server = std::make_unique<web_test::TestServer>(std::move(router));
    RawClient c(connect_loopback(server->port()));
    // The first frame rides in the same write as the request head.
    c.send_raw(upgrade_request("/ws/lobby", "Sec-WebSocket-Protocol: chat, mud.v1\r\n") +
               frame(op_text, "hi"));
    const std::string head = c.read_http_head();
    EXPECT_EQ(head.rfind("HTTP/1.1 101 ", 0), 0u) << head;
    EXPECT_NE(head.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
              std::string::npos)
        << head;
    EXPECT_NE(head.find("Sec-WebSocket-Protocol: mud.v1\r\n"), std::string::npos) << head;
    auto echo = c.read_frame();
    ASSERT_TRUE(echo);
    EXPECT_EQ(echo->payload, "lobby: hi");
    auto ws = published.get_future().get();
    EXPECT_EQ(ws->subprotocol(), "mud.v1");
    EXPECT_TRUE(ws->peer().is_loopback());

    std::thread stopper([&] { server->stop(); });  // returns once the connection is done
    auto f = c.read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->opcode, op_close);
    EXPECT_EQ(f->close_code(), 1001);
    finish_close_handshake(c, 1001);
    stopper.join();
    server.reset();
    // The options the session was made with are gone with the server; the socket is not.
    EXPECT_FALSE(ws->send_text("after the server"));
    EXPECT_EQ(ws->close_code(), 1001);
}

TEST(WebSocketServer, PlainGetOfAWebSocketRouteIs426AndBadRequestsAre400) {
    dally::web::Router router;
    router.websocket("/ws", {}, echo);
    web_test::TestServer server(std::move(router));
    {
        RawClient c(connect_loopback(server.port()));
        c.send_raw("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        const std::string head = c.read_http_head();
        EXPECT_EQ(head.rfind("HTTP/1.1 426 ", 0), 0u) << head;
    }
    {
        std::string bad = upgrade_request("/ws");
        bad.replace(bad.find("dGhlIHNhbXBsZSBub25jZQ=="), 24, "tooshort");
        RawClient c(connect_loopback(server.port()));
        c.send_raw(bad);
        const std::string head = c.read_http_head();
        EXPECT_EQ(head.rfind("HTTP/1.1 400 ", 0), 0u) << head;
    }
}

}  // namespace
