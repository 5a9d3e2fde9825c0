// Tests for dally/net.hpp: Address parsing and formatting, TCP over 127.0.0.1 and [::1],
// Unix sockets, close/shutdown semantics, many connections, listener lifetime.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <dally/net.hpp>
#include <dally/runtime.hpp>
#include <dally/time.hpp>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using dally::Address;
using dally::Runtime;
using dally::Task;
using dally_test::ms_since;
using dally_test::slowdown;

// Receives exactly `n` bytes (or fewer if the peer closes or 5 s pass without data).
template <class S>
Task<std::string> recv_exactly(S& s, std::size_t n) {
    std::string out;
    char buf[4096];
    while (out.size() < n) {
        auto r = co_await dally::timeout(
            5s, s.recv(std::span<char>(buf, std::min(sizeof buf, n - out.size()))));
        if (!r || *r == 0) break;
        out.append(buf, *r);
    }
    co_return out;
}

// ---------------------------------------------------------------- Address

TEST(Address, ParsesIpv4WithPort) {
    auto a = Address::parse("127.0.0.1:8080");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->family(), AF_INET);
    EXPECT_EQ(a->port(), 8080);
    EXPECT_EQ(a->to_string(), "127.0.0.1:8080");
    EXPECT_EQ(a->size(), sizeof(sockaddr_in));
}

TEST(Address, ParsesBracketedIpv6WithPort) {
    auto a = Address::parse("[::1]:8080");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->family(), AF_INET6);
    EXPECT_EQ(a->port(), 8080);
    EXPECT_EQ(a->to_string(), "[::1]:8080");
    EXPECT_TRUE(a->is_loopback());
    auto full = Address::parse("[2001:db8::7]:1");
    ASSERT_TRUE(full.ok());
    EXPECT_EQ(full->to_string(), "[2001:db8::7]:1");
}

TEST(Address, IpStringDropsThePortAndBrackets) {
    EXPECT_EQ(Address::parse("127.0.0.9:8080")->ip_string(), "127.0.0.9");
    EXPECT_EQ(Address::parse("[::1]:8080")->ip_string(), "::1");
    EXPECT_EQ(Address::parse("unix:/tmp/x.sock")->ip_string(), "unix:/tmp/x.sock");
}

TEST(Address, ParsesUnixPaths) {
    auto a = Address::parse("unix:/tmp/dally.sock");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->family(), AF_UNIX);
    EXPECT_EQ(a->port(), 0);
    EXPECT_EQ(a->to_string(), "unix:/tmp/dally.sock");
    EXPECT_TRUE(a->is_loopback());
}

TEST(Address, ParsesAbstractUnixNames) {
    auto a = Address::parse("unix:@dally-name");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->family(), AF_UNIX);
    EXPECT_EQ(a->to_string(), "unix:@dally-name");
    EXPECT_NE(*a, *Address::parse("unix:/dally-name"));
}

TEST(Address, RejectsGarbage) {
    for (const char* text : {"1.2.3.4", "abc:80", "[::1]80", "1.2.3.4:99999", "", ":80",
                             "1.2.3.4:", "1.2.3.4:8a", "1.2.3.4:-1", "256.1.1.1:80", "::1:80",
                             "[::1]:", "[::1", "unix:", "localhost:80", "1.2.3.4:80 "}) {
        EXPECT_FALSE(Address::parse(text).ok()) << "accepted '" << text << "'";
    }
}

TEST(Address, ParsesBoundaryPorts) {
    EXPECT_EQ(Address::parse("1.2.3.4:0")->port(), 0);
    EXPECT_EQ(Address::parse("1.2.3.4:65535")->port(), 65535);
    EXPECT_FALSE(Address::parse("1.2.3.4:65536").ok());
}

TEST(Address, ToStringRoundTripsThroughParse) {
    for (const char* text : {"127.0.0.1:1", "10.1.2.3:65535", "[::1]:80", "[fe80::1]:443",
                             "unix:/run/x.sock", "unix:@abstract-name"}) {
        auto a = Address::parse(text);
        ASSERT_TRUE(a.ok()) << text;
        EXPECT_EQ(a->to_string(), text);
        auto b = Address::parse(a->to_string());
        ASSERT_TRUE(b.ok()) << text;
        EXPECT_EQ(*a, *b) << text;
    }
}

