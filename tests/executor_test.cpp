// Tests for dally/executor.hpp: threading modes, run/start/stop/join, and an echo server with
// one SO_REUSEPORT listener per runtime.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <dally/executor.hpp>
#include <dally/net.hpp>
#include <dally/time.hpp>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using dally::Executor;
using dally::Runtime;
using dally::Task;
using dally::Threading;
using dally_test::ms_since;
using dally_test::ready_within;

struct Tracker {
    std::atomic<int>* destroyed;
    explicit Tracker(std::atomic<int>* d) noexcept : destroyed(d) {}
    Tracker(Tracker&& o) noexcept : destroyed(std::exchange(o.destroyed, nullptr)) {}
    Tracker& operator=(Tracker&&) = delete;
    ~Tracker() {
        if (destroyed != nullptr) destroyed->fetch_add(1);
    }
};

Task<void> nothing() { co_return; }

Task<void> sleep_an_hour(Tracker t, std::atomic<int>& started) {
    started.fetch_add(1);
    (void)co_await dally::sleep_for(1h);
    (void)t;
}

// Waits (bounded) until `pred` holds; true if it did.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 10s) {
    auto deadline = dally::Clock::now() + limit * dally_test::slowdown;
    while (!pred()) {
        if (dally::Clock::now() > deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

// ---------------------------------------------------------------- Threading

TEST(Threading, ModesHaveTheDocumentedRuntimeCounts) {
    const unsigned cores = std::max(1U, std::thread::hardware_concurrency());
    EXPECT_EQ(Threading::single().count(), 1U);
    EXPECT_EQ(Threading::multi(1).count(), 1U);
    EXPECT_EQ(Threading::multi(3).count(), 3U);
    EXPECT_EQ(Threading::automatic().count(), std::max(1U, cores / 2));
    EXPECT_EQ(Threading::all().count(), cores);
}

TEST(Threading, ParsesTheCommandLineFormAndRejectsTheRest) {
    const unsigned cores = std::max(1U, std::thread::hardware_concurrency());
    EXPECT_EQ(Threading::parse("single")->count(), 1U);
    EXPECT_EQ(Threading::parse("auto")->count(), std::max(1U, cores / 2));
    EXPECT_EQ(Threading::parse("all")->count(), cores);
    EXPECT_EQ(Threading::parse("3")->count(), 3U);
    for (auto bad : {"", "0", "3x", "-1", "many", "1025", " 2"}) EXPECT_FALSE(Threading::parse(bad)) << bad;
}

TEST(Executor, SizeIsTheThreadingCount) {
    EXPECT_EQ(Executor({.threading = Threading::multi(3)}).size(), 3U);
    EXPECT_EQ(Executor().size(), 1U);  // default: single
}

// ---------------------------------------------------------------- run

Task<void> child(std::atomic<int>& done, int i) {
    (void)co_await dally::sleep_for(std::chrono::milliseconds(2 * i));
    if (i % 2 == 0) {
        (void)dally::spawn([](std::atomic<int>& done) -> Task<void> {
            (void)co_await dally::sleep_for(10ms);
            done.fetch_add(1);
        }(done));
    }
    done.fetch_add(1);
}

Task<void> spawn_children(std::atomic<int>& done) {
    for (int i = 0; i < 10; ++i) (void)dally::spawn(child(done, i));
    done.fetch_add(1);
    co_return;
}

TEST(Executor, RunReturnsOnlyWhenEveryTaskHasFinished) {
    Executor ex({.threading = Threading::multi(2)});
    std::atomic<int> done{0};
    ex.run([&done](Runtime&) { return spawn_children(done); });
    // Per runtime: the entry, 10 children, 5 grandchildren spawned after a sleep.
    EXPECT_EQ(done.load(), 2 * 16);
}

TEST(Executor, EntryRunsOnceOnEveryRuntimeOnItsOwnThread) {
    constexpr unsigned n = 3;
    Executor ex({.threading = Threading::multi(n)});
    std::mutex m;
    std::vector<Runtime*> params;
    std::set<Runtime*> currents;
    std::set<std::thread::id> threads;
    int mismatches = 0;
    // A capturing coroutine lambda as the entry, as in the header's example.
    ex.run([&](Runtime& rt) -> Task<void> {
        (void)co_await dally::sleep_for(1ms);
        std::lock_guard lock(m);
        params.push_back(&rt);
        currents.insert(Runtime::current());
        threads.insert(std::this_thread::get_id());
        if (Runtime::current() != &rt) ++mismatches;
    });
    EXPECT_EQ(params.size(), n);
    EXPECT_EQ(std::set<Runtime*>(params.begin(), params.end()).size(), n);
    EXPECT_EQ(currents.size(), n);
    EXPECT_EQ(threads.size(), n);
    EXPECT_EQ(threads.count(std::this_thread::get_id()), 1U) << "run() hosts runtime 0 here";
    EXPECT_EQ(mismatches, 0);
}

TEST(Executor, CanRunAgainAfterRunReturned) {
    Executor ex({.threading = Threading::multi(2)});
    std::atomic<int> done{0};
    ex.run([&done](Runtime&) { return spawn_children(done); });
    ex.run([&done](Runtime&) { return spawn_children(done); });
    EXPECT_EQ(done.load(), 2 * 2 * 16);
}

TEST(Executor, StopFromInsideATaskMakesRunReturnAndDestroysLeftoverTasks) {
    Executor ex({.threading = Threading::multi(2)});
    std::atomic<int> order{0};
    std::atomic<int> started{0};
    std::atomic<int> destroyed{0};
    auto t0 = dally::Clock::now();
    ex.run([&](Runtime&) -> Task<void> {
        if (order.fetch_add(1) == 0) {
            // Let the other runtime start its hour-long sleep first.
            for (int i = 0; i < 5000 && started.load() == 0; ++i) {
                (void)co_await dally::sleep_for(1ms);
            }
            ex.stop();
        } else {
            co_await sleep_an_hour(Tracker(&destroyed), started);
        }
    });
    EXPECT_LT(ms_since(t0), 10'000 * dally_test::slowdown);
    EXPECT_EQ(started.load(), 1);
    EXPECT_EQ(destroyed.load(), 1);
}

// ---------------------------------------------------------------- start / stop / join

TEST(Executor, StartRunsUntilStopFromAForeignThreadAndJoinDestroysLeftoverTasks) {
    Executor ex({.threading = Threading::multi(2)});
    std::atomic<int> started{0};
    std::atomic<int> destroyed{0};
    ex.start([&](Runtime&) { return sleep_an_hour(Tracker(&destroyed), started); });
    ASSERT_TRUE(eventually([&] { return started.load() == 2; }));

    // Both runtimes accept work from this (foreign) thread while started.
    for (std::size_t i = 0; i < ex.size(); ++i) {
        Runtime* rt = &ex.runtime(i);
        auto f = rt->submit([rt] { return Runtime::current() == rt; });
        ASSERT_TRUE(ready_within(f, 10s));
        EXPECT_TRUE(f.get()) << "runtime " << i;
    }
    EXPECT_EQ(destroyed.load(), 0);

    std::thread stopper([&ex] { ex.stop(); });
    stopper.join();
    ex.join();
    EXPECT_EQ(destroyed.load(), 2);
}

TEST(Executor, StartStopAndJoinAllFromAnotherThread) {
    std::atomic<int> started{0};
    std::atomic<int> destroyed{0};
    std::atomic<bool> ok{false};
    std::thread controller([&] {
        Executor ex({.threading = Threading::multi(2)});
        ex.start([&](Runtime&) { return sleep_an_hour(Tracker(&destroyed), started); });
        bool all_started = eventually([&] { return started.load() == 2; });
        ex.stop();
        ex.join();
        ok.store(all_started);
    });
    controller.join();
    EXPECT_TRUE(ok.load());
    EXPECT_EQ(destroyed.load(), 2);
}

TEST(Executor, DestructorStopsAndJoinsAStartedExecutor) {
    std::atomic<int> started{0};
    std::atomic<int> destroyed{0};
    {
        Executor ex({.threading = Threading::multi(2)});
        ex.start([&](Runtime&) { return sleep_an_hour(Tracker(&destroyed), started); });
        ASSERT_TRUE(eventually([&] { return started.load() == 2; }));
    }
    EXPECT_EQ(destroyed.load(), 2);
}

TEST(Executor, StartingTwiceWithoutJoinThrowsLogicError) {
    Executor ex({.threading = Threading::multi(2)});
    ex.start([](Runtime&) { return nothing(); });
    EXPECT_THROW(ex.start([](Runtime&) { return nothing(); }), std::logic_error);
    ex.stop();
    ex.join();
}

TEST(Executor, StartsAndStopsCleanly100Times) {
    Executor ex({.threading = Threading::multi(2)});
    std::atomic<int> entries{0};
    for (int i = 0; i < 100; ++i) {
        ex.start([&entries](Runtime&) {
            entries.fetch_add(1);
            return nothing();
        });
        // start() returns once every runtime runs, so each entry has been made.
        ASSERT_EQ(entries.load(), 2 * (i + 1)) << "iteration " << i;
        ex.stop();
        ex.join();
    }
}

// ---------------------------------------------------------------- echo on every mode

// Picks a port free on 127.0.0.1 right now (someone could still take it before we bind).
std::uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    std::uint16_t port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
        port = ntohs(a.sin_port);
    }
    ::close(fd);
    return port;
}

// A blocking client with 5 s send/receive timeouts: sends `msg`, returns what comes back.
std::string echo_once(std::uint16_t port, const std::string& msg) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return "(socket failed)";
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string got;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        got = "(connect failed)";
    } else if (::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL) !=
               static_cast<ssize_t>(msg.size())) {
        got = "(send failed)";
    } else {
        char buf[256];
        while (got.size() < msg.size()) {
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) {
                got += "(recv ended)";
                break;
            }
            got.append(buf, static_cast<std::size_t>(n));
        }
    }
    ::close(fd);
    return got;
}

