// Tests for dally/time.hpp: sleep_for, sleep_until, timeout() and deadline() on I/O.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <dally/net.hpp>
#include <dally/runtime.hpp>
#include <dally/time.hpp>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using dally::Runtime;
using dally::Task;
using dally_test::ms_since;
using dally_test::slowdown;

// A connected loopback TCP pair: {client, server side}.
Task<std::pair<dally::TcpStream, dally::TcpStream>> tcp_pair() {
    auto listener = dally::TcpListener::bind(dally::Address::loopback_v4(0)).value();
    auto client = co_await dally::timeout(
        5s, dally::TcpStream::connect(dally::Address::loopback_v4(listener.port())));
    auto server = co_await dally::timeout(5s, listener.accept());
    co_return std::pair{std::move(client).value(), std::move(server).value()};
}

// ---------------------------------------------------------------- sleeping

TEST(Time, SleepForWaitsAtLeastTheDurationAndNotMuchLonger) {
    Runtime rt;
    auto [ok, elapsed] = rt.block_on([]() -> Task<std::pair<bool, long long>> {
        auto t0 = dally::Clock::now();
        auto r = co_await dally::sleep_for(50ms);
        co_return std::pair{r.ok(), ms_since(t0)};
    }());
    EXPECT_TRUE(ok);
    EXPECT_GE(elapsed, 50);
    EXPECT_LT(elapsed, 50 + 1000 * slowdown);
}

TEST(Time, SleepUntilWaitsUntilTheTimePoint) {
    Runtime rt;
    auto [ok, late_ms] = rt.block_on([]() -> Task<std::pair<bool, long long>> {
        auto target = dally::Clock::now() + 40ms;
        auto r = co_await dally::sleep_until(target);
        auto now = dally::Clock::now();
        co_return std::pair{
            r.ok(), std::chrono::duration_cast<std::chrono::milliseconds>(now - target).count()};
    }());
    EXPECT_TRUE(ok);
    EXPECT_GE(late_ms, 0) << "woke before the time point";
    EXPECT_LT(late_ms, 1000 * slowdown);
}

TEST(Time, SleepUntilAPastTimeReturnsAtOnce) {
    Runtime rt;
    auto [ok, elapsed] = rt.block_on([]() -> Task<std::pair<bool, long long>> {
        auto t0 = dally::Clock::now();
        auto r = co_await dally::sleep_until(t0 - 1s);
        co_return std::pair{r.ok(), ms_since(t0)};
    }());
    EXPECT_TRUE(ok);
    EXPECT_LT(elapsed, 500 * slowdown);
}

TEST(Time, SleepForZeroOrNegativeReturnsOk) {
    Runtime rt;
    auto [zero, negative, elapsed] = rt.block_on([]() -> Task<std::tuple<bool, bool, long long>> {
        auto t0 = dally::Clock::now();
        auto a = co_await dally::sleep_for(0ms);
        auto b = co_await dally::sleep_for(-5ms);
        co_return std::tuple{a.ok(), b.ok(), ms_since(t0)};
    }());
    EXPECT_TRUE(zero);
    EXPECT_TRUE(negative);
    EXPECT_LT(elapsed, 500 * slowdown);
}

TEST(Time, ConcurrentSleepsWakeInDeadlineOrder) {
    Runtime rt;
    std::vector<int> order = rt.block_on([]() -> Task<std::vector<int>> {
        std::vector<int> order;
        auto sleeper = [](std::vector<int>& order, int ms) -> Task<void> {
            (void)co_await dally::sleep_for(std::chrono::milliseconds(ms));
            order.push_back(ms);
        };
        auto a = dally::spawn(sleeper(order, 60));
        auto b = dally::spawn(sleeper(order, 20));
        auto c = dally::spawn(sleeper(order, 40));
        co_await a;
        co_await b;
        co_await c;
        co_return order;
    }());
    EXPECT_EQ(order, (std::vector<int>{20, 40, 60}));
}

// ---------------------------------------------------------------- timeouts on recv