TEST(Address, IsLoopbackOnlyForLoopbackAddresses) {
    EXPECT_TRUE(Address::parse("127.0.0.1:1")->is_loopback());
    EXPECT_TRUE(Address::parse("127.200.3.4:1")->is_loopback());
    EXPECT_FALSE(Address::parse("10.0.0.1:1")->is_loopback());
    EXPECT_FALSE(Address::parse("128.0.0.1:1")->is_loopback());
    EXPECT_TRUE(Address::parse("[::1]:1")->is_loopback());
    EXPECT_FALSE(Address::parse("[::2]:1")->is_loopback());
    EXPECT_FALSE(Address().is_loopback());
}

TEST(Address, LoopbackHelpersBuildTheLoopbackAddresses) {
    Address v4 = Address::loopback_v4(1234);
    EXPECT_EQ(v4.family(), AF_INET);
    EXPECT_EQ(v4.to_string(), "127.0.0.1:1234");
    EXPECT_TRUE(v4.is_loopback());
    EXPECT_EQ(v4, *Address::parse("127.0.0.1:1234"));
    Address v6 = Address::loopback_v6(5);
    EXPECT_EQ(v6.family(), AF_INET6);
    EXPECT_EQ(v6.to_string(), "[::1]:5");
    EXPECT_EQ(v6, *Address::ip("::1", 5));
}

TEST(Address, DefaultIsUnspecified) {
    Address a;
    EXPECT_EQ(a.family(), AF_UNSPEC);
    EXPECT_EQ(a.port(), 0);
}

TEST(Address, IpTakesALiteralWithoutBrackets) {
    EXPECT_EQ(Address::ip("127.0.0.1", 9)->to_string(), "127.0.0.1:9");
    EXPECT_EQ(Address::ip("::1", 9)->to_string(), "[::1]:9");
    EXPECT_FALSE(Address::ip("[::1]", 9).ok());
    EXPECT_FALSE(Address::ip("example.com", 9).ok());
}

TEST(Address, UnixPathRejectsTooLongPaths) {
    EXPECT_FALSE(Address::unix_path(std::string(200, 'a')).ok());
    EXPECT_FALSE(Address::unix_path("").ok());
    EXPECT_TRUE(Address::unix_path("/tmp/ok.sock").ok());
}

// ---------------------------------------------------------------- TCP

TEST(TcpListener, BindToPortZeroPicksAPort) {
    auto l = dally::TcpListener::bind(Address::loopback_v4(0));
    ASSERT_TRUE(l.ok()) << l.error().message();
    EXPECT_TRUE(l->is_open());
    EXPECT_NE(l->port(), 0);
    auto local = l->local_address();
    ASSERT_TRUE(local.ok());
    EXPECT_EQ(local->port(), l->port());
    EXPECT_TRUE(local->is_loopback());
}

TEST(TcpListener, BindToAPortInUseFailsWithAnErrorValue) {
    auto a = dally::TcpListener::bind(Address::loopback_v4(0)).value();
    auto b = dally::TcpListener::bind(Address::loopback_v4(a.port()));
    ASSERT_FALSE(b.ok());
    EXPECT_EQ(b.error(), std::errc::address_in_use);
}

TEST(TcpListener, BindRejectsAUnixAddress) {
    auto l = dally::TcpListener::bind(*Address::parse("unix:@dally-not-tcp"));
    EXPECT_FALSE(l.ok());
}

struct Exchange {
    std::string server_got;
    std::string client_got;
    bool addresses_match = false;
};

Task<Exchange> exchange_over(Address listen_at) {
    auto listener = dally::TcpListener::bind(listen_at).value();
    Address target = listener.local_address().value();
    auto server = dally::spawn([](dally::TcpListener& l) -> Task<std::pair<std::string, Address>> {
        auto conn = co_await dally::timeout(5s, l.accept());
        if (!conn) co_return std::pair{"accept: " + conn.error().message(), Address()};
        std::string got = co_await recv_exactly(*conn, 4);
        (void)co_await conn->send_all(std::string_view("pong"));
        auto peer = conn->peer_address();
        co_return std::pair{got, peer ? *peer : Address()};
    }(listener));
    Exchange ex;
    auto client = co_await dally::timeout(5s, dally::TcpStream::connect(target));
    if (!client) {
        ex.client_got = "connect: " + client.error().message();
        (void)co_await server;
        co_return ex;
    }
    (void)co_await client->send_all(std::string_view("ping"));
    ex.client_got = co_await recv_exactly(*client, 4);
    auto [got, peer] = co_await server;
    ex.server_got = got;
    ex.addresses_match = client->local_address().ok() && peer == *client->local_address() &&
                         *client->peer_address() == target;
    co_return ex;
}

