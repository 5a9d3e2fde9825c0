#include "backend/backend.hpp"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace dally::detail {
namespace {

std::atomic<bool> g_logged{false};

void log_choice(const Backend& b, const char* why) {
    if (!g_logged.exchange(true)) std::fprintf(stderr, "dally: backend %s (%s)\n", b.name(), why);
}

bool io_uring_disabled_by_sysctl() {
    std::ifstream f("/proc/sys/kernel/io_uring_disabled");
    int v = 0;
    return (f >> v) && v == 2;
}

}  // namespace

std::unique_ptr<Backend> make_backend(Runtime& rt, const RuntimeOptions& options) {
    const char* forced = std::getenv("DALLY_BACKEND");
    if (forced != nullptr && *forced != '\0') {
        std::unique_ptr<Backend> b;
        if (std::strcmp(forced, "io_uring") == 0) {
            b = make_io_uring_backend(rt, options);
        } else if (std::strcmp(forced, "epoll") == 0) {
            b = make_epoll_backend(rt, options);
        } else {
            throw std::invalid_argument(std::string("dally: DALLY_BACKEND=") + forced +
                                        " is not a backend; use io_uring or epoll");
        }
        log_choice(*b, "forced by DALLY_BACKEND");
        return b;
    }
    if (io_uring_disabled_by_sysctl()) {
        auto b = make_epoll_backend(rt, options);
        log_choice(*b, "io_uring disabled by /proc/sys/kernel/io_uring_disabled");
        return b;
    }
    try {
        auto b = make_io_uring_backend(rt, options);
        log_choice(*b, "default");
        return b;
    } catch (const std::system_error& e) {
        auto b = make_epoll_backend(rt, options);
        std::string why = std::string("io_uring unavailable: ") + e.what();
        log_choice(*b, why.c_str());
        return b;
    }
}

void deliver(Runtime& rt, Op& op, int res, std::uint32_t flags, bool more, bool link_timeout) {
    if (link_timeout) {
        if (res == -ETIME) op.timed_out = true;
    } else if (op.handler != nullptr) {
        op.handler(op, res, flags, more);
        return;
    } else if (op.step != nullptr && op.step(op, res)) {
        --op.pending;  // resubmitted: this completion was a step, not the end
        return;
    } else {
        op.res = res;
    }
    if (--op.pending != 0) return;
    if (op.root != nullptr && op.root->current_op == &op) op.root->current_op = nullptr;
    rt.schedule(op.waiter);
}

}  // namespace dally::detail