TEST(Time, TimeoutOnARecvFromAUnixPeerThatNeverSendsReturnsTimedOutAndTheStreamStillWorks) {
    Runtime rt;
    auto [timed_out, elapsed, later] =
        rt.block_on([]() -> Task<std::tuple<bool, long long, std::string>> {
            auto [left, right] = dally::UnixStream::pair().value();
            char buf[64];
            auto t0 = dally::Clock::now();
            auto r = co_await dally::timeout(200ms, left.recv(buf));
            const long long elapsed = ms_since(t0);
            // The stream is still usable: data sent after the timeout arrives.
            (void)co_await right.send_all(std::string_view("after"));
            auto again = co_await dally::timeout(5s, left.recv(buf));
            co_return std::tuple{r.timed_out(), elapsed,
                                 again ? std::string(buf, *again) : again.error().message()};
        }());
    EXPECT_TRUE(timed_out);
    EXPECT_GE(elapsed, 190);
    EXPECT_LT(elapsed, 1000 * slowdown);
    EXPECT_EQ(later, "after");
}

TEST(Time, TimeoutOnARecvFromALoopbackPeerThatNeverSendsReturnsTimedOutPromptly) {
    Runtime rt;
    auto [timed_out, partial, elapsed, later] =
        rt.block_on([]() -> Task<std::tuple<bool, std::size_t, long long, std::string>> {
            auto [client, server] = co_await tcp_pair();
            char buf[64];
            auto t0 = dally::Clock::now();
            auto r = co_await dally::timeout(200ms, client.recv(buf));
            const long long elapsed = ms_since(t0);
            (void)co_await server.send_all(std::string_view("late data"));
            auto again = co_await dally::timeout(5s, client.recv(buf));
            co_return std::tuple{r.timed_out(), r.partial(), elapsed,
                                 again ? std::string(buf, *again) : again.error().message()};
        }());
    EXPECT_TRUE(timed_out);
    EXPECT_EQ(partial, 0U);
    EXPECT_GE(elapsed, 190);
    EXPECT_LT(elapsed, 1000 * slowdown);  // 5x the timeout
    EXPECT_EQ(later, "late data");
}

TEST(Time, DeadlineOnARecvReturnsTimedOutAtTheTimePoint) {
    Runtime rt;
    auto [timed_out, elapsed] = rt.block_on([]() -> Task<std::pair<bool, long long>> {
        auto [left, right] = dally::UnixStream::pair().value();
        char buf[8];
        auto t0 = dally::Clock::now();
        auto r = co_await dally::deadline(t0 + 100ms, left.recv(buf));
        co_return std::pair{r.timed_out(), ms_since(t0)};
    }());
    EXPECT_TRUE(timed_out);
    EXPECT_GE(elapsed, 95);
    EXPECT_LT(elapsed, 500 * slowdown);
}

TEST(Time, TimeoutOnAnOperationThatCompletesInTimeDoesNotFire) {
    Runtime rt;
    auto [first, second] = rt.block_on([]() -> Task<std::pair<std::string, std::string>> {
        auto [left, right] = dally::UnixStream::pair().value();
        (void)co_await right.send_all(std::string_view("ready"));
        char buf[64];
        auto r = co_await dally::timeout(50ms, left.recv(buf));
        std::string first = r ? std::string(buf, *r) : r.error().message();
        // Outlive the deadline: a stray timer must not disturb later operations.
        (void)co_await dally::sleep_for(100ms);
        (void)co_await right.send_all(std::string_view("again"));
        auto r2 = co_await dally::timeout(5s, left.recv(buf));
        co_return std::pair{first, r2 ? std::string(buf, *r2) : r2.error().message()};
    }());
    EXPECT_EQ(first, "ready");
    EXPECT_EQ(second, "again");
}

TEST(Time, TimeoutOnARecvThatGetsDataBeforeTheDeadlineReturnsTheData) {
    Runtime rt;
    std::string got = rt.block_on([]() -> Task<std::string> {
        auto [left, right] = dally::UnixStream::pair().value();
        auto writer = dally::spawn([](dally::UnixStream& s) -> Task<void> {
            (void)co_await dally::sleep_for(20ms);
            (void)co_await s.send_all(std::string_view("in time"));
        }(right));
        char buf[64];
        auto r = co_await dally::timeout(5s, left.recv(buf));
        co_await writer;
        co_return r ? std::string(buf, *r) : r.error().message();
    }());
    EXPECT_EQ(got, "in time");
}

// ---------------------------------------------------------------- timeout on connect