TEST(TcpStream, ConnectAcceptSendAndRecvOverIpv4Loopback) {
    Runtime rt;
    Exchange ex = rt.block_on(exchange_over(Address::loopback_v4(0)));
    EXPECT_EQ(ex.server_got, "ping");
    EXPECT_EQ(ex.client_got, "pong");
    EXPECT_TRUE(ex.addresses_match);
}

TEST(TcpStream, ConnectAcceptSendAndRecvOverIpv6Loopback) {
    auto probe = dally::TcpListener::bind(Address::loopback_v6(0));
    if (!probe) {
        GTEST_SKIP() << "IPv6 loopback is unavailable here: binding [::1]:0 failed with "
                     << probe.error().message();
    }
    probe->close();
    Runtime rt;
    Exchange ex = rt.block_on(exchange_over(Address::loopback_v6(0)));
    EXPECT_EQ(ex.server_got, "ping");
    EXPECT_EQ(ex.client_got, "pong");
    EXPECT_TRUE(ex.addresses_match);
}

// A connected loopback TCP pair: {client, server side}.
Task<std::pair<dally::TcpStream, dally::TcpStream>> tcp_pair() {
    auto listener = dally::TcpListener::bind(Address::loopback_v4(0)).value();
    auto client = co_await dally::timeout(
        5s, dally::TcpStream::connect(Address::loopback_v4(listener.port())));
    auto server = co_await dally::timeout(5s, listener.accept());
    co_return std::pair{std::move(client).value(), std::move(server).value()};
}

std::byte pattern(std::size_t i) { return static_cast<std::byte>((i * 31 + 7) % 251); }

TEST(TcpStream, SendAllOf8MiBArrivesIntactWhileThePeerReadsConcurrently) {
    constexpr std::size_t size = 8u << 20;
    Runtime rt;
    auto [sent, received, mismatch_at] =
        rt.block_on([]() -> Task<std::tuple<std::size_t, std::size_t, long long>> {
            auto [client, server] = co_await tcp_pair();
            auto reader =
                dally::spawn([](dally::TcpStream& s) -> Task<std::pair<std::size_t, long long>> {
                    std::vector<std::byte> buf(64 * 1024);
                    std::size_t total = 0;
                    long long mismatch = -1;
                    for (;;) {
                        auto n = co_await dally::timeout(10s, s.recv(buf));
                        if (!n || *n == 0) break;
                        for (std::size_t i = 0; i < *n && mismatch < 0; ++i) {
                            if (buf[i] != pattern(total + i))
                                mismatch = static_cast<long long>(total + i);
                        }
                        total += *n;
                    }
                    co_return std::pair{total, mismatch};
                }(server));
            std::vector<std::byte> data(size);
            for (std::size_t i = 0; i < size; ++i) data[i] = pattern(i);
            auto r = co_await client.send_all(data);
            (void)co_await client.shutdown(dally::Shutdown::write);
            auto [total, mismatch] = co_await reader;
            co_return std::tuple{r ? *r : r.partial(), total, mismatch};
        }());
    EXPECT_EQ(sent, size);
    EXPECT_EQ(received, size);
    EXPECT_EQ(mismatch_at, -1) << "first corrupted byte";
}

TEST(TcpStream, RecvReturnsZeroWhenThePeerCloses) {
    Runtime rt;
    auto r = rt.block_on([]() -> Task<dally::Result<std::size_t>> {
        auto [client, server] = co_await tcp_pair();
        server = dally::TcpStream();
        char buf[16];
        co_return co_await dally::timeout(5s, client.recv(buf));
    }());
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(*r, 0U);
}

TEST(TcpStream, ShutdownWriteMakesThePeersRecvReturnZeroAndKeepsTheOtherDirection) {
    Runtime rt;
    auto [shut_ok, peer_eof, reply] =
        rt.block_on([]() -> Task<std::tuple<bool, bool, std::string>> {
            auto [client, server] = co_await tcp_pair();
            auto shut = co_await client.shutdown(dally::Shutdown::write);
            char buf[16];
            auto eof = co_await dally::timeout(5s, server.recv(buf));
            // Half-closed: the server can still answer and the client still reads.
            (void)co_await server.send_all(std::string_view("bye"));
            std::string reply = co_await recv_exactly(client, 3);
            co_return std::tuple{shut.ok(), eof.ok() && *eof == 0, reply};
        }());
    EXPECT_TRUE(shut_ok);
    EXPECT_TRUE(peer_eof);
    EXPECT_EQ(reply, "bye");
}

