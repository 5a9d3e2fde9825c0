// timers: sleeping, timeouts and cancellation.
//
// Shows: sleep_for, timeout() around a recv whose peer never sends (the operation is
// cancelled in the kernel at the deadline), and JoinHandle::cancel() stopping a sleeping
// task early.
//
//     timers
#include <dally/dally.hpp>

#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

namespace {

long ms_since(dally::Clock::time_point t0) {
    return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(dally::Clock::now() - t0).count());
}

dally::Task<void> demo() {
    auto t0 = dally::Clock::now();
    co_await dally::sleep_for(50ms);
    std::printf("slept %ld ms\n", ms_since(t0));

    auto [left, right] = dally::UnixStream::pair().value();
    char buf[64];
    t0 = dally::Clock::now();
    auto r = co_await dally::timeout(100ms, left.recv(buf));
    std::printf("recv: %s after %ld ms\n", r.timed_out() ? "timed out" : "data?", ms_since(t0));

    auto sleeper = dally::spawn([]() -> dally::Task<bool> {
        auto s = co_await dally::sleep_for(10s);
        co_return s.cancelled();
    }());
    co_await dally::sleep_for(20ms);
    t0 = dally::Clock::now();
    sleeper.cancel();
    bool cancelled = co_await sleeper;
    std::printf("10 s sleep cancelled: %s after %ld ms\n", cancelled ? "yes" : "no", ms_since(t0));
}

}  // namespace

int main() {
    dally::Runtime rt;
    rt.block_on(demo());
    return 0;
}
