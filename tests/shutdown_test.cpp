#include <dally/executor.hpp>
#include <dally/net.hpp>
#include <dally/runtime.hpp>
#include <dally/time.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace std::chrono_literals;
using dally::Task;

namespace {

struct Counted {
    std::atomic<int>* destroyed;
    ~Counted() { destroyed->fetch_add(1); }
};

// Suspended for good: half sleep an hour, half wait for data that never comes.
Task<void> in_flight(int i, dally::UnixStream& quiet, std::atomic<int>& started, std::atomic<int>& destroyed) {
    Counted c{&destroyed};
    std::vector<char> buf(64);  // heap memory owned by the frame: ASan sees a leak if it is lost
    started.fetch_add(1);
    if (i % 2 == 0) {
        (void)co_await dally::sleep_for(1h);
    } else {
        (void)co_await quiet.recv(buf);
    }
}

}  // namespace

TEST(Shutdown, TenThousandTasksInFlightShutDownWithinASecondAndLeakNothing) {
    constexpr int per_runtime = 5000;
    std::atomic<int> started{0};
    std::atomic<int> destroyed{0};
    // One quiet socket pair per runtime; many recvs wait on each.
    std::vector<std::pair<dally::UnixStream, dally::UnixStream>> pairs;
    for (int i = 0; i < 2; ++i) pairs.push_back(dally::UnixStream::pair().value());
    dally::Executor ex({.threading = dally::Threading::multi(2)});
    std::atomic<int> next{0};
    ex.start([&](dally::Runtime&) -> Task<void> {
        auto& quiet = pairs[static_cast<std::size_t>(next.fetch_add(1))].first;
        for (int i = 0; i < per_runtime; ++i) (void)dally::spawn(in_flight(i, quiet, started, destroyed));
        co_return;
    });
    auto deadline = std::chrono::steady_clock::now() + 20s * dally_test::slowdown;
    while (started.load() < 2 * per_runtime && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(1ms);
    }
    ASSERT_EQ(started.load(), 2 * per_runtime);
    std::this_thread::sleep_for(20ms);  // let every operation reach the kernel
    const auto t0 = std::chrono::steady_clock::now();
    ex.stop();
    ex.join();
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(took, 1s * dally_test::slowdown) << "shutdown took "
        << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
    EXPECT_EQ(destroyed.load(), 2 * per_runtime);
}