TEST(TcpStream, CoAwaitCloseClosesTheStreamAndThePeerSeesEndOfStream) {
    Runtime rt;
    auto [was_open, open_after, close_ok, peer_eof] =
        rt.block_on([]() -> Task<std::tuple<bool, bool, bool, bool>> {
            auto [client, server] = co_await tcp_pair();
            bool was_open = client.is_open();
            auto closing = client.close();
            bool open_after = client.is_open();  // closed from the call on
            auto closed = co_await closing;
            char buf[8];
            auto eof = co_await dally::timeout(5s, server.recv(buf));
            co_return std::tuple{was_open, open_after, closed.ok(), eof.ok() && *eof == 0};
        }());
    EXPECT_TRUE(was_open);
    EXPECT_FALSE(open_after);
    EXPECT_TRUE(close_ok);
    EXPECT_TRUE(peer_eof);
}

TEST(TcpStream, ConnectToAClosedPortReturnsConnectionRefused) {
    std::uint16_t port = 0;
    {
        auto l = dally::TcpListener::bind(Address::loopback_v4(0)).value();
        port = l.port();
    }  // closed: nothing listens on `port` now
    Runtime rt;
    auto r = rt.block_on([](std::uint16_t port) -> Task<dally::Result<dally::TcpStream>> {
        co_return co_await dally::timeout(5s,
                                          dally::TcpStream::connect(Address::loopback_v4(port)));
    }(port));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), std::errc::connection_refused) << r.error().message();
}

TEST(TcpStream, SendToAClosedPeerReturnsAnErrorInsteadOfRaisingSigpipe) {
    Runtime rt;
    auto r = rt.block_on([]() -> Task<dally::Result<std::size_t>> {
        auto [client, server] = co_await tcp_pair();
        server = dally::TcpStream();
        std::vector<char> data(64 * 1024, 'x');
        // The first sends may still be accepted; the peer's RST then fails the next ones.
        dally::Result<std::size_t> r = std::size_t{0};
        for (int i = 0; i < 100 && r.ok(); ++i) {
            r = co_await dally::timeout(5s, client.send(data));
            if (r.ok()) (void)co_await dally::sleep_for(1ms);
        }
        co_return r;
    }());
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.error() == std::errc::broken_pipe || r.error() == std::errc::connection_reset)
        << r.error().message();
}

TEST(TcpStream, SetNodelayTogglesTcpNodelay) {
    Runtime rt;
    auto [on_ok, on, off_ok, off] = rt.block_on([]() -> Task<std::tuple<bool, int, bool, int>> {
        auto [client, server] = co_await tcp_pair();
        auto get = [&client] {
            int v = -1;
            socklen_t len = sizeof v;
            ::getsockopt(client.fd(), IPPROTO_TCP, TCP_NODELAY, &v, &len);
            return v;
        };
        auto a = client.set_nodelay(true);
        int on = get();
        auto b = client.set_nodelay(false);
        int off = get();
        co_return std::tuple{a.ok(), on, b.ok(), off};
    }());
    EXPECT_TRUE(on_ok);
    EXPECT_NE(on, 0);
    EXPECT_TRUE(off_ok);
    EXPECT_EQ(off, 0);
}

// ---------------------------------------------------------------- many connections

Task<void> echo_session(dally::TcpStream conn) {
    char buf[1024];
    for (;;) {
        auto n = co_await dally::timeout(10s, conn.recv(buf));
        if (!n || *n == 0) co_return;
        auto sent = co_await conn.send_all(std::span<const char>(buf, *n));
        if (!sent) co_return;
    }
}

Task<int> accept_n(dally::TcpListener& l, int n) {
    int accepted = 0;
    while (accepted < n) {
        auto conn = co_await dally::timeout(10s, l.accept());
        if (!conn) break;
        ++accepted;
        (void)dally::spawn(echo_session(std::move(*conn)));
    }
    co_return accepted;
}

Task<bool> echo_client(Address to, int i) {
    auto c = co_await dally::timeout(10s, dally::TcpStream::connect(to));
    if (!c) co_return false;
    std::string msg = "client " + std::to_string(i) + " says hello";
    auto sent = co_await c->send_all(std::span<const char>(msg));
    if (!sent) co_return false;
    co_return co_await recv_exactly(*c, msg.size()) == msg;
}