// Opens non-blocking connections to `port` until one does not complete within 200 ms (the
// listener's accept queue is full and the kernel drops further SYNs). Returns the sockets.
std::vector<int> fill_accept_queue(std::uint16_t port, bool& full) {
    std::vector<int> fds;
    full = false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < 64 && !full; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) break;
        fds.push_back(fd);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) continue;
        if (errno != EINPROGRESS) break;
        pollfd p{fd, POLLOUT, 0};
        if (::poll(&p, 1, 200) == 0) full = true;
    }
    return fds;
}

TEST(Time, TimeoutOnAConnectToALoopbackListenerWhoseBacklogIsFullReturnsTimedOut) {
    auto listener = dally::TcpListener::bind(dally::Address::loopback_v4(0), {.backlog = 1});
    ASSERT_TRUE(listener.ok()) << listener.error().message();
    const std::uint16_t port = listener->port();
    bool full = false;
    std::vector<int> fillers = fill_accept_queue(port, full);
    if (!full) {
        for (int fd : fillers) ::close(fd);
        GTEST_SKIP() << "the kernel completed 64 connects to a listener with backlog 1 that "
                        "never accepts, so a connect cannot be made to hang here";
    }

    Runtime rt;
    auto [timed_out, connected, error, elapsed] =
        rt.block_on([](std::uint16_t port) -> Task<std::tuple<bool, bool, std::string, long long>> {
            auto t0 = dally::Clock::now();
            auto c = co_await dally::timeout(
                300ms, dally::TcpStream::connect(dally::Address::loopback_v4(port)));
            co_return std::tuple{c.timed_out(), c.ok(), c.ok() ? "" : c.error().message(),
                                 ms_since(t0)};
        }(port));
    for (int fd : fillers) ::close(fd);
    if (connected) {
        GTEST_SKIP() << "the kernel completed a connect to a full accept queue (SYN cookies or "
                        "a queue quirk), so the timeout cannot be observed here";
    }
    EXPECT_TRUE(timed_out) << "error instead: " << error;
    EXPECT_GE(elapsed, 290);
    EXPECT_LT(elapsed, 1500 * slowdown);
}

// ---------------------------------------------------------------- timeout on send_all

TEST(Time, TimeoutOnSendAllToAPeerThatDoesNotReadReturnsTimedOutWithPartialBytes) {
    Runtime rt;
    constexpr std::size_t size = 64u << 20;  // far beyond any socket buffer
    auto [timed_out, partial, elapsed] =
        rt.block_on([]() -> Task<std::tuple<bool, std::size_t, long long>> {
            auto [client, server] = co_await tcp_pair();
            std::vector<char> data(size, 'x');
            auto t0 = dally::Clock::now();
            auto r = co_await dally::timeout(300ms, client.send_all(data));
            co_return std::tuple{r.timed_out(), r.partial(), ms_since(t0)};
        }());
    EXPECT_TRUE(timed_out);
    EXPECT_GT(partial, 0U);
    EXPECT_LT(partial, size);
    EXPECT_GE(elapsed, 290);
    EXPECT_LT(elapsed, 1500 * slowdown);
}

TEST(Time, TimeoutOnSendAllOverAUnixPairReportsHowMuchWentOut) {
    Runtime rt;
    constexpr std::size_t size = 16u << 20;
    auto [timed_out, partial, drained] =
        rt.block_on([]() -> Task<std::tuple<bool, std::size_t, std::size_t>> {
            auto [left, right] = dally::UnixStream::pair().value();
            std::vector<char> data(size, 'y');
            auto r = co_await dally::timeout(200ms, left.send_all(data));
            left = dally::UnixStream();  // close: the reader sees EOF after the sent bytes
            std::size_t drained = 0;
            std::vector<char> buf(1 << 16);
            for (;;) {
                auto n = co_await dally::timeout(5s, right.recv(buf));
                if (!n || *n == 0) break;
                drained += *n;
            }
            co_return std::tuple{r.timed_out(), r.partial(), drained};
        }());
    EXPECT_TRUE(timed_out);
    EXPECT_GT(partial, 0U);
    EXPECT_LT(partial, size);
    EXPECT_EQ(drained, partial) << "partial() must equal the bytes the peer can read";
}

}  // namespace