Task<void> echo_session(dally::TcpStream conn) {
    char buf[1024];
    for (;;) {
        auto n = co_await conn.recv(buf);
        if (!n || *n == 0) co_return;
        auto sent = co_await conn.send_all(std::span<const char>(buf, *n));
        if (!sent) co_return;
    }
}

struct EchoServer {
    std::atomic<int> listening{0};
    std::atomic<int> bind_failures{0};
    std::atomic<int> accepted{0};
};

Task<void> accept_loop(dally::TcpListener listener, EchoServer& srv) {
    for (;;) {
        auto conn = co_await listener.accept();
        if (!conn) co_return;
        srv.accepted.fetch_add(1);
        (void)dally::spawn(echo_session(std::move(*conn)));
    }
}

struct Mode {
    const char* name;
    Threading threading;
};

class ExecutorEcho : public ::testing::TestWithParam<Mode> {};

TEST_P(ExecutorEcho, EchoRoundTripOverLoopbackOnThisThreadingMode) {
    constexpr int connections = 16;
    Executor ex({.threading = GetParam().threading});
    EchoServer srv;
    std::uint16_t port = 0;
    // Every runtime binds its own SO_REUSEPORT listener in its entry; retry on a port race.
    for (int attempt = 0; attempt < 5; ++attempt) {
        port = free_port();
        ASSERT_NE(port, 0);
        srv.listening = 0;
        srv.bind_failures = 0;
        ex.start([&srv, port](Runtime&) -> Task<void> {
            auto l =
                dally::TcpListener::bind(dally::Address::loopback_v4(port), {.reuse_port = true});
            if (!l) {
                srv.bind_failures.fetch_add(1);
                return nothing();
            }
            srv.listening.fetch_add(1);
            return accept_loop(std::move(*l), srv);
        });
        if (srv.bind_failures.load() == 0) break;
        ex.stop();
        ex.join();
    }
    ASSERT_EQ(srv.bind_failures.load(), 0);
    ASSERT_EQ(static_cast<std::size_t>(srv.listening.load()), ex.size());

    for (int i = 0; i < connections; ++i) {
        std::string msg = "hello " + std::to_string(i) + " from " + GetParam().name;
        EXPECT_EQ(echo_once(port, msg), msg);
    }
    EXPECT_EQ(srv.accepted.load(), connections);
    ex.stop();
    ex.join();
}

INSTANTIATE_TEST_SUITE_P(
    Modes, ExecutorEcho,
    ::testing::Values(Mode{"single", Threading::single()}, Mode{"multi2", Threading::multi(2)},
                      Mode{"automatic", Threading::automatic()}, Mode{"all", Threading::all()}),
    [](const ::testing::TestParamInfo<Mode>& info) { return std::string(info.param.name); });

}  // namespace