TEST(TcpListener, TwoHundredConcurrentConnectionsEchoThroughOneListener) {
    constexpr int clients = 200;
    Runtime rt;
    auto [accepted, ok] = rt.block_on([]() -> Task<std::pair<int, int>> {
        auto listener = dally::TcpListener::bind(Address::loopback_v4(0)).value();
        auto server = dally::spawn(accept_n(listener, clients));
        std::vector<dally::JoinHandle<bool>> hs;
        for (int i = 0; i < clients; ++i) {
            hs.push_back(dally::spawn(echo_client(Address::loopback_v4(listener.port()), i)));
        }
        int ok = 0;
        for (auto& h : hs) ok += (co_await h) ? 1 : 0;
        int accepted = co_await server;
        co_return std::pair{accepted, ok};
    }());
    EXPECT_EQ(accepted, clients);
    EXPECT_EQ(ok, clients);
}

// ---------------------------------------------------------------- listener lifetime

TEST(TcpListener, ListenerDestroyedWhileItsMultishotAcceptIsArmedFreesThePort) {
    Runtime rt;
    auto [first, rebind, second] = rt.block_on([]() -> Task<std::tuple<bool, std::string, bool>> {
        auto l = dally::TcpListener::bind(Address::loopback_v4(0)).value();
        const std::uint16_t port = l.port();
        auto c1 =
            co_await dally::timeout(5s, dally::TcpStream::connect(Address::loopback_v4(port)));
        auto a1 = co_await l.accept();  // arms the multishot accept, which stays armed
        bool first = c1.ok() && a1.ok();
        l = dally::TcpListener();  // destroyed while armed
        auto l2 = dally::TcpListener::bind(Address::loopback_v4(port));
        if (!l2) co_return std::tuple{first, l2.error().message(), false};
        auto c2 =
            co_await dally::timeout(5s, dally::TcpStream::connect(Address::loopback_v4(port)));
        auto a2 = co_await dally::timeout(5s, l2->accept());
        co_return std::tuple{first, std::string("ok"), c2.ok() && a2.ok()};
    }());
    EXPECT_TRUE(first);
    EXPECT_EQ(rebind, "ok") << "binding the port again right after the listener was destroyed";
    EXPECT_TRUE(second);
}

TEST(TcpListener, ListenerClosedWhileArmedIsFreedAfterTheLoopRuns) {
    // The same as above but lets the ring complete the cancelled accept before rebinding, and
    // with nobody waiting: ASan checks the orphaned accept state is freed exactly once.
    Runtime rt;
    auto [rebind, second] = rt.block_on([]() -> Task<std::pair<std::string, bool>> {
        auto l = dally::TcpListener::bind(Address::loopback_v4(0)).value();
        const std::uint16_t port = l.port();
        auto c1 =
            co_await dally::timeout(5s, dally::TcpStream::connect(Address::loopback_v4(port)));
        (void)co_await l.accept();
        l.close();
        EXPECT_FALSE(l.is_open());
        (void)co_await dally::sleep_for(20ms);
        auto l2 = dally::TcpListener::bind(Address::loopback_v4(port));
        if (!l2) co_return std::pair{l2.error().message(), false};
        auto c2 =
            co_await dally::timeout(5s, dally::TcpStream::connect(Address::loopback_v4(port)));
        auto a2 = co_await dally::timeout(5s, l2->accept());
        co_return std::pair{std::string("ok"), c2.ok() && a2.ok()};
    }());
    EXPECT_EQ(rebind, "ok");
    EXPECT_TRUE(second);
}

TEST(TcpListener, ClosingAListenerClosesConnectionsAcceptedButNotTaken) {
    Runtime rt;
    auto [eof1, eof2] = rt.block_on([]() -> Task<std::pair<bool, bool>> {
        auto l = dally::TcpListener::bind(Address::loopback_v4(0)).value();
        const Address at = Address::loopback_v4(l.port());
        auto c0 = co_await dally::timeout(5s, dally::TcpStream::connect(at));
        (void)co_await l.accept();  // arm the multishot accept
        auto c1 = co_await dally::timeout(5s, dally::TcpStream::connect(at));
        auto c2 = co_await dally::timeout(5s, dally::TcpStream::connect(at));
        (void)co_await dally::sleep_for(20ms);  // the multishot takes both into the listener
        l.close();
        char buf[8];
        auto r1 = co_await dally::timeout(5s, c1->recv(buf));
        auto r2 = co_await dally::timeout(5s, c2->recv(buf));
        // EOF, or a reset: either way the connection was closed, not left hanging.
        auto closed = [](const dally::Result<std::size_t>& r) {
            return (r.ok() && r.partial() == 0) || r.error() == std::errc::connection_reset;
        };
        co_return std::pair{closed(r1), closed(r2)};
    }());
    EXPECT_TRUE(eof1);
    EXPECT_TRUE(eof2);
}

TEST(TcpListener, AcceptWithTimeoutReturnsTimedOutWhenNobodyConnects) {
    Runtime rt;
    auto [timed_out, elapsed, later] = rt.block_on([]() -> Task<std::tuple<bool, long long, bool>> {
        auto l = dally::TcpListener::bind(Address::loopback_v4(0)).value();
        auto t0 = dally::Clock::now();
        auto r = co_await dally::timeout(100ms, l.accept());
        long long elapsed = ms_since(t0);
        // The listener still works after a timed-out accept.
        auto c =
            co_await dally::timeout(5s, dally::TcpStream::connect(Address::loopback_v4(l.port())));
        auto a = co_await dally::timeout(5s, l.accept());
        co_return std::tuple{r.timed_out(), elapsed, c.ok() && a.ok()};
    }());
    EXPECT_TRUE(timed_out);
    EXPECT_GE(elapsed, 95);
    EXPECT_LT(elapsed, 500 * slowdown);
    EXPECT_TRUE(later);
}

// ---------------------------------------------------------------- Unix sockets

Task<std::pair<std::string, std::string>> unix_exchange(Address at) {
    auto listener = dally::UnixListener::bind(at);
    if (!listener) co_return std::pair{"bind: " + listener.error().message(), std::string()};
    auto server = dally::spawn([](dally::UnixListener& l) -> Task<std::string> {
        auto conn = co_await dally::timeout(5s, l.accept());
        if (!conn) co_return "accept: " + conn.error().message();
        std::string got = co_await recv_exactly(*conn, 5);
        (void)co_await conn->send_all(std::string_view("world"));
        co_return got;
    }(*listener));
    auto client = co_await dally::timeout(5s, dally::UnixStream::connect(at));
    if (!client) {
        (void)co_await server;
        co_return std::pair{std::string(), "connect: " + client.error().message()};
    }
    (void)co_await client->send_all(std::string_view("hello"));
    std::string reply = co_await recv_exactly(*client, 5);
    co_return std::pair{co_await server, reply};
}

TEST(UnixStream, ListenerAndStreamRoundTripOnATempPath) {
    char dir[] = "/tmp/dally-net-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    const std::string path = std::string(dir) + "/echo.sock";
    auto at = Address::parse("unix:" + path);
    ASSERT_TRUE(at.ok());
    Runtime rt;
    auto [server_got, client_got] = rt.block_on(unix_exchange(*at));
    ::unlink(path.c_str());
    ::rmdir(dir);
    EXPECT_EQ(server_got, "hello");
    EXPECT_EQ(client_got, "world");
}

TEST(UnixStream, ListenerAndStreamRoundTripOnAnAbstractName) {
    auto at = Address::parse("unix:@dally-net-test-" + std::to_string(::getpid()));
    ASSERT_TRUE(at.ok());
    Runtime rt;
    auto [server_got, client_got] = rt.block_on(unix_exchange(*at));
    EXPECT_EQ(server_got, "hello");
    EXPECT_EQ(client_got, "world");
}

TEST(UnixStream, PairIsConnectedBothWays) {
    Runtime rt;
    auto [ab, ba] = rt.block_on([]() -> Task<std::pair<std::string, std::string>> {
        auto [a, b] = dally::UnixStream::pair().value();
        EXPECT_TRUE(a.is_open());
        EXPECT_TRUE(b.is_open());
        (void)co_await a.send_all(std::string_view("a->b"));
        (void)co_await b.send_all(std::string_view("b->a"));
        std::string ab = co_await recv_exactly(b, 4);
        std::string ba = co_await recv_exactly(a, 4);
        co_return std::pair{ab, ba};
    }());
    EXPECT_EQ(ab, "a->b");
    EXPECT_EQ(ba, "b->a");
}

TEST(UnixListener, BindRejectsAnIpAddress) {
    EXPECT_FALSE(dally::UnixListener::bind(Address::loopback_v4(0)).ok());
}

TEST(Stream, ReleaseGivesUpTheDescriptor) {
    auto [a, b] = dally::UnixStream::pair().value();
    int fd = a.release();
    EXPECT_FALSE(a.is_open());
    EXPECT_EQ(a.fd(), -1);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::close(fd), 0) << "the descriptor must still be open after release()";
}

}  // namespace
